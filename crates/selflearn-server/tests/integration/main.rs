//! Integration tests of the HTTP API, driven through the router without a network, and of the
//! connection limits, on a real listener.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod api;
mod auth;
mod limits;
