//! Integration tests of the HTTP API, driven through the router without a network.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod api;
mod auth;
