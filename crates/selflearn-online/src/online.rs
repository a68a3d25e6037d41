//! The online rewriter: learn indices and rankers from sessions, then answer rewrite requests.
//!
//! At request time: decline when the request is likely to succeed as it is (the guard); else
//! encode it, retrieve the nearest successful requests (global index, and the user's own with
//! the personal layer), score each with the layer's ranker, and rewrite to the best when its
//! score clears the threshold. Every rewrite says which layer fired and why.

use crate::error::OnlineError;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use selflearn_signals::{Session, TurnSignals, normalise, normalised_chars, similarity_to};
use selflearn_types::sensitive::SensitiveConfig;
use selflearn_types::{RewriteRequest, RewriteResponse, person_key};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::encoder::{Encoder, dot};
use crate::index::{Candidate, Index, Successes, Support, hour_of};
use crate::pairs::{FormStats, Pair, heard_form, reformulation_pairs, served};
use crate::phonetic::Lexicon;
use crate::ranker::{
    FEATURES, Feature, Features, Query, Ranker, Retrieved, calibrate, features, value,
};
use crate::template::{Filled, TemplateLearner, Templates};
use crate::train::held_apart;

mod shards;
pub use shards::{PERSONAL_SHARD_FORMAT, PersonalShard};

/// Layer names, as answers and turn events carry them.
pub const GLOBAL: &str = "global";
/// See [`GLOBAL`].
pub const PERSONAL: &str = selflearn_types::PERSONAL_LAYER;

/// Which online layers answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layers {
    /// Requests that worked for several people.
    Global,
    /// The global layer plus what worked for this person.
    GlobalAndPersonal,
}

/// What an answer depends on besides the model ([`OnlineModel::answer_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    layers: Layers,
    /// The request, normalised.
    text: String,
    device_kind: String,
    hour: usize,
    /// The user, only when a personal index of theirs answers: every other user with the same
    /// request, device kind and hour gets the same answer.
    user: Option<String>,
}

impl AnswerKey {
    /// Bytes its strings hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.len() + self.device_kind.len() + self.user.as_ref().map_or(0, String::len)
    }
}

/// Settings of the online layers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineConfig {
    /// Distinct people a request must have served to enter the global index.
    pub min_users: u32,
    /// Distinct sources (assistant installations; a person without one counts as their own)
    /// among them: one installation cannot put a request in everyone's layer by inventing
    /// users.
    pub min_sources: u32,
    /// Largest share of a global request's served turns one source may account for (1: no
    /// limit).
    pub max_source_share: f64,
    /// Candidates retrieved from the global index.
    pub global_candidates: usize,
    /// Candidates retrieved from the user's personal index.
    pub personal_candidates: usize,
    /// The guard declines requests heard at least this often ...
    pub guard_min_heard: u32,
    /// ... that were served at least this share of the time.
    pub guard_served_share: f64,
    /// Least ranker probability to rewrite: the threshold each layer calibrates is never below
    /// it.
    pub threshold: f32,
    /// Share of its rewrites each layer must get right on the users held apart from its
    /// ranker's training (right: the reformulation the log shows working); the layer's
    /// threshold is the lowest score that keeps it ([`crate::ranker::calibrate`]).
    pub precision: f32,
    /// Least character or phonetic similarity (the higher of the two) between a request and
    /// its rewrite: a rewrite repairs a mishearing of what was asked; it never swaps in another
    /// request, however often that one worked ("i want to hear festival playlist" is not
    /// "i want to hear purple haze").
    pub min_similarity: f32,
    /// Whether the layers also consider template candidates ([`crate::template`]): a
    /// successful request's words around a slot, filled with a known value that sounds like
    /// what was heard there.
    pub templates: bool,
}

impl OnlineConfig {
    /// What a request needs behind it to enter the global index.
    pub fn support(&self) -> Support {
        Support {
            min_users: self.min_users,
            min_sources: self.min_sources,
            max_source_share: self.max_source_share,
        }
    }
}

impl Default for OnlineConfig {
    fn default() -> Self {
        Self {
            min_users: 2,
            min_sources: 2,
            max_source_share: 1.0,
            global_candidates: 10,
            personal_candidates: 5,
            guard_min_heard: 2,
            guard_served_share: 0.5,
            threshold: 0.05,
            precision: 0.8,
            min_similarity: 0.6,
            templates: true,
        }
    }
}

/// A failed request's pair with the context it was heard in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Observed {
    pair: Pair,
    device_kind: String,
    hour: usize,
}

/// Most requests served as heard kept (a uniform sample) as the rankers' "do not rewrite"
/// examples, so that memory does not grow with the log.
const SERVED_SAMPLE: usize = 20_000;

/// Most reformulation pairs the rankers train on, evenly spread over all of them, and as many
/// requests served as heard: with every retrieved candidate that is some 35k rows, plenty for a
/// logistic model of ten features, and training cost stops growing with the log.
const RANKER_PAIRS: usize = 1_500;

/// The digest that decides whether a served turn is in the sample (XXH3 of its event id).
fn sample_digest(event_id: &str) -> u64 {
    twox_hash::XxHash3_128::oneshot(event_id.as_bytes()) as u64
}

