//! The evaluator: the only library that joins what the engine produces with the world's truth.
//!
//! - [`arms`] and [`run`]: each arm lives a world's days, learning nightly with the engine's
//!   learners and answering with the engine's layered rewriter.
//! - [`ab`]: the paired A/B over seeds; [`stats`]: paired reductions with Student's t
//!   intervals; [`tune`]: thresholds and the encoder, chosen on seeds not reported.
//! - [`funnel`]: where the online layers lose the defects they could repair;
//!   [`signals`]: how well each friction signal predicts a defect.
//! - [`world_report`]: how realistic the world is and how good its NLU is.
//! - [`parallel`]: independent runs on all cores.

#![warn(missing_docs)]

pub mod ab;
pub mod arms;
pub mod error;
pub mod funnel;
pub mod parallel;
pub mod run;
pub mod signals;
pub mod stats;
pub mod tune;
pub mod world_report;

pub use ab::{ArmReport, Comparison, Plan, Report, evaluate};
pub use arms::{ARMS, Arm};
pub use error::{EvalError, Result};
pub use run::{OnlineSetup, live};
pub use stats::ArmRun;
