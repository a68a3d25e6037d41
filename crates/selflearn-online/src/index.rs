//! Indices of successful requests. Global: what worked, aggregated over users, each request
//! kept only if at least `min_users` distinct people were served by it. Personal: one per user,
//! from that user's own served requests only.
//!
//! Search is exact (a fixed-point dot product with every candidate, the best few reranked by
//! exact cosine) up to [`APPROXIMATE_ABOVE`] candidates: a whole request takes about 0.7 ms at
//! 100k on one core (`selflearn bench online`). Above that, a full scan grows past the
//! 2 ms budget (a float scan of 1M took 34 ms), so the index answers from an inverted file
//! ([`crate::ivf`]) instead: at 1M candidates it builds in seconds where the HNSW graphs of
//! `instant-distance` and `hnsw_rs` took minutes, and answers faster at the same recall
//! (`selflearn-bench ann`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use selflearn_types::TurnEvent;
use serde::{Deserialize, Serialize};

use crate::encoder::{DIM, Encoder, dot};
use crate::ivf::{Ivf, IvfConfig};
use selflearn_signals::received_form;
use selflearn_types::sensitive::{Meanings, SensitiveConfig};

/// What the logs say about one request that worked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// The request (normalised).
    pub text: String,
    /// Turns it served.
    pub served: u32,
    /// Distinct people it served (1 in a personal index).
    pub users: u32,
    /// Turns it served per device kind.
    pub by_device: BTreeMap<String, u32>,
    /// Turns it served per hour of the day (UTC).
    pub by_hour: [u32; 24],
}

impl Candidate {
    /// Share of its served turns on this device kind.
    pub fn device_share(&self, kind: &str) -> f32 {
        self.by_device.get(kind).copied().unwrap_or(0) as f32 / self.served.max(1) as f32
    }

    /// Share of its served turns within two hours of `hour`.
    pub fn hour_share(&self, hour: usize) -> f32 {
        let near: u32 = (0..5).map(|d| self.by_hour[(hour + 24 + d - 2) % 24]).sum();
        near as f32 / self.served.max(1) as f32
    }

    /// Adds another count of the same request (its people are counted apart).
    pub(crate) fn absorb(&mut self, other: &Candidate) {
        self.served += other.served;
        for (kind, n) in &other.by_device {
            *self.by_device.entry(kind.clone()).or_default() += n;
        }
        for (h, n) in other.by_hour.iter().enumerate() {
            self.by_hour[h] += n;
        }
    }

    pub(crate) fn count(&mut self, turn: &TurnEvent) {
        self.served += 1;
        *self
            .by_device
            .entry(turn.device.kind.as_str().to_owned())
            .or_default() += 1;
        self.by_hour[hour_of(turn.timestamp_ms)] += 1;
    }
}

/// The UTC hour of a timestamp.
pub fn hour_of(timestamp_ms: i64) -> usize {
    (timestamp_ms.rem_euclid(86_400_000) / 3_600_000) as usize
}

/// Served turns accumulated from the log, per user and request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Successes {
    per_user: BTreeMap<String, BTreeMap<String, Candidate>>,
    /// Each person's provenance (`TurnEvent::provenance`): their source, or themselves.
    provenance: BTreeMap<String, String>,
    /// What NLU understood each request as when it served.
    meanings: BTreeMap<String, Meanings>,
}

/// What a request must have behind it to enter the global index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Support {
    /// Distinct people it served.
    pub min_users: u32,
    /// Distinct sources among them (a person without a source counts as their own).
    pub min_sources: u32,
    /// Largest share of its served turns one source may account for (1: no limit).
    pub max_source_share: f64,
}

impl Support {
    /// At least `min_users` people, from as many sources (people without a source are their
    /// own), with no limit on one source's share.
    pub fn people(min_users: u32) -> Self {
        Self {
            min_users,
            min_sources: min_users,
            max_source_share: 1.0,
        }
    }
}