/// Accumulates sessions (a user at a time is enough) for [`OnlineModel`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OnlineLearner {
    successes: Successes,
    templates: TemplateLearner,
    forms: FormStats,
    /// Keyed by (user, time, failed turn's event id): the order one user-sorted pass over the
    /// log would see them in, whatever order they were observed or merged in.
    pairs: BTreeMap<(String, i64, String), Observed>,
    /// A bottom-k sample: the served turns with the smallest digests of their event ids, so
    /// that it is the same sample however the log was split and merged.
    served_as_heard: BTreeMap<u64, (String, String, String, usize)>,
    served_seen: usize,
    /// Which requests stay out of the global layer until an operator approves them.
    pub sensitive: SensitiveConfig,
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
                    self.templates.observe(turn);
                    let example = (
                        turn.person().into_owned(),
                        heard_form(turn),
                        turn.device.kind.as_str().to_owned(),
                        hour_of(turn.timestamp_ms),
                    );
                    // Bottom-k sampling: every served turn is kept with equal chance.
                    self.served_seen += 1;
                    self.served_as_heard
                        .insert(sample_digest(&turn.event_id), example);
                    self.trim_sample();
                }
            }
        }
        for pair in reformulation_pairs(session, signals) {
            let failed_turn = &session.turns[pair.failed_turn];
            let key = (
                pair.user_id.clone(),
                failed_turn.timestamp_ms,
                failed_turn.event_id.clone(),
            );
            self.pairs.insert(
                key,
                Observed {
                    device_kind: failed_turn.device.kind.as_str().to_owned(),
                    hour: hour_of(failed_turn.timestamp_ms),
                    pair,
                },
            );
        }
    }

    /// Adds what another learner observed (other users, or other days of the same users): the
    /// result learns what one learner observing both would have.
    pub fn merge(&mut self, other: OnlineLearner) {
        self.successes.merge(other.successes);
        self.templates.merge(other.templates);
        self.forms.merge(other.forms);
        self.pairs.extend(other.pairs);
        self.served_as_heard.extend(other.served_as_heard);
        self.served_seen += other.served_seen;
        self.trim_sample();
    }

    /// Whether a learner read back from a file (a partial learner) holds together: hours of
    /// the day below 24, and no larger a sample than a learner keeps.
    pub fn check(&self) -> Result<(), String> {
        if let Some(o) = self.pairs.values().find(|o| o.hour >= 24) {
            return Err(format!("online learner: a pair heard at hour {}", o.hour));
        }
        if self.served_as_heard.len() > SERVED_SAMPLE {
            return Err(format!(
                "online learner: a sample of {} requests, more than {SERVED_SAMPLE}",
                self.served_as_heard.len()
            ));
        }
        Ok(())
    }

    fn trim_sample(&mut self) {
        while self.served_as_heard.len() > SERVED_SAMPLE {
            self.served_as_heard.pop_last();
        }
    }

    /// The peer baseline over the same global requests.
    pub fn fuzzy_baseline(&self, min_users: u32, threshold: f64) -> crate::fuzzy::FuzzyRewriter {
        crate::fuzzy::FuzzyRewriter::new(
            self.successes
                .global(Support::people(min_users), &self.sensitive)
                .into_iter()
                .map(|c| c.text)
                .collect(),
            threshold,
        )
    }

    /// Reformulation pairs seen so far (for training the encoder).
    pub fn pairs(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.values().map(|o| &o.pair)
    }

    /// Distinct texts of the users `keep` accepts, sorted: the requests that served them and
    /// both sides of their reformulation pairs (what a teacher distils on).
    pub fn texts_of(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let served = self
            .successes
            .users()
            .filter(|u| keep(u))
            .flat_map(|u| self.successes.personal(u).into_iter().map(|c| c.text));
        let paired = self
            .pairs()
            .filter(|p| keep(&p.user_id))
            .flat_map(|p| [p.failed.clone(), p.worked.clone()]);
        let mut texts: Vec<String> = served.chain(paired).collect();
        texts.sort();
        texts.dedup();
        texts
    }

    /// Builds the indices and trains both layers' rankers. The learner is left as it was, so a
    /// nightly job can observe the next day and finish again.
    pub fn finish(
        &self,
        encoder: Encoder,
        lexicon: Arc<Lexicon>,
        config: OnlineConfig,
        version: impl Into<String>,
    ) -> crate::Result<OnlineModel> {
        let global = Index::build(
            self.successes.global(config.support(), &self.sensitive),
            &encoder,
        );
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
            encoder_digest: encoder.digest(),
            encoder,
            lexicon,
            global,
            personal,
            forms: self.forms.clone(),
            templates: self.templates.finish(config.support(), &self.sensitive),
            global_ranker: Ranker::never(config.threshold),
            personal_ranker: Ranker::never(config.threshold),
        };
        for layers in [Layers::Global, Layers::GlobalAndPersonal] {
            // Each request's retrieved candidates, with whether its user is held apart to
            // calibrate the threshold on.
            let mut requests: Vec<(bool, f64, Retrieved)> = Vec::new();
            let pair_step = (self.pairs.len() / RANKER_PAIRS).max(1);
            let used_pairs = self.pairs.len().div_ceil(pair_step);
            for o in self.pairs.values().step_by(pair_step) {
                let query = Query {
                    text: &o.pair.failed,
                    device_kind: &o.device_kind,
                    hour: o.hour,
                    history: model.forms.of(&o.pair.failed),
                };
                let own = model.own_index(&o.pair.user_id, layers);
                let retrieved = model
                    .candidates(&query, own)
                    .into_iter()
                    .map(|(candidate, f)| (f, candidate.text == o.pair.worked))
                    .collect();
                let asked = !model.declines(query.text, own);
                let weight = self.pairs.len() as f64 / used_pairs as f64;
                requests.push((asked && held_apart(&o.pair.user_id), weight, retrieved));
            }
            // As many served-as-heard requests as pairs, spread over the log.
            let step = (self.served_as_heard.len() / used_pairs.max(1)).max(1);
            // Each sampled request stands for this many served as heard in the log.
            let served_weight =
                self.served_seen as f64 / self.served_as_heard.len().div_ceil(step).max(1) as f64;
            for (user, text, kind, hour) in self.served_as_heard.values().step_by(step) {
                let query = Query {
                    text,
                    device_kind: kind,
                    hour: *hour,
                    history: model.forms.of(text),
                };
                let own = model.own_index(user, layers);
                let retrieved = model
                    .candidates(&query, own)
                    .into_iter()
                    .map(|(_, f)| (f, false))
                    .collect();
                // Asked as the request was before this turn served it: in no index yet because
                // of it, and heard one time fewer. (Asked as it is now, the guard would decline
                // every one of them, and the threshold would never meet the requests that work
                // as heard but are new.)
                let (heard, served) = model.forms.of(text);
                let asked =
                    !model.guard_declines(heard.saturating_sub(1), served.saturating_sub(1));
                requests.push((asked && held_apart(user), served_weight, retrieved));
            }
            let training: Vec<(Features, bool)> = requests
                .iter()
                .filter(|(held, _, _)| !held)
                .flat_map(|(_, _, retrieved)| retrieved.iter().copied())
                .collect();
            if training.iter().any(|(_, l)| *l) && training.iter().any(|(_, l)| !*l) {
                let mut mask = [true; FEATURES.len()];
                if layers == Layers::Global {
                    mask[Feature::Personal.index()] = false;
                }
                let mut ranker = Ranker::train(&training, &mask, config.threshold)?;
                let held: Vec<(f64, Retrieved)> = requests
                    .into_iter()
                    .filter_map(|(held, weight, retrieved)| held.then_some((weight, retrieved)))
                    .collect();
                ranker.threshold = calibrate(
                    &ranker,
                    &held,
                    |f| model.clears_floor(f),
                    config.precision,
                    config.threshold,
                );
                match layers {
                    Layers::Global => model.global_ranker = ranker,
                    Layers::GlobalAndPersonal => model.personal_ranker = ranker,
                }
            }
        }
        Ok(model)
    }
}

