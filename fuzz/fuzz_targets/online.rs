#![no_main]
//! See `selflearn_fuzz::targets::online`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| selflearn_fuzz::targets::online(data));
