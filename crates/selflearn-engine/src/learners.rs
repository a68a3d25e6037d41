//! The learners `learn` runs: the precomputed rewrites (absorbing Markov chain) and the online
//! layers (indices and rankers), each behind the [`Learner`] contract.

use std::sync::Arc;

use selflearn_miner::{Miner, MinerConfig, RewriteTable};
use selflearn_online::{
    Encoder, HeldApartReport, Lexicon, OnlineConfig, OnlineLearner, OnlineModel, Teacher, Teaching,
    TrainConfig, train_held_apart,
};

use selflearn_types::sensitive::SensitiveConfig;

use crate::learner::{Learner, UserTurns};

/// Learns the precomputed rewrite table.
#[derive(Debug, Default)]
pub struct PrecomputedLearner {
    /// What has been observed.
    pub miner: Miner,
    /// The thresholds it mines with.
    pub config: MinerConfig,
    /// Which rewrites are held for an operator's approval.
    pub sensitive: SensitiveConfig,
}

impl PrecomputedLearner {
    /// An empty learner mining with `config`, holding sensitive rewrites by the default list.
    pub fn new(config: MinerConfig) -> Self {
        Self {
            miner: Miner::new(),
            config,
            sensitive: SensitiveConfig::default(),
        }
    }

    /// The same, holding by `sensitive`.
    pub fn with_sensitive(mut self, sensitive: SensitiveConfig) -> Self {
        self.sensitive = sensitive;
        self
    }
}

impl Learner for PrecomputedLearner {
    type Artifact = RewriteTable;

    fn observe(&mut self, user: &UserTurns) {
        for (session, signals) in user.iter() {
            self.miner.observe(session, signals);
        }
    }

    fn merge(&mut self, other: Self) {
        self.miner.merge(other.miner);
    }

    fn finish(&self, version: &str) -> crate::Result<RewriteTable> {
        Ok(RewriteTable::new(
            version,
            self.config,
            self.miner
                .finish(&self.config)
                .hold_sensitive(&self.sensitive),
        ))
    }
}

/// Learns the online layers with a given encoder and lexicon.
#[derive(Debug)]
pub struct OnlineLayersLearner {
    /// What has been observed.
    pub learner: OnlineLearner,
    /// The encoder the indices are built with (from `train`, or the untrained projection).
    pub encoder: Encoder,
    /// The pronunciation lexicon of the rankers' phonetic similarity.
    pub lexicon: Arc<Lexicon>,
    /// The layers' settings.
    pub config: OnlineConfig,
}

impl OnlineLayersLearner {
    /// An empty learner.
    pub fn new(encoder: Encoder, lexicon: Arc<Lexicon>, config: OnlineConfig) -> Self {
        Self {
            learner: OnlineLearner::new(),
            encoder,
            lexicon,
            config,
        }
    }

    /// The same, keeping out of the global layer the sensitive requests `sensitive` does not
    /// approve.
    pub fn with_sensitive(mut self, sensitive: SensitiveConfig) -> Self {
        self.learner.sensitive = sensitive;
        self
    }
}

impl Learner for OnlineLayersLearner {
    type Artifact = OnlineModel;

    fn observe(&mut self, user: &UserTurns) {
        for (session, signals) in user.iter() {
            self.learner.observe(session, signals);
        }
    }

    /// Merges what `other` observed; `other`'s encoder, lexicon and settings must be this
    /// one's (partial learners of one job share them).
    fn merge(&mut self, other: Self) {
        debug_assert_eq!(self.encoder.digest(), other.encoder.digest());
        self.learner.merge(other.learner);
    }

    fn finish(&self, version: &str) -> crate::Result<OnlineModel> {
        Ok(self.learner.finish(
            self.encoder.clone(),
            self.lexicon.clone(),
            self.config,
            version,
        )?)
    }
}

/// Learns the online layers' retrieval encoder from the reformulation pairs of the log (four
/// users in five; the fifth measures it), first distilling a pretrained teacher when one is
/// given.
pub struct EncoderLearner<'t> {
    /// What has been observed.
    pub learner: OnlineLearner,
    /// Seed of the initial projection and of the batch order.
    pub seed: u64,
    /// The training settings.
    pub config: TrainConfig,
    /// The pretrained sentence encoder to distil first, if any.
    pub teacher: Option<&'t Teacher>,
}