/// The learned online layers as stored: everything but the encoder (a separate file) and the
/// encodings (recomputed at load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineArtifact {
    /// Artifact format.
    pub format: u32,
    /// Version of the model.
    pub version: String,
    /// Settings it was learned with.
    pub config: OnlineConfig,
    /// Digest of the encoder it was learned with ([`Encoder::digest`]): it is served with that
    /// encoder or not at all.
    pub encoder: String,
    /// Global candidates.
    pub global: Vec<Candidate>,
    /// Each user's own candidates; empty in an artifact set, which keeps them in
    /// [`PersonalShard`] files beside it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub personal: BTreeMap<String, Vec<Candidate>>,
    /// How often each heard form was served.
    pub forms: FormStats,
    /// Carriers and slot values for template candidates.
    pub templates: Templates,
    /// Ranker of the global layer.
    pub global_ranker: Ranker,
    /// Ranker of the personal layer.
    pub personal_ranker: Ranker,
}

/// Format version of [`OnlineArtifact`] (2: templates and the encoder's digest).
pub const ARTIFACT_FORMAT: u32 = 2;

/// The learned online layers.
#[derive(Debug, Clone)]
pub struct OnlineModel {
    version: String,
    config: OnlineConfig,
    encoder: Encoder,
    encoder_digest: String,
    lexicon: Arc<Lexicon>,
    global: Index,
    personal: HashMap<String, Index>,
    forms: FormStats,
    templates: Templates,
    global_ranker: Ranker,
    personal_ranker: Ranker,
}

impl OnlineModel {
    /// The model's stored form.
    pub fn artifact(&self) -> OnlineArtifact {
        OnlineArtifact {
            personal: self
                .personal
                .iter()
                .map(|(u, i)| (u.clone(), i.candidates().to_vec()))
                .collect(),
            ..self.artifact_without_personal()
        }
    }

    /// The stored form of everything but the personal layer.
    fn artifact_without_personal(&self) -> OnlineArtifact {
        OnlineArtifact {
            format: ARTIFACT_FORMAT,
            version: self.version.clone(),
            config: self.config,
            encoder: self.encoder_digest.clone(),
            global: self.global.candidates().to_vec(),
            personal: BTreeMap::new(),
            forms: self.forms.clone(),
            templates: self.templates.clone(),
            global_ranker: self.global_ranker.clone(),
            personal_ranker: self.personal_ranker.clone(),
        }
    }

    /// Rebuilds a model from its stored form and the encoder it was learned with.
    pub fn from_artifact(artifact: OnlineArtifact, encoder: Encoder) -> Self {
        let personal = artifact
            .personal
            .into_iter()
            .map(|(u, c)| (u, Index::build(c, &encoder)))
            .collect();
        Self {
            version: artifact.version,
            config: artifact.config,
            global: Index::build(artifact.global, &encoder),
            personal,
            forms: artifact.forms,
            templates: artifact.templates.reindexed(),
            global_ranker: artifact.global_ranker,
            personal_ranker: artifact.personal_ranker,
            encoder_digest: encoder.digest(),
            encoder,
            lexicon: Arc::new(Lexicon::default()),
        }
    }

    /// The same model, pronouncing with `lexicon` (the one it was learned with).
    pub fn with_lexicon(self, lexicon: Arc<Lexicon>) -> Self {
        Self { lexicon, ..self }
    }

