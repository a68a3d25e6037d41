//! The online rewriter: learn indices and rankers from sessions, then answer rewrite requests.
//!
//! At request time: decline when the request is likely to succeed as it is (the guard); else
//! encode it, retrieve the nearest successful requests (global index, and the user's own with
//! the personal layer), score each with the layer's ranker, and rewrite to the best when its
//! score clears the threshold. Every rewrite says which layer fired and why.

use std::collections::{BTreeMap, HashMap};

use selflearn_signals::{Session, TurnSignals, normalise};
use selflearn_types::{RewriteRequest, RewriteResponse};
use serde::{Deserialize, Serialize};

use crate::encoder::Encoder;
use crate::index::{Candidate, Index, Successes, hour_of};
use crate::pairs::{FormStats, Pair, heard_form, reformulation_pairs, served};
use crate::ranker::{FEATURES, Features, Query, Ranker, features};

/// Layer names, as answers and turn events carry them.
pub const GLOBAL: &str = "global";
/// See [`GLOBAL`].
pub const PERSONAL: &str = "personal";

/// Which online layers answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// Requests that worked for several people.
    Global,
    /// The global layer plus what worked for this person.
    GlobalAndPersonal,
}

/// Settings of the online layers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineConfig {
    /// Distinct people a request must have served to enter the global index.
    pub min_users: u32,
    /// Candidates retrieved from the global index.
    pub global_candidates: usize,
    /// Candidates retrieved from the user's personal index.
    pub personal_candidates: usize,
    /// The guard declines requests heard at least this often ...
    pub guard_min_heard: u32,
    /// ... that were served at least this share of the time.
    pub guard_served_share: f64,
    /// Least ranker probability to rewrite.
    pub threshold: f32,
}

impl Default for OnlineConfig {
    fn default() -> Self {
        Self {
            min_users: 2,
            global_candidates: 10,
            personal_candidates: 5,
            guard_min_heard: 2,
            guard_served_share: 0.5,
            threshold: 0.5,
        }
    }
}

/// A failed request's pair with the context it was heard in.
#[derive(Debug, Clone)]
struct Observed {
    pair: Pair,
    device_kind: String,
    hour: usize,
}

/// Accumulates sessions (a user at a time is enough) for [`OnlineModel`].
#[derive(Debug, Default)]
pub struct OnlineLearner {
    successes: Successes,
    forms: FormStats,
    pairs: Vec<Observed>,
    served_as_heard: Vec<(String, String, String, usize)>,
}

impl OnlineLearner {
    /// An empty learner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one session and its signals.
    pub fn observe(&mut self, session: &Session, signals: &[TurnSignals]) {
        for (turn, signal) in session.turns.iter().zip(signals) {
            self.forms.observe(turn, signal);
            if served(turn, signal) {
                self.successes.observe(turn);
                if turn.rewrite.is_none() {
                    self.served_as_heard.push((
                        turn.user_id.clone(),
                        heard_form(turn),
                        turn.device.kind.as_str().to_owned(),
                        hour_of(turn.timestamp_ms),
                    ));
                }
            }
        }
        let pairs = reformulation_pairs(session, signals);
        for pair in pairs {
            let failed_turn = session
                .turns
                .iter()
                .find(|t| heard_form(t) == pair.failed)
                .expect("a pair's failed form comes from the session");
            self.pairs.push(Observed {
                device_kind: failed_turn.device.kind.as_str().to_owned(),
                hour: hour_of(failed_turn.timestamp_ms),
                pair,
            });
        }
    }

    /// The peer baseline over the same global requests.
    pub fn fuzzy_baseline(&self, min_users: u32, threshold: f64) -> crate::fuzzy::FuzzyRewriter {
        crate::fuzzy::FuzzyRewriter::new(
            self.successes
                .global(min_users)
                .into_iter()
                .map(|c| c.text)
                .collect(),
            threshold,
        )
    }

    /// Reformulation pairs seen so far (for training the encoder).
    pub fn pairs(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().map(|o| &o.pair)
    }

