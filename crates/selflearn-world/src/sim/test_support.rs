//! Worlds for the tests of the simulator: one dataset and one trained NLU shared by all of
//! them, and small worlds run whole.

use selflearn_types::TurnEvent;

use super::{Collected, World};
use crate::config::WorldConfig;
use crate::dataset::Dataset;
use crate::nlu::corpus::training_examples;
use crate::nlu::{Nlu, TrainConfig};
use crate::truth::TurnTruth;

/// The data and one trained NLU, shared by the tests of the world.
pub(super) fn shared() -> &'static (Dataset, Nlu) {
    static SHARED: std::sync::OnceLock<(Dataset, Nlu)> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let data = Dataset::load(&Dataset::default_dir()).unwrap();
        let nlu = Nlu::train(&training_examples(&data), TrainConfig::default());
        (data, nlu)
    })
}

/// A small world (12 households, 2 days) of `seed`, run whole.
pub(super) fn small_world(seed: u64) -> (Collected, Dataset) {
    world(WorldConfig {
        seed,
        days: 2,
        households: 12,
        ..WorldConfig::default()
    })
}

/// The world of `config` around the shared NLU, run whole.
pub(super) fn world(config: WorldConfig) -> (Collected, Dataset) {
    let (data, nlu) = shared();
    let data = data.clone();
    let mut world = World::build_with_nlu(config, &data, nlu.clone());
    let mut out = Collected::default();
    world.run(&mut out).unwrap();
    (out, data)
}

/// The first request of every goal, with its truth.
pub(super) fn first_requests(out: &Collected) -> Vec<(&TurnEvent, &TurnTruth)> {
    out.events
        .iter()
        .zip(&out.truth)
        .filter(|(_, t)| t.starts_goal)
        .collect()
}
