#![no_main]
//! See `selflearn_fuzz::targets::event`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| selflearn_fuzz::targets::event(data));