    /// Builds the indices and trains both layers' rankers.
    pub fn finish(
        self,
        encoder: Encoder,
        config: OnlineConfig,
        version: impl Into<String>,
    ) -> candle_core::Result<OnlineModel> {
        let global = Index::build(self.successes.global(config.min_users), &encoder);
        let personal: HashMap<String, Index> = self
            .successes
            .users()
            .map(|u| {
                (
                    u.to_owned(),
                    Index::build(self.successes.personal(u), &encoder),
                )
            })
            .collect();
        let mut model = OnlineModel {
            version: version.into(),
            config,
            encoder,
            global,
            personal,
            forms: self.forms,
            global_ranker: Ranker {
                weights: vec![0.0; FEATURES.len()],
                bias: 0.0,
                threshold: config.threshold,
            },
            personal_ranker: Ranker {
                weights: vec![0.0; FEATURES.len()],
                bias: 0.0,
                threshold: config.threshold,
            },
        };
        for layers in [Layers::Global, Layers::GlobalAndPersonal] {
            let mut examples: Vec<(Features, bool)> = Vec::new();
            for o in &self.pairs {
                let query = Query {
                    text: &o.pair.failed,
                    device_kind: &o.device_kind,
                    hour: o.hour,
                    history: model.forms.of(&o.pair.failed),
                };
                for (candidate, f) in model.candidates(&query, &o.pair.user_id, layers) {
                    examples.push((f, candidate.text == o.pair.worked));
                }
            }
            // As many served-as-heard requests as pairs, spread over the log.
            let step = (self.served_as_heard.len() / self.pairs.len().max(1)).max(1);
            for (user, text, kind, hour) in self.served_as_heard.iter().step_by(step) {
                let query = Query {
                    text,
                    device_kind: kind,
                    hour: *hour,
                    history: model.forms.of(text),
                };
                for (_, f) in model.candidates(&query, user, layers) {
                    examples.push((f, false));
                }
            }
            if examples.iter().any(|(_, l)| *l) && examples.iter().any(|(_, l)| !*l) {
                let mut mask = [true; FEATURES.len()];
                if layers == Layers::Global {
                    mask[5] = false;
                }
                let ranker = Ranker::train(&examples, &mask, config.threshold)?;
                match layers {
                    Layers::Global => model.global_ranker = ranker,
                    Layers::GlobalAndPersonal => model.personal_ranker = ranker,
                }
            }
        }
        Ok(model)
    }
}

/// The learned online layers.
#[derive(Debug, Clone)]
pub struct OnlineModel {
    version: String,
    config: OnlineConfig,
    encoder: Encoder,
    global: Index,
    personal: HashMap<String, Index>,
    forms: FormStats,
    global_ranker: Ranker,
    personal_ranker: Ranker,
}

impl OnlineModel {
    /// Version of this model.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Candidates in the global index.
    pub fn global_len(&self) -> usize {
        self.global.len()
    }

    /// The rankers of the global and personal layers.
    pub fn rankers(&self) -> (&Ranker, &Ranker) {
        (&self.global_ranker, &self.personal_ranker)
    }

    /// Retrieved candidates (never the request itself) with their features.
    fn candidates<'m>(
        &'m self,
        query: &Query<'_>,
        user_id: &str,
        layers: Layers,
    ) -> Vec<(&'m Candidate, Features)> {
        let encoded = self.encoder.encode(query.text);
        let own = match layers {
            Layers::Global => None,
            Layers::GlobalAndPersonal => self.personal.get(user_id),
        };
        let mut found: BTreeMap<&str, (&Candidate, f32)> = BTreeMap::new();
        for (c, cosine) in self.global.search(&encoded, self.config.global_candidates) {
            found.insert(&c.text, (c, cosine));
        }
        if let Some(own) = own {
            for (c, cosine) in own.search(&encoded, self.config.personal_candidates) {
                found.entry(&c.text).or_insert((c, cosine));
            }
        }
        found
            .into_values()
            .filter(|(c, _)| c.text != query.text)
            .map(|(c, cosine)| {
                let mine = own.and_then(|o| o.get(&c.text));
                (c, features(query, c, cosine, mine))
            })
            .collect()
    }

    /// The answer for one request with these layers.
    pub fn rewrite(&self, request: &RewriteRequest, layers: Layers) -> RewriteResponse {
        let text = normalise(&request.text);
        let unchanged = RewriteResponse::unchanged(request.text.clone());
        let (heard, served) = self.forms.of(&text);
        let works_as_heard = heard >= self.config.guard_min_heard
            && f64::from(served) >= self.config.guard_served_share * f64::from(heard);
        let works_for_user = layers == Layers::GlobalAndPersonal
            && self
                .personal
                .get(&request.user_id)
                .is_some_and(|own| own.get(&text).is_some());
        if text.is_empty() || works_as_heard || works_for_user {
            return unchanged;
        }
        let query = Query {
            text: &text,
            device_kind: request.device.kind.as_str(),
            hour: request.timestamp_ms.map_or(12, hour_of),
            history: (heard, served),
        };
        let ranker = match layers {
            Layers::Global => &self.global_ranker,
            Layers::GlobalAndPersonal => &self.personal_ranker,
        };
        let best = self
            .candidates(&query, &request.user_id, layers)
            .into_iter()
            .map(|(c, f)| (c, f, ranker.score(&f)))
            .max_by(|a, b| a.2.total_cmp(&b.2).then_with(|| b.0.text.cmp(&a.0.text)));
        let Some((candidate, f, score)) = best else {
            return unchanged;
        };
        if score < ranker.threshold {
            return unchanged;
        }
        let layer = if f[5] > 0.0 { PERSONAL } else { GLOBAL };
        RewriteResponse {
            text: candidate.text.clone(),
            rewritten: true,
            layer: Some(layer.to_owned()),
            score: Some(score),
            explanation: Some(format!(
                "{layer} layer, model {}: served {} times for {} people; dense similarity {:.2}, character similarity {:.2}{}; ranker {:.2} >= {:.2}",
                self.version,
                candidate.served,
                candidate.users,
                f[0],
                f[1],
                if layer == PERSONAL {
                    " ; it worked for you before".to_owned()
                } else {
                    String::new()
                },
                score,
                ranker.threshold
            )),
            artifact_version: Some(self.version.clone()),
        }
    }
}
