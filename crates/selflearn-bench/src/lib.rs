//! What the `selflearn-bench` binary and the criterion benches share: the world logs and the
//! learned artifact sets they measure, built the way `learn` and `serve` build them.

pub mod fixture;
