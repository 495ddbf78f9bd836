#![no_main]
//! Fuzz target `session_handshake`: see `fuzz/drivers.rs` for the input format.

#[path = "../drivers.rs"]
mod drivers;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drivers::session_handshake(data));
