//! The evaluator's one error type: a run asked for what would bias it (user errors) apart from
//! a failure underneath.

/// Everything an evaluation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// No such arm.
    #[error("unknown arm {0:?} (control, precomputed, global, personal, fuzzy)")]
    UnknownArm(String),
    /// A seed used to choose something (thresholds, the encoder) is also reported on.
    #[error("the {what} seed {seed} is also a reported seed; report on seeds it was not chosen on")]
    SeedReused {
        /// What was chosen on it.
        what: &'static str,
        /// The seed.
        seed: u64,
    },
    /// The online layers failed (training the encoder, the teacher).
    #[error(transparent)]
    Online(#[from] selflearn_online::OnlineError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] selflearn_engine::EngineError),
    /// The world failed.
    #[error(transparent)]
    World(#[from] selflearn_world::WorldError),
}

/// The evaluator's result.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
