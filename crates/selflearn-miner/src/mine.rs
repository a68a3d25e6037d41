//! Mining rewrites from reformulation sessions: build the chain from sessions and their friction
//! signals, solve it, and keep, for each utterance form that usually fails, the reformulation
//! people moved to that most often ends in success.

use std::collections::{BTreeMap, HashMap, HashSet};

use selflearn_signals::{Session, TurnSignals, normalise, received_form};
use selflearn_types::sensitive::{Meanings, SensitiveConfig};
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, Target};

/// Support and confidence thresholds of the miner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerConfig {
    /// Times a source form must have been said.
    pub min_source_count: u32,
    /// Times people must have moved from the source to the target.
    pub min_pair_count: u32,
    /// Distinct users who moved from the source to the target: a global rewrite is never
    /// learned from one person alone.
    pub min_users: u32,
    /// Distinct sources (assistant installations; a person without one counts as their own)
    /// among them: one installation cannot teach everyone a rewrite, however many user ids it
    /// invents.
    pub min_sources: u32,
    /// Largest share of the reformulations behind a rewrite that one source may contribute
    /// (1: no limit).
    pub max_source_share: f64,
    /// A source is rewritten only if saying it directly succeeded at most this often.
    pub max_source_success: f64,
    /// A target is used only if saying it directly succeeded at least this often.
    pub min_target_success: f64,
    /// Least gain in direct success from source to target.
    pub min_gain: f64,
    /// Turns a deployed rewrite must have fired on before it can be rolled back.
    pub min_rollback_turns: u32,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            min_source_count: 2,
            min_pair_count: 2,
            min_users: 2,
            min_sources: 2,
            max_source_share: 1.0,
            max_source_success: 0.5,
            min_target_success: 0.6,
            min_gain: 0.3,
            min_rollback_turns: 3,
        }
    }
}

/// Who moved from one form to another, and how often: the support a rewrite needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Evidence {
    /// Reformulations seen.
    count: u32,
    /// Distinct people who made them.
    users: HashSet<String>,
    /// Reformulations per source (see `TurnEvent::provenance`).
    by_provenance: BTreeMap<String, u32>,
}

impl Evidence {
    fn add(&mut self, person: &str, provenance: &str) {
        self.count += 1;
        self.users.insert(person.to_owned());
        *self.by_provenance.entry(provenance.to_owned()).or_default() += 1;
    }

    fn absorb(&mut self, other: Evidence) {
        self.count += other.count;
        self.users.extend(other.users);
        for (provenance, count) in other.by_provenance {
            *self.by_provenance.entry(provenance).or_default() += count;
        }
    }

    /// The largest share of the reformulations one source made.
    fn top_share(&self) -> f64 {
        let top = self.by_provenance.values().copied().max().unwrap_or(0);
        f64::from(top) / f64::from(self.count.max(1))
    }
}

/// One mined rewrite with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteEntry {
    /// The utterance form to rewrite (normalised).
    pub source: String,
    /// What to send to NLU instead (normalised).
    pub target: String,
    /// Times the source was said.
    pub source_count: u32,
    /// Times people reformulated the source into the target.
    pub pair_count: u32,
    /// Distinct users who did.
    pub pair_users: u32,
    /// How often saying the source directly ended in success (R[source][success]).
    pub source_success: f64,
    /// How often saying the target directly ended in success.
    pub target_success: f64,
    /// Probability that a path from the source ends in success at the target
    /// (N[source][target] · R[target][success]): what ranks the candidates.
    pub path_success: f64,
    /// What NLU most often understood the target as when it worked (`domain.intent`): what
    /// decides whether the rewrite is sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_meaning: Option<String>,
}

/// What became of one deployed rewrite: turns it fired on, and how many of them still looked
/// defective.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Fired {
    turns: u32,
    likely_defects: u32,
}

/// A rewrite dropped because people met more friction with it than without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolledBack {
    /// The heard form that was rewritten.
    pub source: String,
    /// What it was rewritten to.
    pub target: String,
    /// Turns the rewrite fired on.
    pub rewritten_turns: u32,
    /// Share of those turns with friction (likely defective).
    pub friction_rewritten: f64,
    /// Turns of the source that were not rewritten.
    pub unrewritten_turns: u32,
    /// Share of those with friction.
    pub friction_without: f64,
}

