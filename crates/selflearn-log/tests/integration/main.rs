//! Integration tests of the event log: format round trips and crash durability.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod crash;
mod roundtrip;
