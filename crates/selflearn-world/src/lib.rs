//! The evaluation world of selflearn: a closed-loop household simulator built from real data
//! (SLURP and HWU64 commands, real recognisers' output on real and synthetic speech, the Home
//! Assistant test home). It writes the turn events an assistant would log and, separately, the
//! ground truth that only the evaluator reads. No engine crate depends on this one.

#![warn(missing_docs)]

pub mod asr;
pub mod assistant;
pub mod catalogue;
pub mod config;
pub mod dataset;
pub mod error;
pub mod jsonl;
pub mod meaning;
pub mod nlu;
pub mod sim;
pub mod stats;
pub mod truth;
pub mod wer;

pub use dataset::Dataset;
pub use error::{Result, WorldError};