/// What one `learn` produced: the rewrites to serve and the ones it rolled back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mined {
    /// Rewrites that pass every threshold and were not rolled back.
    pub entries: Vec<RewriteEntry>,
    /// Rewrites toward sensitive requests, held for an operator's approval.
    pub held: Vec<RewriteEntry>,
    /// Rewrites that fired and did worse than no rewrite.
    pub rolled_back: Vec<RolledBack>,
}

/// Accumulates sessions one at a time (so a log of any size streams through it per user) and
/// then mines: the chain's states and counts, and the record of rewrites already deployed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Miner {
    /// Not saved: rebuilt from `forms` the first time a read-back miner needs it.
    #[serde(skip)]
    index: HashMap<String, usize>,
    forms: Vec<String>,
    said: Vec<u32>,
    pairs: BTreeMap<(usize, usize), Evidence>,
    chain: Chain,
    /// Per state: turns of it that reached NLU unrewritten, and how many looked defective.
    unrewritten: Vec<Fired>,
    /// Per (heard form, rewritten form) of a precomputed rewrite that fired.
    fired: BTreeMap<(usize, usize), Fired>,
    /// Per state: what NLU understood its turns that worked as.
    meanings: Vec<Meanings>,
}

/// The layer name precomputed rewrites carry in turn events.
pub const LAYER: &str = "precomputed";