impl Successes {
    /// Counts a turn that served its user.
    pub fn observe(&mut self, turn: &TurnEvent) {
        let text = received_form(turn);
        if text.is_empty() {
            return;
        }
        self.meanings.entry(text.clone()).or_default().count(turn);
        let person = turn.person().into_owned();
        self.provenance
            .entry(person.clone())
            .or_insert_with(|| turn.provenance().into_owned());
        let candidate = self
            .per_user
            .entry(person)
            .or_default()
            .entry(text.clone())
            .or_insert_with(|| Candidate {
                text,
                users: 1,
                ..Candidate::default()
            });
        candidate.count(turn);
    }

    /// Adds another accumulation's counts.
    pub fn merge(&mut self, other: Successes) {
        for (person, provenance) in other.provenance {
            self.provenance.entry(person).or_insert(provenance);
        }
        for (text, meanings) in other.meanings {
            self.meanings.entry(text).or_default().absorb(&meanings);
        }
        for (user, requests) in other.per_user {
            let mine = self.per_user.entry(user).or_default();
            for (text, candidate) in requests {
                match mine.get_mut(&text) {
                    Some(c) => c.absorb(&candidate),
                    None => {
                        mine.insert(text, candidate);
                    }
                }
            }
        }
    }

    /// The global candidates: requests with `support` behind them, but for the sensitive ones
    /// `sensitive` does not approve (they answer only their own people, from personal indices).
    pub fn global(&self, support: Support, sensitive: &SensitiveConfig) -> Vec<Candidate> {
        type Backing<'a> = (Candidate, BTreeSet<&'a str>, BTreeMap<&'a str, u32>);
        let mut merged: BTreeMap<&str, Backing<'_>> = BTreeMap::new();
        for (user, requests) in &self.per_user {
            let provenance = self
                .provenance
                .get(user)
                .map_or(user.as_str(), String::as_str);
            for (text, c) in requests {
                let (m, users, sources) = merged.entry(text).or_insert_with(|| {
                    (
                        Candidate {
                            text: text.clone(),
                            ..Candidate::default()
                        },
                        BTreeSet::new(),
                        BTreeMap::new(),
                    )
                });
                m.absorb(c);
                users.insert(user);
                *sources.entry(provenance).or_default() += c.served;
            }
        }
        merged
            .into_values()
            .filter(|(c, users, sources)| {
                let top = sources.values().copied().max().unwrap_or(0);
                let meaning = self.meanings.get(&c.text).and_then(Meanings::main);
                users.len() as u32 >= support.min_users
                    && sources.len() as u32 >= support.min_sources
                    && f64::from(top) <= support.max_source_share * f64::from(c.served.max(1))
                    && sensitive.allows(None, &c.text, meaning)
            })
            .map(|(mut c, users, _)| {
                c.users = users.len() as u32;
                c
            })
            .collect()
    }

    /// One user's own candidates.
    pub fn personal(&self, user_id: &str) -> Vec<Candidate> {
        self.per_user
            .get(user_id)
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Users with any served request.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.per_user.keys().map(String::as_str)
    }
}

/// Above this many candidates, search is approximate (HNSW) instead of exact.
pub const APPROXIMATE_ABOVE: usize = 100_000;

/// Lists an approximate index scans per search (of 8,000 at 1M candidates): chosen with
/// `selflearn-bench ann` as the fewest that keep recall@10 against an exact scan above 0.95.
pub const IVF_PROBES: usize = 128;

/// Candidates and their encodings, searchable by encoding.
#[derive(Debug, Clone, Default)]
pub struct Index {
    candidates: Vec<Candidate>,
    encodings: Vec<f32>,
    /// The encodings in fixed point ([`Quantised`]), scanned by exact search.
    quantised: Quantised,
    by_text: HashMap<String, usize>,
    /// The inverted file answering searches above [`APPROXIMATE_ABOVE`] candidates.
    ivf: Option<Arc<Ivf>>,
}

/// Encodings in fixed point: 16-bit integers, each encoding with its own scale (its largest
/// magnitude maps to 2047). Twelve bits keep the sum of 64 products within 32 bits, and the
/// integer dot product compiles to `pmaddwd` even in the portable (SSE2) build, which
/// multiplies and adds eight pairs at once; it also reads half the bytes of the f32 encodings.
/// Measured by `selflearn bench online`: 100k candidates, p50 1,044 µs with f32 and 676 µs with
/// this (8-bit values were slower than f32: SSE2 has no byte multiply). Rounding moves a cosine
/// by about 0.001, so the scan keeps a few extra candidates and their exact cosines decide.
#[derive(Debug, Clone, Default)]
struct Quantised {
    values: Vec<i16>,
    /// Per encoding: the value of one unit.
    scales: Vec<f32>,
}

