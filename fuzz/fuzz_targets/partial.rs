#![no_main]
//! See `selflearn_fuzz::targets::partial`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| selflearn_fuzz::targets::partial(data));
