#![no_main]
//! Fuzz target `av1_config`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::av1_config(data));
