#![no_main]
//! Fuzz target `amf0_decode`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::amf0_decode(data));