impl std::fmt::Debug for EncoderLearner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderLearner")
            .field("seed", &self.seed)
            .field("config", &self.config)
            .field("teacher", &self.teacher.is_some())
            .finish_non_exhaustive()
    }
}

impl<'t> EncoderLearner<'t> {
    /// An empty learner.
    pub fn new(seed: u64, config: TrainConfig, teacher: Option<&'t Teacher>) -> Self {
        Self {
            learner: OnlineLearner::new(),
            seed,
            config,
            teacher,
        }
    }
}

impl Learner for EncoderLearner<'_> {
    type Artifact = (Encoder, HeldApartReport);

    fn observe(&mut self, user: &UserTurns) {
        for (session, signals) in user.iter() {
            self.learner.observe(session, signals);
        }
    }

    fn merge(&mut self, other: Self) {
        self.learner.merge(other.learner);
    }

    /// Trains; the encoder carries no version of its own (its digest identifies it).
    fn finish(&self, _version: &str) -> crate::Result<(Encoder, HeldApartReport)> {
        let teaching = self
            .teacher
            .map(|teacher| Teaching::of_training_users(teacher, &self.learner));
        Ok(train_held_apart(
            self.learner.pairs(),
            self.seed,
            &self.config,
            teaching,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use selflearn_signals::SignalConfig;
    use selflearn_types::testing::turn_saying as turn;
    use selflearn_types::{Outcome, TurnEvent};

    use super::*;
    use crate::learner::by_user;

    /// `users` people each fail twice with a mishearing and are served by the right words, and
    /// are served by two other requests.
    fn log(users: u32) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        for u in 0..users {
            let user = format!("user-{u:02}");
            for k in 0..2 {
                let at = i64::from(u * 10 + k) * 600_000;
                let id = |s: &str| format!("{user}-{k}-{s}");
                events.push(turn(
                    &user,
                    &id("a"),
                    at,
                    "play maj and dragons",
                    Outcome::Failure,
                ));
                events.push(turn(
                    &user,
                    &id("b"),
                    at + 5_000,
                    "play imagine dragons",
                    Outcome::Success,
                ));
                events.push(turn(
                    &user,
                    &id("c"),
                    at + 60_000,
                    "what time is it",
                    Outcome::Success,
                ));
            }
        }
        events
    }

    /// One learner over all users, and two over halves merged, finish into the same artifact.
    fn merged_equals_one_pass<L: Learner>(
        new: impl Fn() -> L,
        same: impl Fn(&L::Artifact, &L::Artifact) -> bool,
    ) {
        let users = by_user(&log(30), &SignalConfig::default());
        let mut one = new();
        for user in &users {
            one.observe(user);
        }
        let (mut left, mut right) = (new(), new());
        // Interleaved, and the right half observed backwards: order must not matter.
        for (i, user) in users.iter().enumerate() {
            if i % 2 == 0 {
                left.observe(user);
            }
        }
        for (i, user) in users.iter().enumerate().rev() {
            if i % 2 == 1 {
                right.observe(user);
            }
        }
        left.merge(right);
        assert!(same(&one.finish("v").unwrap(), &left.finish("v").unwrap()));
    }

    #[test]
    fn merged_miners_mine_what_one_miner_mines() {
        merged_equals_one_pass(
            || PrecomputedLearner::new(MinerConfig::default()),
            |a, b| {
                assert!(!a.entries.is_empty(), "the log has a rewrite to mine");
                a == b
            },
        );
    }

    #[test]
    fn merged_online_learners_learn_what_one_learns() {
        merged_equals_one_pass(
            || {
                OnlineLayersLearner::new(
                    Encoder::random(7),
                    Arc::new(Lexicon::default()),
                    OnlineConfig::default(),
                )
            },
            |a, b| {
                let (a, b) = (a.artifact(), b.artifact());
                assert!(!a.global.is_empty(), "the log has global candidates");
                serde_json::to_value(&a).unwrap() == serde_json::to_value(&b).unwrap()
            },
        );
    }
}