impl Miner {
    /// An empty miner.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&mut self, form: String) -> usize {
        if self.index.len() != self.forms.len() {
            self.index = self
                .forms
                .iter()
                .enumerate()
                .map(|(i, form)| (form.clone(), i))
                .collect();
        }
        if let Some(&i) = self.index.get(&form) {
            return i;
        }
        let i = self.chain.push_state();
        self.index.insert(form.clone(), i);
        self.forms.push(form);
        self.said.push(0);
        self.unrewritten.push(Fired::default());
        self.meanings.push(Meanings::default());
        i
    }

    /// Adds one session and the friction signals of its turns.
    pub fn observe(&mut self, session: &Session, signals: &[TurnSignals]) {
        let states: Vec<usize> = session
            .turns
            .iter()
            .map(|t| self.state(received_form(t)))
            .collect();
        for (i, ((&state, signal), turn)) in
            states.iter().zip(signals).zip(&session.turns).enumerate()
        {
            self.said[state] += 1;
            let defect = u32::from(signal.likely_defect());
            match &turn.rewrite {
                Some(applied) if applied.layer == LAYER => {
                    let heard = self.state(normalise(&applied.original_text));
                    let fired = self.fired.entry((heard, state)).or_default();
                    fired.turns += 1;
                    fired.likely_defects += defect;
                }
                Some(_) => {}
                None => {
                    self.unrewritten[state].turns += 1;
                    self.unrewritten[state].likely_defects += defect;
                }
            }
            let reformulated = signal.rephrase || signal.repeat;
            let target = match states.get(i + 1) {
                Some(&next) if reformulated => {
                    self.pairs
                        .entry((state, next))
                        .or_default()
                        .add(&session.user_id, &turn.provenance());
                    Target::State(next)
                }
                _ if signal.likely_defect() => Target::Failure,
                _ => {
                    self.meanings[state].count(turn);
                    Target::Success
                }
            };
            self.chain.add(state, target, 1.0);
        }
    }

    /// Adds what another miner observed (other users, or other days): the result mines what
    /// one miner observing both would have. States are matched by their utterance form.
    pub fn merge(&mut self, other: Miner) {
        let states: Vec<usize> = other
            .forms
            .iter()
            .map(|form| self.state(form.clone()))
            .collect();
        for (theirs, &mine) in states.iter().enumerate() {
            self.said[mine] += other.said[theirs];
            self.unrewritten[mine].turns += other.unrewritten[theirs].turns;
            self.unrewritten[mine].likely_defects += other.unrewritten[theirs].likely_defects;
            self.meanings[mine].absorb(&other.meanings[theirs]);
            for (target, count) in other.chain.transitions(theirs) {
                let target = match target {
                    Target::State(j) => Target::State(states[j]),
                    absorbing => absorbing,
                };
                self.chain.add(mine, target, count);
            }
        }
        for ((source, target), evidence) in other.pairs {
            self.pairs
                .entry((states[source], states[target]))
                .or_default()
                .absorb(evidence);
        }
        for ((heard, served), fired) in other.fired {
            let mine = self
                .fired
                .entry((states[heard], states[served]))
                .or_default();
            mine.turns += fired.turns;
            mine.likely_defects += fired.likely_defects;
        }
    }

    /// Deployed rewrites that met more friction than their source did without them.
    fn rollbacks(&self, config: &MinerConfig) -> Vec<((usize, usize), RolledBack)> {
        let rate = |f: &Fired| f64::from(f.likely_defects) / f64::from(f.turns.max(1));
        self.fired
            .iter()
            .filter_map(|(&(source, target), fired)| {
                let without = &self.unrewritten[source];
                let worse = fired.turns >= config.min_rollback_turns
                    && without.turns > 0
                    && rate(fired) > rate(without);
                worse.then(|| {
                    (
                        (source, target),
                        RolledBack {
                            source: self.forms[source].clone(),
                            target: self.forms[target].clone(),
                            rewritten_turns: fired.turns,
                            friction_rewritten: rate(fired),
                            unrewritten_turns: without.turns,
                            friction_without: rate(without),
                        },
                    )
                })
            })
            .collect()
    }

    /// Solves the chain and keeps, per source, the best supported reformulation that was not
    /// rolled back. The miner is left as it was, so a nightly job can observe the next day and
    /// finish again without re-reading what it has seen.
    pub fn finish(&self, config: &MinerConfig) -> Mined {
        if self.forms.windows(2).all(|pair| pair[0] < pair[1]) {
            self.finish_canonical(config)
        } else {
            self.canonical().finish_canonical(config)
        }
    }

    /// Whether a miner read back from a file (a partial learner) holds together: one entry per
    /// state in every per-state list, distinct forms, transitions and pairs between existing
    /// states, finite non-negative counts. A miner that does not is refused before anything
    /// indexes into it.
    pub fn check(&self) -> Result<(), String> {
        let states = self.forms.len();
        let lists = [
            ("said", self.said.len()),
            ("unrewritten", self.unrewritten.len()),
            ("meanings", self.meanings.len()),
            ("chain", self.chain.len()),
        ];
        for (name, len) in lists {
            if len != states {
                return Err(format!("miner: {len} {name} entries for {states} states"));
            }
        }
        let mut seen = HashSet::with_capacity(states);
        if let Some(form) = self.forms.iter().find(|form| !seen.insert(form.as_str())) {
            return Err(format!("miner: the form {form:?} is two states"));
        }
        for from in 0..states {
            for (target, count) in self.chain.transitions(from) {
                if matches!(target, Target::State(j) if j >= states) {
                    return Err(format!(
                        "miner: state {from} moves to a state that is not there"
                    ));
                }
                if !count.is_finite() || count < 0.0 {
                    return Err(format!("miner: state {from} has a count of {count}"));
                }
            }
        }
        let keys = self.pairs.keys().chain(self.fired.keys());
        if keys.into_iter().any(|&(a, b)| a >= states || b >= states) {
            return Err("miner: a pair names a state that is not there".into());
        }
        Ok(())
    }

    /// The same observations with states numbered in form order. `finish` solves this one, so
    /// that its floating-point sums do not depend on the order forms were first seen in: a
    /// learn split over processes and merged mines the table, to the bit, one process mines.
    fn canonical(&self) -> Miner {
        let mut forms: Vec<&String> = self.forms.iter().collect();
        forms.sort();
        let mut canonical = Miner::new();
        for form in forms {
            canonical.state(form.clone());
        }
        canonical.merge(self.clone());
        canonical
    }

    fn finish_canonical(&self, config: &MinerConfig) -> Mined {
        let _span = tracing::info_span!("mine", states = self.forms.len()).entered();
        let rollbacks = self.rollbacks(config);
        let dropped: HashSet<(usize, usize)> = rollbacks.iter().map(|(pair, _)| *pair).collect();
        let solver = self.chain.solver();
        let direct = solver.direct_success();
        let mut candidates: BTreeMap<usize, Vec<(usize, u32, u32)>> = BTreeMap::new();
        for (&(source, target), evidence) in &self.pairs {
            let (count, users) = (&evidence.count, &evidence.users);
            let supported = source != target
                && !dropped.contains(&(source, target))
                && self.said[source] >= config.min_source_count
                && *count >= config.min_pair_count
                && users.len() as u32 >= config.min_users
                && evidence.by_provenance.len() as u32 >= config.min_sources
                && evidence.top_share() <= config.max_source_share
                && direct[source] <= config.max_source_success
                && direct[target] >= config.min_target_success
                && direct[target] - direct[source] >= config.min_gain;
            if supported {
                candidates
                    .entry(source)
                    .or_default()
                    .push((target, *count, users.len() as u32));
            }
        }
        let mut best: BTreeMap<usize, RewriteEntry> = BTreeMap::new();
        for (source, targets) in candidates {
            let visits = solver.visits_from(source, 1e-10, 10_000);
            for (target, pair_count, pair_users) in targets {
                let candidate = RewriteEntry {
                    source: self.forms[source].clone(),
                    target: self.forms[target].clone(),
                    source_count: self.said[source],
                    pair_count,
                    pair_users,
                    source_success: direct[source],
                    target_success: direct[target],
                    path_success: visits.get(&target).copied().unwrap_or(0.0) * direct[target],
                    target_meaning: self.meanings[target].main().map(str::to_owned),
                };
                // Ties go to the alphabetically first target, so that the result does not
                // depend on the order states were first seen in.
                if best.get(&source).is_none_or(|b| {
                    candidate.path_success > b.path_success
                        || (candidate.path_success == b.path_success && candidate.target < b.target)
                }) {
                    best.insert(source, candidate);
                }
            }
        }
        let mut entries: Vec<RewriteEntry> = best.into_values().collect();
        entries.sort_by(|a, b| a.source.cmp(&b.source));
        let mut rolled_back: Vec<RolledBack> = rollbacks.into_iter().map(|(_, r)| r).collect();
        rolled_back.sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
        Mined {
            entries,
            rolled_back,
            held: Vec::new(),
        }
    }
}

