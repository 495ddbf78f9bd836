#![no_main]
//! Fuzz target `vp_config`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::vp_config(data));
