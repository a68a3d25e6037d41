#![no_main]
//! See `selflearn_fuzz::targets::manifest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| selflearn_fuzz::targets::manifest(data));
