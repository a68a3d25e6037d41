//! Integration tests of the HTTP API, driven through the router without a network.

mod api;