    /// The artifact as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.artifact()).expect("an artifact is plain data")
    }

    /// Writes the artifact as JSON, atomically (temporary file, then rename).
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        selflearn_types::durable::write_atomically(path, &self.to_bytes())
    }

    /// Reads and checks an artifact written by [`OnlineModel::save`].
    pub fn load(path: &std::path::Path, encoder: Encoder) -> Result<Self, OnlineError> {
        let bytes = fs_err::read(path).map_err(|e| OnlineError::InvalidArtifact {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string(), encoder)
    }

    /// Reads and checks an artifact from its bytes; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str, encoder: Encoder) -> Result<Self, OnlineError> {
        let invalid = |reason: String| OnlineError::InvalidArtifact {
            path: origin.to_owned(),
            reason,
        };
        let artifact: OnlineArtifact =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if artifact.format != ARTIFACT_FORMAT {
            return Err(invalid(format!(
                "format {} is not {ARTIFACT_FORMAT}",
                artifact.format
            )));
        }
        let given = encoder.digest();
        if artifact.encoder != given {
            return Err(OnlineError::OtherEncoder {
                path: origin.to_owned(),
                learned_with: artifact.encoder,
                given,
            });
        }
        for ranker in [&artifact.global_ranker, &artifact.personal_ranker] {
            if ranker.weights.len() != FEATURES.len()
                || !ranker
                    .weights
                    .iter()
                    .chain([&ranker.bias])
                    .all(|w| w.is_finite())
            {
                return Err(invalid(format!(
                    "a ranker needs {} finite weights",
                    FEATURES.len()
                )));
            }
        }
        Ok(Self::from_artifact(artifact, encoder))
    }

    /// The user ids with a personal index.
    pub fn personal_users(&self) -> impl Iterator<Item = &str> {
        self.personal.keys().map(String::as_str)
    }

    /// The global candidate with this text, if any.
    pub fn global_candidate(&self, text: &str) -> Option<&Candidate> {
        self.global.get(text)
    }

    /// Replaces the personal indices with those of `other` (same encoder), keeping this
    /// model's global layer: what isolation tests compare.
    pub fn with_personal_of(&self, other: &OnlineModel) -> Self {
        Self {
            personal: other.personal.clone(),
            ..self.clone()
        }
    }

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

    /// The personal index that answers for this user with these layers, if any.
    fn own_index(&self, user_id: &str, layers: Layers) -> Option<&Index> {
        match layers {
            Layers::Global => None,
            Layers::GlobalAndPersonal => self.personal.get(user_id),
        }
    }

    /// Retrieved candidates (never the request itself) with their features; `own` is the
    /// personal index that answers too, if any.
    fn candidates<'m>(
        &'m self,
        query: &Query<'_>,
        own: Option<&'m Index>,
    ) -> Vec<(&'m Candidate, Features)> {
        let encoded = self.encoder.encode(query.text);
        // The request's letters and phones, prepared once for all its candidates.
        let (letters, phones) = (
            normalised_chars(query.text),
            self.lexicon.phones(query.text),
        );
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
                let similarities = [
                    cosine,
                    similarity_to(&letters, &c.text) as f32,
                    self.lexicon.similarity_to(&phones, &c.text),
                ];
                (c, features(query, c, similarities, mine))
            })
            .collect()
    }

    /// Everything the answer to `request` depends on besides the model: what a cache of the
    /// model's answers is keyed by ([`crate::cache`]).
    pub fn answer_key(&self, request: &RewriteRequest, layers: Layers) -> AnswerKey {
        let person = person_key(&request.user_id, request.source.as_deref());
        let personal = self.own_index(&person, layers).is_some();
        AnswerKey {
            layers,
            text: normalise(&request.text),
            device_kind: request.device.kind.as_str().to_owned(),
            hour: request.timestamp_ms.map_or(12, hour_of),
            user: personal.then(|| person.into_owned()),
        }
    }

    /// The answer for one request with these layers.
    pub fn rewrite(&self, request: &RewriteRequest, layers: Layers) -> RewriteResponse {
        self.answer(&self.answer_key(request, layers), &request.text)
    }

    /// What the layers consider for a request with this key: `None` when the guard declines
    /// (the request works as it is), else every retrieved candidate with its features, its
    /// ranker score and whether it clears the similarity floor, best score first. The answer
    /// is the best candidate that clears the floor, when its score clears the threshold; this
    /// says why a request was or was not rewritten.
    pub fn ranked(&self, key: &AnswerKey) -> Option<Vec<Ranked<'_>>> {
        let (layers, text) = (key.layers, key.text.as_str());
        let own = key.user.as_deref().and_then(|u| self.personal.get(u));
        if self.declines(text, own) {
            return None;
        }
        let (heard, served) = self.forms.of(text);
        let query = Query {
            text,
            device_kind: &key.device_kind,
            hour: key.hour,
            history: (heard, served),
        };
        let ranker = self.ranker(layers);
        let mut ranked: Vec<Ranked<'_>> = self
            .candidates(&query, own)
            .into_iter()
            .map(|(candidate, features)| Ranked {
                candidate: Cow::Borrowed(candidate),
                score: ranker.score(&features),
                clears_floor: self.clears_floor(&features),
                features,
                template: None,
            })
            .collect();
        let fills = if self.config.templates {
            self.templates.fill(text, &self.lexicon)
        } else {
            Vec::new()
        };
        // Prepared only for a request that fits a template: most fit none.
        if !fills.is_empty() {
            let encoded = self.encoder.encode(text);
            let (letters, phones) = (normalised_chars(text), self.lexicon.phones(text));
            for filled in fills {
                if ranked.iter().any(|r| r.candidate.text == filled.text) {
                    continue;
                }
                let candidate = Candidate {
                    text: filled.text.clone(),
                    users: filled.carrier.support.users.min(filled.value.users),
                    ..filled.carrier.support.clone()
                };
                let similarities = [
                    dot(&encoded, &self.encoder.encode(&candidate.text)),
                    similarity_to(&letters, &candidate.text) as f32,
                    self.lexicon.similarity_to(&phones, &candidate.text),
                ];
                let mine = own.and_then(|o| o.get(&candidate.text));
                let features = features(&query, &candidate, similarities, mine);
                ranked.push(Ranked {
                    score: ranker.score(&features),
                    clears_floor: self.clears_floor(&features),
                    features,
                    candidate: Cow::Owned(candidate),
                    template: Some(filled),
                });
            }
        }
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.candidate.text.cmp(&b.candidate.text))
        });
        Some(ranked)
    }

    /// The guard: whether a request (normalised) works as it is, so no layer may rewrite it;
    /// `own` is the personal index that answers too, if any.
    fn declines(&self, text: &str, own: Option<&Index>) -> bool {
        let (heard, served) = self.forms.of(text);
        // A request that is itself in the global index served several people as it is.
        let works_for_others = self.global.get(text).is_some();
        let works_for_user = own.is_some_and(|own| own.get(text).is_some());
        text.is_empty() || self.guard_declines(heard, served) || works_for_others || works_for_user
    }

    /// The guard on a request's record: heard often enough, and served often enough of those.
    fn guard_declines(&self, heard: u32, served: u32) -> bool {
        heard >= self.config.guard_min_heard
            && f64::from(served) >= self.config.guard_served_share * f64::from(heard)
    }

    /// Whether a candidate is close enough to the request, in letters or in sound, to be a
    /// rewrite of it at all.
    fn clears_floor(&self, features: &Features) -> bool {
        value(features, Feature::Character).max(value(features, Feature::Phonetic))
            >= self.config.min_similarity
    }

    fn ranker(&self, layers: Layers) -> &Ranker {
        match layers {
            Layers::Global => &self.global_ranker,
            Layers::GlobalAndPersonal => &self.personal_ranker,
        }
    }

    /// The answer for a request with this key; `said` is the request's text as received,
    /// returned when nothing fires.
    pub fn answer(&self, key: &AnswerKey, said: &str) -> RewriteResponse {
        let unchanged = RewriteResponse::unchanged(said.to_owned());
        let ranker = self.ranker(key.layers);
        let best = self
            .ranked(key)
            .and_then(|ranked| ranked.into_iter().find(|r| r.clears_floor));
        let Some(Ranked {
            candidate,
            features: f,
            score,
            template,
            ..
        }) = best
        else {
            return unchanged;
        };
        let made = template.map_or(String::new(), |t| {
            format!(
                "a template: {:?} served {} for {}, filled with {:?} (served {}) for the heard {:?} (similarity {:.2}); ",
                t.carrier.support.text,
                times(t.carrier.support.served),
                people(t.carrier.support.users),
                t.value.text,
                people(t.value.users),
                t.heard,
                t.similarity
            )
        });
        if score.is_nan() || score < ranker.threshold {
            return unchanged;
        }
        let layer = if value(&f, Feature::Personal) > 0.0 {
            PERSONAL
        } else {
            GLOBAL
        };
        RewriteResponse {
            text: candidate.text.clone(),
            rewritten: true,
            layer: Some(layer.to_owned()),
            score: Some(score),
            explanation: Some(format!(
                "{layer} layer, model {}: {made}served {} for {}; dense similarity {:.2}, character similarity {:.2}, phonetic similarity {:.2}{}; ranker {:.2} >= {:.2}",
                self.version,
                times(candidate.served),
                people(candidate.users),
                value(&f, Feature::Cosine),
                value(&f, Feature::Character),
                value(&f, Feature::Phonetic),
                if layer == PERSONAL {
                    "; it worked for you before".to_owned()
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

/// "1 time", "3 times".
fn times(n: u32) -> String {
    if n == 1 {
        "1 time".to_owned()
    } else {
        format!("{n} times")
    }
}

/// "1 person", "3 people".
fn people(n: u32) -> String {
    if n == 1 {
        "1 person".to_owned()
    } else {
        format!("{n} people")
    }
}

/// One candidate an online layer considered for a request ([`OnlineModel::ranked`]).
#[derive(Debug, Clone)]
pub struct Ranked<'m> {
    /// The successful request it would rewrite to (made for the request, for a template).
    pub candidate: Cow<'m, Candidate>,
    /// The template it was filled into, when it is one.
    pub template: Option<Filled<'m>>,
    /// Its features against the request.
    pub features: Features,
    /// The layer's ranker score.
    pub score: f32,
    /// Whether it is close enough in letters or sound to be a rewrite at all.
    pub clears_floor: bool,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use selflearn_signals::{SignalConfig, friction, sessions};
    use selflearn_types::testing::{sample_event, turn_saying};
    use selflearn_types::{Outcome, TurnEvent};

    use super::*;

    const REQUESTS: [&str; 8] = [
        "play imagine dragons",
        "play maj and dragons",
        "what is the weather in paris",
        "what is the weather in perris",
        "turn off the kitchen lights",
        "turn of the kitchen light",
        "set an alarm for seven",
        "set a alarm for seven",
    ];

    /// A history: (request index, served?) turns, 10 s apart, sessions split by long pauses.
    fn history() -> impl Strategy<Value = Vec<(usize, bool, bool)>> {
        prop::collection::vec((0..REQUESTS.len(), any::<bool>(), any::<bool>()), 0..14)
    }

    /// `user`'s turns of `history` (request indices as [`said`] numbers them).
    fn turns(user: &str, history: &[(usize, bool, bool)]) -> Vec<TurnEvent> {
        let mut at = 0;
        history
            .iter()
            .enumerate()
            .map(|(k, &(request, ok, pause))| {
                at += if pause { 600_000 } else { 8_000 };
                let outcome = if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                turn_saying(user, &format!("{user}-{k}"), at, said(request), outcome)
            })
            .collect()
    }

    fn learn(events: &[TurnEvent]) -> OnlineModel {
        learn_with(events, OnlineConfig::default())
    }

    /// A model with a personal index for each of a dozen people.
    pub(super) fn learned_model() -> OnlineModel {
        let history: Vec<(usize, bool, bool)> = (0..REQUESTS.len())
            .map(|r| (r, r % 2 == 0, false))
            .collect();
        let events: Vec<TurnEvent> = (0..12)
            .flat_map(|u| turns(&format!("user-{u}"), &history))
            .collect();
        learn(&events)
    }

    fn learn_with(events: &[TurnEvent], online: OnlineConfig) -> OnlineModel {
        let config = SignalConfig::default();
        let mut learner = OnlineLearner::new();
        for session in sessions(events, &config) {
            learner.observe(&session, &friction(&session, &config));
        }
        learner
            .finish(
                Encoder::random(1),
                Arc::new(Lexicon::default()),
                online,
                "test",
            )
            .unwrap()
    }

    fn ask(model: &OnlineModel, user: &str, text: &str) -> RewriteResponse {
        model.rewrite(
            &RewriteRequest {
                user_id: user.into(),
                source: None,
                device: sample_event().device,
                text: text.into(),
                timestamp_ms: Some(0),
                context: BTreeMap::new(),
            },
            Layers::GlobalAndPersonal,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Personal data of one user never influences another user's answers: with the same
        /// global layer, any change to A's history leaves every answer to B as it was.
        #[test]
        fn changing_one_users_history_never_changes_another_users_answers(
            others in history(),
            b in history(),
            a in history(),
            a_changed in history(),
            asked in prop::collection::vec(0..REQUESTS.len(), 1..6),
        ) {
            let population: Vec<TurnEvent> = ["p0", "p1"]
                .iter()
                .flat_map(|u| turns(u, &others))
                .chain(turns("b", &b))
                .collect();
            let with = |a_history: &[(usize, bool, bool)]| {
                let mut events = population.clone();
                events.extend(turns("a", a_history));
                learn(&events)
            };
            let global = with(&a);
            let first = global.with_personal_of(&with(&a));
            let second = global.with_personal_of(&with(&a_changed));
            for &request in &asked {
                prop_assert_eq!(
                    ask(&first, "b", REQUESTS[request]),
                    ask(&second, "b", REQUESTS[request])
                );
            }
        }
    }

    /// Requests only user A ever says: what would leak if A's history reached B.
    const A_ONLY: [&str; 3] = [
        "play my secret playlist",
        "play my secret playlists",
        "unlock the back door",
    ];

    /// Request `i` of the shared ones, then of A's own.
    fn said(i: usize) -> &'static str {
        REQUESTS
            .get(i)
            .copied()
            .unwrap_or_else(|| A_ONLY[i - REQUESTS.len()])
    }

    /// A history of A over every request, shared and A's own.
    fn a_history() -> impl Strategy<Value = Vec<(usize, bool, bool)>> {
        prop::collection::vec(
            (
                0..REQUESTS.len() + A_ONLY.len(),
                any::<bool>(),
                any::<bool>(),
            ),
            0..20,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Everything of A's history varies (what reaches the global counts and the rankers
        /// included); whatever it is, B is only ever rewritten to what B was served by or to
        /// a request that served at least `min_users` people, never to what A alone said.
        #[test]
        fn another_users_history_reaches_b_only_through_requests_enough_people_share(
            others in history(),
            b in history(),
            a in a_history(),
            asked in prop::collection::vec(0..REQUESTS.len() + A_ONLY.len(), 1..8),
        ) {
            let events: Vec<TurnEvent> = ["p0", "p1"]
                .iter()
                .flat_map(|u| turns(u, &others))
                .chain(turns("b", &b))
                .chain(turns("a", &a))
                .collect();
            let model = learn(&events);
            let own: Vec<String> = model.personal.get("b").map(|i| i.candidates().iter().map(|c| c.text.clone()).collect()).unwrap_or_default();
            for &request in &asked {
                let text = said(request);
                let answer = ask(&model, "b", text);
                if !answer.rewritten {
                    continue;
                }
                prop_assert!(!A_ONLY.contains(&answer.text.as_str()), "A's own request reached B: {answer:?}");
                let shared = model.global.candidates().iter().any(|c| c.text == answer.text && c.users >= model.config.min_users);
                prop_assert!(own.contains(&answer.text) || shared, "{answer:?}");
            }
        }

        /// One user alone moves no global count: whatever A says, however often, a request
        /// enters the global layer only with another person's support, and A's own requests
        /// never do.
        #[test]
        fn one_user_alone_cannot_put_a_request_in_the_global_layer(
            others in history(),
            a in a_history(),
            repeats in 1usize..4,
        ) {
            let mut alone = Vec::new();
            for copy in 0..repeats {
                alone.extend(turns("a", &a).into_iter().map(|mut e| {
                    e.event_id = format!("{}-{copy}", e.event_id);
                    e.timestamp_ms += copy as i64 * 86_400_000;
                    e
                }));
            }
            prop_assert_eq!(learn(&alone).global_len(), 0);
            // With one other person, only what that person was also served by.
            let other = turns("p0", &others);
            let theirs: Vec<String> = learn(&other)
                .personal
                .get("p0")
                .map(|i| i.candidates().iter().map(|c| c.text.clone()).collect())
                .unwrap_or_default();
            let mut both = other;
            both.extend(alone);
            let model = learn(&both);
            for c in model.global.candidates() {
                prop_assert!(theirs.contains(&c.text), "{c:?}");
                prop_assert!(c.users >= 2);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The answer cache never changes an answer: whoever asks, however the request is
        /// written, whatever was asked before and evicted since.
        #[test]
        fn a_cached_model_answers_every_request_as_the_model_does(
            others in history(),
            a in history(),
            asked in prop::collection::vec(
                (0..REQUESTS.len(), prop::sample::select(vec!["a", "p0", "newcomer"]), any::<bool>()),
                1..30,
            ),
            // Bytes: none, room for one or two entries (evictions all the time), or plenty.
            capacity in prop::sample::select(vec![0u64, 300, 700, 1 << 20]),
        ) {
            let events: Vec<TurnEvent> = ["p0", "p1"]
                .iter()
                .flat_map(|u| turns(u, &others))
                .chain(turns("a", &a))
                .collect();
            let model = learn(&events);
            let cached = [Layers::Global, Layers::GlobalAndPersonal]
                .map(|layers| crate::cache::CachedModel::new(model.clone(), layers, capacity));
            for (request, user, shout) in asked {
                let text = if shout {
                    REQUESTS[request].to_uppercase()
                } else {
                    REQUESTS[request].to_owned()
                };
                let request = RewriteRequest {
                    user_id: user.into(),
                    source: None,
                    device: sample_event().device,
                    text,
                    timestamp_ms: Some(0),
                    context: BTreeMap::new(),
                };
                for cached in &cached {
                    prop_assert_eq!(
                        selflearn_types::Rewriter::rewrite(cached, &request),
                        model.rewrite(&request, cached.layers())
                    );
                }
            }
        }
    }

    #[test]
    fn a_misheard_request_is_rewritten_to_what_worked_and_a_working_one_left_alone() {
        let mut events = Vec::new();
        // Enough people that the users held apart to calibrate the threshold (one in five)
        // show the repair working.
        for u in 0..30 {
            // Fail with the misheard form, then succeed with the right one; ask the weather.
            events.extend(turns(
                &format!("p{u}"),
                &[
                    (1, false, true),
                    (0, true, false),
                    (2, true, true),
                    (6, true, true),
                ],
            ));
        }
        let model = learn(&events);
        let answer = ask(&model, "newcomer", "play madge and dragons");
        assert!(answer.rewritten, "{answer:?}");
        assert_eq!(answer.text, "play imagine dragons");
        assert_eq!(answer.layer.as_deref(), Some(GLOBAL));
        let why = answer.explanation.unwrap();
        assert!(why.contains("served 30 times for 30 people"), "{why}");
        assert!(!ask(&model, "newcomer", "what is the weather in paris").rewritten);
        assert!(!ask(&model, "p0", "play imagine dragons").rewritten);
    }

    #[test]
    fn a_rewrite_repairs_a_mishearing_and_never_swaps_in_another_request() {
        let say = |user: &str, k: usize, at: i64, text: &str, ok: bool| {
            let outcome = if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            turn_saying(user, &format!("{user}-{k}"), at, text, outcome)
        };
        let mut events = Vec::new();
        for u in 0..30 {
            let user = format!("p{u}");
            // A mishearing repaired, and a request given up for another one.
            events.push(say(&user, 0, 0, "play maj and dragons", false));
            events.push(say(&user, 1, 8_000, "play imagine dragons", true));
            events.push(say(
                &user,
                2,
                600_000,
                "i want to hear festival playlist",
                false,
            ));
            events.push(say(&user, 3, 608_000, "i want to hear purple haze", true));
            events.push(say(
                &user,
                4,
                1_200_000,
                "put my dinner with love star on the calendar for today",
                false,
            ));
            events.push(say(
                &user,
                5,
                1_208_000,
                "what is my dinner at red lobster at nine o'clock",
                true,
            ));
        }
        let swapped = [
            "i want to hear festival playlist",
            "put my dinner with love star on the calendar for today",
        ];
        // Without the floor the ranker takes the pairs people moved along, whatever they say.
        let unguarded = learn_with(
            &events,
            OnlineConfig {
                min_similarity: 0.0,
                ..OnlineConfig::default()
            },
        );
        assert!(
            swapped
                .iter()
                .any(|s| ask(&unguarded, "newcomer", s).rewritten),
            "the test needs a ranker that would swap requests"
        );
        let model = learn(&events);
        for text in swapped {
            let answer = ask(&model, "newcomer", text);
            assert!(!answer.rewritten, "{text} became {answer:?}");
            let own = ask(&model, "p0", text);
            assert!(!own.rewritten, "{text} became {own:?} for its own user");
        }
        assert_eq!(
            ask(&model, "newcomer", "play madge and dragons").text,
            "play imagine dragons"
        );
    }

    #[test]
    fn a_template_repairs_a_request_nobody_was_served_by_and_says_so() {
        let with_artist = |mut turn: TurnEvent, artist: &str| {
            turn.nlu = Some(selflearn_types::Nlu {
                domain: None,
                intent: "play_music".into(),
                slots: vec![selflearn_types::Slot {
                    name: "artist".into(),
                    value: artist.into(),
                }],
                confidence: Some(0.9),
            });
            turn
        };
        let mut events = Vec::new();
        for u in 0..30 {
            let user = format!("p{u}");
            let at = |k: i64| k * 600_000;
            let say = |k: i64, text: &str, ok: bool| {
                let outcome = if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                turn_saying(&user, &format!("{user}-{k}"), at(k), text, outcome)
            };
            events.push(with_artist(
                say(0, "play some taylor swift", true),
                "taylor swift",
            ));
            events.push(say(1, "play maj and dragons", false));
            let mut worked = say(1, "play imagine dragons", true);
            worked.event_id = format!("{user}-1b");
            worked.timestamp_ms += 8_000;
            events.push(with_artist(worked, "imagine dragons"));
        }
        let asked = "play some imagine dragon";
        let answer = ask(&learn(&events), "newcomer", asked);
        assert_eq!(answer.text, "play some imagine dragons", "{answer:?}");
        let why = answer.explanation.unwrap();
        assert!(
            why.contains("a template: \"play some {artist}\" served 30 times for 30 people")
                && why.contains("filled with \"imagine dragons\" (served 30 people)")
                && why.contains("for the heard \"imagine dragon\""),
            "{why}"
        );
        let without = learn_with(
            &events,
            OnlineConfig {
                templates: false,
                ..OnlineConfig::default()
            },
        );
        assert_ne!(
            ask(&without, "newcomer", asked).text,
            "play some imagine dragons"
        );
    }

    #[test]
    fn without_reformulations_to_learn_from_nothing_is_rewritten() {
        let mut events = Vec::new();
        for user in ["x", "y", "z"] {
            events.extend(turns(user, &[(0, true, true), (2, true, true)]));
        }
        let model = learn(&events);
        assert!(!ask(&model, "newcomer", "play imagine dragon").rewritten);
    }

    #[test]
    fn a_user_absent_from_the_log_is_in_no_index_and_no_count() {
        let mut events = Vec::new();
        for user in ["x", "y", "z"] {
            events.extend(turns(user, &[(0, true, true), (4, true, true)]));
        }
        let all = learn(&events);
        assert!(all.personal_users().any(|u| u == "x"));
        assert_eq!(all.global_candidate(REQUESTS[0]).unwrap().users, 3);
        events.retain(|e| e.user_id != "x");
        let without = learn(&events);
        assert!(without.personal_users().all(|u| u != "x"));
        assert_eq!(without.global_candidate(REQUESTS[0]).unwrap().users, 2);
    }

    /// The same user id at two installations is two people: each one's personal index answers
    /// only a request from its own source, never one from another source or from none.
    #[test]
    fn a_personal_index_answers_only_its_own_source() {
        let mut events = Vec::new();
        for (source, user) in [("home-1", "alice"), ("home-2", "alice"), ("home-2", "bob")] {
            for mut event in turns(user, &[(0, true, true), (2, true, true)]) {
                event.event_id = format!("{source}-{}", event.event_id);
                event.source = Some(source.to_owned());
                events.push(event);
            }
        }
        let model = learn(&events);
        let mut people: Vec<&str> = model.personal_users().collect();
        people.sort_unstable();
        let key = |source: &str, user: &str| person_key(user, Some(source)).into_owned();
        assert_eq!(
            people,
            [
                key("home-1", "alice"),
                key("home-2", "alice"),
                key("home-2", "bob")
            ]
        );
        // Distinct people in the global counts: two alices and bob.
        assert_eq!(model.global_candidate(REQUESTS[0]).unwrap().users, 3);
        let asked = |source: Option<&str>, user: &str| {
            model
                .answer_key(
                    &RewriteRequest {
                        user_id: user.into(),
                        source: source.map(str::to_owned),
                        device: sample_event().device,
                        text: REQUESTS[1].into(),
                        timestamp_ms: Some(0),
                        context: BTreeMap::new(),
                    },
                    Layers::GlobalAndPersonal,
                )
                .user
        };
        assert_eq!(asked(Some("home-1"), "alice"), Some(key("home-1", "alice")));
        assert_eq!(asked(Some("home-3"), "alice"), None);
        assert_eq!(asked(None, "alice"), None);
        assert_eq!(asked(Some("home-1"), "bob"), None);
        assert_eq!(asked(Some("home-2"), "bob"), Some(key("home-2", "bob")));
    }

    #[test]
    fn explanations_count_one_person_and_many_people() {
        assert_eq!(
            (people(1), people(3)),
            ("1 person".into(), "3 people".into())
        );
        assert_eq!((times(1), times(2)), ("1 time".into(), "2 times".into()));
    }

    #[test]
    fn an_artifact_round_trips_and_a_broken_one_is_refused() {
        let mut events = Vec::new();
        for user in ["x", "y"] {
            events.extend(turns(
                user,
                &[(1, false, true), (0, true, false), (2, true, true)],
            ));
        }
        let model = learn(&events);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("online.json");
        model.save(&path).unwrap();
        let loaded = OnlineModel::load(&path, Encoder::random(1)).unwrap();
        assert_eq!(loaded.artifact(), model.artifact());
        // Served with another encoder than it was learned with, it is refused, naming both.
        let err = OnlineModel::load(&path, Encoder::random(2)).unwrap_err();
        assert!(
            matches!(&err, OnlineError::OtherEncoder { learned_with, given, .. }
                if *learned_with == Encoder::random(1).digest()
                    && *given == Encoder::random(2).digest()),
            "{err}"
        );
        fs_err::write(&path, "{\"format\": 1}").unwrap();
        let err = OnlineModel::load(&path, Encoder::random(1)).unwrap_err();
        assert!(err.to_string().contains("invalid online artifact"), "{err}");
    }

    #[test]
    fn the_answer_cache_stays_within_its_bytes_however_long_the_requests() {
        let model = learn(&turns("p0", &[(1, false, true), (0, true, false)]));
        let budget = 64 * 1024;
        let cached = crate::cache::CachedModel::new(model, Layers::GlobalAndPersonal, budget);
        for i in 0..300 {
            let request = RewriteRequest {
                user_id: format!("user-{i}"),
                source: None,
                device: sample_event().device,
                text: format!("{i} {}", "play something long ".repeat(50)),
                timestamp_ms: None,
                context: Default::default(),
            };
            selflearn_types::Rewriter::rewrite(&cached, &request);
            assert!(
                cached.cached_bytes() <= budget,
                "{} after {i}",
                cached.cached_bytes()
            );
        }
        assert!(cached.cached_bytes() > 0, "it remembers what fits");
    }
}
