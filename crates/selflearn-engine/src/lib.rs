//! The engine's contract: how a learner plugs into `learn`, what an artifact promises, and how
//! the layers answer a request together.
//!
//! - [`learner`]: a [`Learner`] observes one user's sessions at a time, merges with another
//!   partial learner of its kind, and finishes into an artifact; [`learners`] holds the
//!   precomputed and the online layers' learners.
//! - [`driver`]: the learn job, log → sessions → signals → every learner → an artifact set.
//! - [`manifest`] and [`set`]: an artifact set is a directory with a manifest naming each
//!   artifact's kind, format, digest and inputs; it is saved durably and loaded as one unit,
//!   and refused when a digest does not match.
//! - [`insights`]: what the dashboard shows of the log, learned like any artifact.
//! - [`layered`]: the one composition of the rewriting layers that `serve`, the evaluation's
//!   assistant and the benchmarks all run.

#![warn(missing_docs)]

pub mod driver;
pub mod error;
pub mod inputs;
pub mod insights;
pub mod layered;
pub mod learner;
pub mod learners;
pub mod manifest;
pub mod partial;
pub mod set;

pub use driver::{LearnReport, Learned, for_each_user, learn, learn_parallel};
pub use error::{EngineError, Result};
pub use inputs::{encoder_at, lexicon_text};
pub use insights::{Insights, InsightsLearner};
pub use layered::Layered;
pub use learner::{Learner, UserTurns, by_user};
pub use learners::{EncoderLearner, OnlineLayersLearner, PrecomputedLearner};
pub use manifest::{ArtifactEntry, Kind, LogRange, Manifest};
pub use partial::{PARTIAL_FORMAT, job_settings, learn_events};
pub use set::{ArtifactSet, LoadedSet, SetSummary};