impl Quantised {
    /// Appends one encoding.
    fn push(&mut self, encoding: &[f32]) {
        let (values, scale) = quantise(encoding);
        self.values.extend(values);
        self.scales.push(scale);
    }
}

/// An encoding in fixed point and the scale that restores it.
pub(crate) fn quantise(encoding: &[f32]) -> (Vec<i16>, f32) {
    let largest = encoding.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest / 2047.0 } else { 1.0 };
    let values = encoding
        .iter()
        .map(|x| (x / scale).round().clamp(-2047.0, 2047.0) as i16)
        .collect();
    (values, scale)
}

/// Dot product of two fixed-point encodings, in 32-bit sums over independent lanes (so the
/// compiler vectorises it).
pub(crate) fn dot_fixed(a: &[i16], b: &[i16]) -> i32 {
    let mut lanes = [0i32; 16];
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for i in 0..16 {
            lanes[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let tail: i32 = a
        .chunks_exact(16)
        .remainder()
        .iter()
        .zip(b.chunks_exact(16).remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    lanes.iter().sum::<i32>() + tail
}

/// Up to this many candidates, exact search reads the f32 encodings directly: the scan is short
/// and the fixed-point copy is not worth its memory (personal indices are mostly this small,
/// and there are as many of them as people).
const FIXED_POINT_ABOVE: usize = 1024;

/// The `k` highest scores, best first; ties keep the earlier index first.
pub(crate) fn top(scores: impl Iterator<Item = (usize, f32)>, k: usize) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, score) in scores {
        if best.len() < k || score > best[best.len() - 1].1 {
            let at = best.partition_point(|(_, s)| *s >= score);
            best.insert(at, (i, score));
            best.truncate(k);
        }
    }
    best
}

/// Candidates kept by the fixed-point scan for every one asked for, before exact cosines rerank
/// them.
const RERANK_FACTOR: usize = 3;

impl Index {
    /// Encodes the candidates; above [`APPROXIMATE_ABOVE`] also builds the inverted file.
    pub fn build(candidates: Vec<Candidate>, encoder: &Encoder) -> Self {
        Self::build_with(candidates, encoder, APPROXIMATE_ABOVE)
    }

    /// As [`Index::build`], with the size above which search is approximate.
    pub fn build_with(
        candidates: Vec<Candidate>,
        encoder: &Encoder,
        approximate_above: usize,
    ) -> Self {
        // Only mid-sized indices scan in fixed point: the inverted file answers large ones, and small
        // ones (most personal indices) scan f32, where the copy would only take memory.
        let fixed_point = (FIXED_POINT_ABOVE + 1..=approximate_above).contains(&candidates.len());
        let mut encodings = Vec::with_capacity(candidates.len() * DIM);
        let mut quantised = Quantised::default();
        for c in &candidates {
            let encoding = encoder.encode(&c.text);
            if fixed_point {
                quantised.push(&encoding);
            }
            encodings.extend(encoding);
        }
        let by_text = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.text.clone(), i))
            .collect();
        let ivf = (candidates.len() > approximate_above).then(|| {
            let config = IvfConfig {
                probes: IVF_PROBES,
                ..IvfConfig::default()
            };
            Arc::new(Ivf::build(&encodings, DIM, config))
        });
        Self {
            candidates,
            encodings,
            quantised,
            by_text,
            ivf,
        }
    }

    /// Whether search is approximate.
    pub fn is_approximate(&self) -> bool {
        self.ivf.is_some()
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether it has no candidate.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The candidates, in index order.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The candidate with this exact text.
    pub fn get(&self, text: &str) -> Option<&Candidate> {
        self.by_text.get(text).map(|&i| &self.candidates[i])
    }

    /// The `k` candidates most similar to an encoding, best first, with their cosine.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(&Candidate, f32)> {
        if let Some(ivf) = &self.ivf {
            return ivf
                .search(query, &self.encodings, k)
                .into_iter()
                .map(|(i, cosine)| (&self.candidates[i], cosine))
                .collect();
        }
        if self.quantised.scales.is_empty() {
            let scores = self.encodings.chunks_exact(DIM).map(|e| dot(query, e));
            return self.best(scores.enumerate(), k);
        }
        // Scan in fixed point for a few times `k` candidates, then rank those by exact cosine.
        let (query_fixed, _) = quantise(query);
        let rows = self.quantised.values.chunks_exact(DIM);
        let approximate = rows
            .zip(&self.quantised.scales)
            .map(|(row, scale)| dot_fixed(&query_fixed, row) as f32 * scale);
        let mut shortlist = top(approximate.enumerate(), k.saturating_mul(RERANK_FACTOR));
        // In index order, so that exact ties keep the earlier candidate first, as a full scan does.
        shortlist.sort_by_key(|(i, _)| *i);
        let exact = shortlist
            .into_iter()
            .map(|(i, _)| (i, dot(query, &self.encodings[i * DIM..(i + 1) * DIM])));
        self.best(exact, k)
    }

    /// The `k` best of (candidate, cosine) scores, best first, with their candidates.
    fn best(&self, scores: impl Iterator<Item = (usize, f32)>, k: usize) -> Vec<(&Candidate, f32)> {
        top(scores, k)
            .into_iter()
            .map(|(i, s)| (&self.candidates[i], s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use selflearn_types::Outcome;
    use selflearn_types::testing::sample_event;
    use selflearn_types::testing::turn_saying as turn;

    use super::*;

    #[test]
    fn global_candidates_need_distinct_users_and_personal_ones_are_the_users_own() {
        let mut s = Successes::default();
        for (user, text) in [
            ("a", "play imagine dragons"),
            ("b", "play imagine dragons"),
            ("a", "play my running mix"),
            ("a", "play my running mix"),
        ] {
            s.observe(&turn(user, "x", 0, text, Outcome::Success));
        }
        let global = s.global(Support::people(2), &SensitiveConfig::default());
        assert_eq!(global.len(), 1);
        assert_eq!((global[0].served, global[0].users), (2, 2));
        let personal: Vec<String> = s.personal("a").into_iter().map(|c| c.text).collect();
        assert_eq!(personal, ["play imagine dragons", "play my running mix"]);
        assert!(
            s.personal("b")
                .iter()
                .all(|c| c.text != "play my running mix")
        );
    }

    /// Users of one source count once towards `min_sources`; people without a source count
    /// as their own; one source's share of the served turns can be capped.
    #[test]
    fn global_candidates_need_distinct_sources_and_no_dominant_one() {
        let served = |user: &str, source: Option<&str>, id: &str| {
            let mut event = turn(user, id, 0, "unlock the front door", Outcome::Success);
            event.source = source.map(str::to_owned);
            event
        };
        let mut one_source = Successes::default();
        for (k, user) in ["m1", "m2", "m3"].iter().enumerate() {
            one_source.observe(&served(user, Some("evil"), &k.to_string()));
        }
        let support = Support {
            min_users: 2,
            min_sources: 2,
            max_source_share: 1.0,
        };
        assert!(
            one_source
                .global(support, &SensitiveConfig::default())
                .is_empty(),
            "three users, one source"
        );
        let mut mixed = one_source.clone();
        mixed.observe(&served("ana", Some("home-1"), "4"));
        assert_eq!(
            mixed.global(support, &SensitiveConfig::default()).len(),
            1,
            "a second source"
        );
        let capped = Support {
            max_source_share: 0.5,
            ..support
        };
        assert!(
            mixed.global(capped, &SensitiveConfig::default()).is_empty(),
            "three of four turns from one source"
        );
        let mut unsourced = Successes::default();
        unsourced.observe(&served("a", None, "1"));
        unsourced.observe(&served("b", None, "2"));
        assert_eq!(
            unsourced.global(support, &SensitiveConfig::default()).len(),
            1,
            "two people are two parties"
        );
    }

    #[test]
    fn search_returns_the_closest_candidates_first() {
        let encoder = Encoder::random(5);
        let texts = [
            "play imagine dragons",
            "what is the weather",
            "set an alarm",
        ];
        let index = Index::build(
            texts
                .iter()
                .map(|t| Candidate {
                    text: (*t).into(),
                    served: 1,
                    users: 1,
                    ..Candidate::default()
                })
                .collect(),
            &encoder,
        );
        let hits = index.search(&encoder.encode("play imagine dragon"), 2);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].0.text, "play imagine dragons");
        assert!(hits[0].1 >= hits[1].1);
        assert!(index.get("set an alarm").is_some());
    }

    #[test]
    fn the_fixed_point_scan_returns_the_exact_nearest_candidates() {
        let encoder = Encoder::random(4);
        let candidates: Vec<Candidate> = (0..2000)
            .map(|i| Candidate {
                text: format!("turn on light {i} in room {}", i % 37),
                served: 1,
                users: 1,
                ..Candidate::default()
            })
            .collect();
        let index = Index::build(candidates.clone(), &encoder);
        for i in 0..100 {
            let query = encoder.encode(&format!("turn of light {} in rom {}", i * 7, i % 37));
            let mut exact: Vec<(&str, f32)> = candidates
                .iter()
                .map(|c| (c.text.as_str(), dot(&query, &encoder.encode(&c.text))))
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let found = index.search(&query, 5);
            let texts: Vec<&str> = found.iter().map(|(c, _)| c.text.as_str()).collect();
            let wanted: Vec<&str> = exact[..5].iter().map(|(t, _)| *t).collect();
            assert_eq!(texts, wanted, "query {i}");
            // The cosines returned are the exact ones.
            for ((_, got), (_, want)) in found.iter().zip(&exact) {
                assert!((got - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn approximate_search_finds_what_exact_search_finds() {
        let encoder = Encoder::random(9);
        let texts: Vec<String> = (0..3000)
            .map(|i| format!("play song number {i} by artist {}", i % 97))
            .collect();
        let candidates: Vec<Candidate> = texts
            .iter()
            .map(|t| Candidate {
                text: t.clone(),
                served: 1,
                users: 1,
                ..Candidate::default()
            })
            .collect();
        let exact = Index::build_with(candidates.clone(), &encoder, usize::MAX);
        let approximate = Index::build_with(candidates, &encoder, 1000);
        assert!(approximate.is_approximate() && !exact.is_approximate());
        let queries: Vec<Vec<f32>> = (0..200)
            .map(|i| encoder.encode(&format!("play song numbr {} by artist {}", i * 13, i % 97)))
            .collect();
        let agree = queries
            .iter()
            .filter(|q| exact.search(q, 1)[0].0.text == approximate.search(q, 1)[0].0.text)
            .count();
        assert!(agree >= 190, "top-1 agreed on {agree} of 200");
        let hits = approximate.search(&queries[0], 5);
        assert_eq!(hits.len(), 5);
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn sensitive_requests_stay_out_of_the_global_layer_unless_approved() {
        let mut s = Successes::default();
        for user in ["a", "b", "c"] {
            for (text, intent) in [
                ("unlock the front door", "HassLockUnlock"),
                ("play jazz", "play_music"),
            ] {
                let mut turn = sample_event();
                turn.user_id = user.into();
                turn.asr.text = text.into();
                let nlu = turn.nlu.as_mut().unwrap();
                (nlu.domain, nlu.intent) = (None, intent.into());
                s.observe(&turn);
            }
        }
        let texts = |sensitive: &SensitiveConfig| -> Vec<String> {
            s.global(Support::people(2), sensitive)
                .into_iter()
                .map(|c| c.text)
                .collect()
        };
        assert_eq!(texts(&SensitiveConfig::default()), ["play jazz"]);
        let approved = SensitiveConfig {
            approved: vec![selflearn_types::sensitive::Approved {
                source: None,
                target: "unlock the front door".into(),
            }],
            ..SensitiveConfig::default()
        };
        assert_eq!(texts(&approved), ["play jazz", "unlock the front door"]);
        assert_eq!(
            s.personal("a").len(),
            2,
            "a person's own history keeps both"
        );
    }
}
