#![no_main]
//! Fuzz target `opus_head`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::opus_head(data));
