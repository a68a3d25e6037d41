#![no_main]
//! See `selflearn_fuzz::targets::rewrite_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| selflearn_fuzz::targets::rewrite_request(data));
