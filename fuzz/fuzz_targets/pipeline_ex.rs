#![no_main]
//! Fuzz target `pipeline_ex`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::ertmp::pipeline_ex(data));
