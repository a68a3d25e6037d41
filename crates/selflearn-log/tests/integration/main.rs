//! Integration tests of the event log: format round trips and crash durability.

mod crash;
mod roundtrip;
