#![no_main]
//! Fuzz target `ex_header`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::ex_header(data));