impl Mined {
    /// Moves the rewrites toward sensitive requests that `policy` does not approve out of the
    /// entries into `held`, for an operator to review.
    pub fn hold_sensitive(mut self, policy: &SensitiveConfig) -> Self {
        let (allowed, held): (Vec<_>, Vec<_>) = self
            .entries
            .into_iter()
            .partition(|e| policy.allows(Some(&e.source), &e.target, e.target_meaning.as_deref()));
        self.entries = allowed;
        self.held.extend(held);
        self
    }
}

/// Mines rewrites from sessions and the signals of their turns (`signals[i]` belongs to
/// `sessions[i]`).
pub fn mine(sessions: &[Session], signals: &[Vec<TurnSignals>], config: &MinerConfig) -> Mined {
    let mut miner = Miner::new();
    for (session, signals) in sessions.iter().zip(signals) {
        miner.observe(session, signals);
    }
    miner.finish(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use selflearn_signals::{SignalConfig, friction, sessions};
    use selflearn_types::testing::turn_saying as turn;
    use selflearn_types::{Outcome, TurnEvent};
    /// Each user says the bad form, fails, and succeeds with the good one; they also use the
    /// good form directly sometimes.
    fn planted(users: usize) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        for u in 0..users {
            let user = format!("u{u}");
            for k in 0..2 {
                let base = (k * 600_000) as i64;
                events.push(turn(
                    &user,
                    &format!("{user}-{k}-a"),
                    base,
                    "play maj and dragons",
                    Outcome::Failure,
                ));
                events.push(turn(
                    &user,
                    &format!("{user}-{k}-b"),
                    base + 5_000,
                    "play imagine dragons",
                    Outcome::Success,
                ));
            }
            events.push(turn(
                &user,
                &format!("{user}-c"),
                3_000_000,
                "play imagine dragons",
                Outcome::Success,
            ));
        }
        events
    }

    fn mined(events: &[TurnEvent]) -> Vec<RewriteEntry> {
        mined_all(events).entries
    }

    fn mined_all(events: &[TurnEvent]) -> Mined {
        let config = SignalConfig::default();
        let sessions = sessions(events, &config);
        let signals: Vec<Vec<TurnSignals>> =
            sessions.iter().map(|s| friction(s, &config)).collect();
        mine(&sessions, &signals, &MinerConfig::default())
    }

    /// The planted repair, but toward unlocking a door.
    fn planted_unlock(users: usize) -> Vec<TurnEvent> {
        let mut events = planted(users);
        for event in &mut events {
            event.asr.text = event
                .asr
                .text
                .replace("play maj and dragons", "unlock the frond door")
                .replace("play imagine dragons", "unlock the front door");
            let nlu = event.nlu.as_mut().expect("the sample has NLU");
            (nlu.domain, nlu.intent) = (Some("home".into()), "HassLockUnlock".into());
        }
        events
    }

    #[test]
    fn a_rewrite_toward_a_sensitive_request_is_held_until_an_operator_approves_it() {
        let held = mined_all(&planted_unlock(3)).hold_sensitive(&SensitiveConfig::default());
        assert!(held.entries.is_empty(), "{:?}", held.entries);
        assert_eq!(held.held.len(), 1);
        assert_eq!(held.held[0].target, "unlock the front door");
        assert_eq!(
            held.held[0].target_meaning.as_deref(),
            Some("home.HassLockUnlock")
        );
        let approved = SensitiveConfig {
            approved: vec![selflearn_types::sensitive::Approved {
                source: Some("unlock the frond door".into()),
                target: "unlock the front door".into(),
            }],
            ..SensitiveConfig::default()
        };
        let served = mined_all(&planted_unlock(3)).hold_sensitive(&approved);
        assert_eq!(served.entries.len(), 1);
        assert!(served.held.is_empty());
        // Not sensitive: nothing is held.
        let music = mined_all(&planted(3)).hold_sensitive(&SensitiveConfig::default());
        assert_eq!((music.entries.len(), music.held.len()), (1, 0));
    }

    #[test]
    fn a_planted_rewrite_is_mined_with_its_probabilities() {
        let table = mined(&planted(3));
        assert_eq!(table.len(), 1, "{table:?}");
        let entry = &table[0];
        assert_eq!(
            (entry.source.as_str(), entry.target.as_str()),
            ("play maj and dragons", "play imagine dragons")
        );
        assert_eq!(
            (entry.source_count, entry.pair_count, entry.pair_users),
            (6, 6, 3)
        );
        // The bad form always moves to the good one, which always succeeds.
        assert!((entry.source_success - 1.0).abs() < 1e-9 || entry.source_success <= 0.5);
        assert!((entry.target_success - 1.0).abs() < 1e-9, "{entry:?}");
    }

    /// A nightly job observes each day once and finishes every night: finishing must leave
    /// the miner as it was, so the last night mines what one pass over every day mines.
    #[test]
    fn finishing_each_night_then_observing_the_next_day_mines_what_one_pass_does() {
        let config = SignalConfig::default();
        let events = planted(4);
        let (first, second): (Vec<TurnEvent>, Vec<TurnEvent>) = events
            .iter()
            .cloned()
            .partition(|e| e.user_id == "u0" || e.user_id == "u1");
        let mut miner = Miner::new();
        let mut nights = Vec::new();
        for day in [&first, &second] {
            for session in sessions(day, &config) {
                miner.observe(&session, &friction(&session, &config));
            }
            nights.push(miner.finish(&MinerConfig::default()));
        }
        assert_eq!(nights[0].entries.len(), 1, "two users already support it");
        assert_eq!(nights[0].entries[0].pair_users, 2);
        assert_eq!(nights[1], mined_all(&events));
        assert_eq!(nights[1].entries[0].pair_users, 4);
    }

    #[test]
    fn a_rewrite_seen_from_one_user_only_is_not_learned() {
        assert!(mined(&planted(1)).is_empty());
    }

    /// `planted(users)` with each user's turns stamped with the source `source_of(user index)`.
    fn planted_at(users: usize, source_of: impl Fn(usize) -> String) -> Vec<TurnEvent> {
        let mut events = planted(users);
        for event in &mut events {
            let u: usize = event.user_id[1..].parse().unwrap();
            event.source = Some(source_of(u));
        }
        events
    }

    /// One installation cannot teach everyone, however many users it sends; the same people
    /// spread over installations can; and no installation may dominate when a share is set.
    #[test]
    fn a_rewrite_needs_several_sources_and_no_dominant_one() {
        assert!(
            mined(&planted_at(6, |_| "one-home".into())).is_empty(),
            "six users of one source"
        );
        let spread = mined(&planted_at(6, |u| format!("home-{}", u % 2)));
        assert_eq!(spread.len(), 1, "two sources");
        // Five users at one source, one elsewhere: 10 of the 12 reformulations from one.
        let skewed = planted_at(6, |u| if u == 0 { "b".into() } else { "a".into() });
        let config = SignalConfig::default();
        let sessions = sessions(&skewed, &config);
        let signals: Vec<Vec<TurnSignals>> =
            sessions.iter().map(|s| friction(s, &config)).collect();
        let capped = |share: f64| {
            mine(
                &sessions,
                &signals,
                &MinerConfig {
                    max_source_share: share,
                    ..MinerConfig::default()
                },
            )
            .entries
            .len()
        };
        assert_eq!((capped(1.0), capped(0.9), capped(0.8)), (1, 1, 0));
    }

    /// A turn that heard `heard` and sent `sent` to NLU through a precomputed rewrite.
    fn rewritten(user: &str, id: &str, at: i64, heard: &str, sent: &str, ok: bool) -> TurnEvent {
        let outcome = if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut event = turn(user, id, at, heard, outcome);
        event.rewrite = Some(selflearn_types::AppliedRewrite {
            original_text: heard.into(),
            rewritten_text: sent.into(),
            layer: LAYER.into(),
            artifact_version: Some("night-1".into()),
            score: Some(0.9),
        });
        event
    }

    #[test]
    fn a_deployed_rewrite_that_does_worse_than_none_is_rolled_back_and_a_good_one_kept() {
        let mut events = planted(3);
        for u in 0..3 {
            let user = format!("u{u}");
            let at = |k: i64| 10_000_000 + k * 1_000_000;
            // Said as heard, the weather request mostly works ...
            for k in 0..3 {
                events.push(turn(
                    &user,
                    &format!("{user}-w{k}"),
                    at(k),
                    "what is the weather",
                    Outcome::Success,
                ));
            }
            events.push(turn(
                &user,
                &format!("{user}-w3"),
                at(3),
                "what is the weather",
                Outcome::Failure,
            ));
            // ... but a deployed rewrite of it always fails,
            events.push(rewritten(
                &user,
                &format!("{user}-r"),
                at(4),
                "what is the weather",
                "what is the feather",
                false,
            ));
            // while the dragons rewrite works.
            events.push(rewritten(
                &user,
                &format!("{user}-d"),
                at(5),
                "play maj and dragons",
                "play imagine dragons",
                true,
            ));
        }
        let mined = mined_all(&events);
        assert_eq!(mined.rolled_back.len(), 1, "{mined:?}");
        let dropped = &mined.rolled_back[0];
        assert_eq!(
            (dropped.source.as_str(), dropped.target.as_str()),
            ("what is the weather", "what is the feather")
        );
        assert_eq!(
            (dropped.rewritten_turns, dropped.unrewritten_turns),
            (3, 12)
        );
        assert!((dropped.friction_rewritten - 1.0).abs() < 1e-9);
        assert!((dropped.friction_without - 0.25).abs() < 1e-9);
        assert_eq!(mined.entries.len(), 1);
        assert_eq!(mined.entries[0].source, "play maj and dragons");
        assert_eq!(mined.entries[0].target, "play imagine dragons");
    }

    #[test]
    fn a_rewrite_that_fired_too_few_times_is_not_judged_yet() {
        let mut events = planted(3);
        events.push(turn(
            "u0",
            "w",
            9_000_000,
            "what is the weather",
            Outcome::Success,
        ));
        events.push(rewritten(
            "u0",
            "r",
            9_900_000,
            "what is the weather",
            "what is the feather",
            false,
        ));
        assert!(mined_all(&events).rolled_back.is_empty());
    }

    #[test]
    fn a_mined_pair_that_is_rolled_back_is_not_served_again() {
        let mut events = planted(3);
        // The mined rewrite turns out worse than the source said as heard.
        for u in 0..3 {
            let user = format!("u{u}");
            for k in 0..4 {
                events.push(turn(
                    &user,
                    &format!("{user}-ok{k}"),
                    20_000_000 + k * 1_000_000,
                    "play maj and dragons",
                    Outcome::Success,
                ));
            }
            for k in 0..2 {
                events.push(rewritten(
                    &user,
                    &format!("{user}-bad{k}"),
                    30_000_000 + k * 1_000_000,
                    "play maj and dragons",
                    "play imagine dragons",
                    false,
                ));
            }
        }
        let mined = mined_all(&events);
        assert_eq!(mined.rolled_back.len(), 1, "{mined:?}");
        assert!(mined.entries.is_empty(), "{:?}", mined.entries);
    }
}
