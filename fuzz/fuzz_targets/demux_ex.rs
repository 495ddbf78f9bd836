#![no_main]
//! Fuzz target `demux_ex`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::ertmp::demux_ex(data));
