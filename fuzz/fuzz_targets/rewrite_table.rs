#![no_main]
//! See `selflearn_fuzz::targets::rewrite_table`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| selflearn_fuzz::targets::rewrite_table(data));
