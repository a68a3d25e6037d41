//! Shared types of selflearn: the turn event an assistant logs (schema v1), its strict
//! validation, and the rewrite API types. Every other crate depends on this one and on no
//! other crate for these types.
//!
//! ```
//! use selflearn_types::parse_event;
//!
//! let err = parse_event(r#"{"schema_version": 1}"#).unwrap_err();
//! assert!(err.reason.contains("missing field"));
//! ```

#![warn(missing_docs)]

pub mod blocked;
pub mod durable;
pub mod event;
pub mod rewrite;
pub mod schema;
pub mod sensitive;
pub mod shard;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
pub mod validate;

pub use event::*;
pub use rewrite::{NoRewrites, PERSONAL_LAYER, RewriteRequest, RewriteResponse, Rewriter};
pub use validate::{
    EventError, event_from_value, parse_event, validate, validate_id, validate_request,
};
