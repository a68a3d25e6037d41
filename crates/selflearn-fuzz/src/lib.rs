//! The checks a fuzzer runs on untrusted bytes: every parser of what comes over HTTP or from a
//! file either refuses the input with an error or accepts something that holds up (it saves
//! and reloads, it answers a request). A panic, an abort, a hang or unbounded memory is a
//! finding. `fuzz/` runs these under libFuzzer; the test below replays the committed corpus, so
//! every input a fuzzer ever kept is checked by `cargo test` too.

pub mod targets;

pub use targets::{TARGETS, Target};
