//! Slot tagging: a first-order structured perceptron over BIO tags, decoded with Viterbi.
//! `I-x` may only follow `B-x` or `I-x`, so every decoded span is well formed.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::averaged::AveragedWeights;
use super::features::{feature, tokenize};
use super::{Example, TrainConfig};

/// Tag 0 is `O`; then `B-x`, `I-x` for each slot type x.
#[derive(Debug, Clone)]
pub struct SlotTagger {
    types: Vec<String>,
    index: HashMap<u64, usize>,
    /// Row per feature, one column per tag.
    emissions: Vec<f32>,
    /// Row per previous tag (last row: sentence start), one column per tag.
    transitions: Vec<f32>,
}

fn tag_count(types: usize) -> usize {
    1 + 2 * types
}

fn begin(t: usize) -> usize {
    1 + 2 * t
}

fn inside(t: usize) -> usize {
    2 + 2 * t
}

/// Whether `tag` may follow `previous` (`None`: sentence start).
fn allowed(previous: Option<usize>, tag: usize) -> bool {
    if tag == 0 || tag % 2 == 1 {
        return true;
    }
    previous.is_some_and(|p| p == tag || p + 1 == tag)
}

/// The scenario of an intent (`alarm` of `alarm_set`): slot types depend on it.
fn scenario(intent: &str) -> &str {
    intent.split('_').next().unwrap_or(intent)
}

fn token_features(tokens: &[String], i: usize, intent: &str) -> Vec<u64> {
    let at = |j: isize| -> &str {
        let k = i as isize + j;
        if k < 0 {
            "<s>"
        } else {
            tokens.get(k as usize).map_or("</s>", String::as_str)
        }
    };
    let word = at(0);
    let chars: Vec<char> = word.chars().collect();
    let prefix: String = chars.iter().take(3).collect();
    let suffix: String = chars[chars.len().saturating_sub(3)..].iter().collect();
    let shape = if word.chars().all(|c| c.is_ascii_digit()) {
        "digits"
    } else {
        "word"
    };
    vec![
        feature(&["bias"]),
        feature(&["w0", word]),
        feature(&["w-1", at(-1)]),
        feature(&["w+1", at(1)]),
        feature(&["w-2", at(-2)]),
        feature(&["w+2", at(2)]),
        feature(&["w-1w0", at(-1), word]),
        feature(&["w0w+1", word, at(1)]),
        feature(&["pre", &prefix]),
        feature(&["suf", &suffix]),
        feature(&["shape", shape]),
        feature(&["scenario", scenario(intent)]),
        feature(&["scenario-w0", scenario(intent), word]),
        feature(&["scenario-w-1", scenario(intent), at(-1)]),
    ]
}

/// Gold BIO tags: each slot's value is matched to the first unused run of equal tokens.
fn gold_tags(
    tokens: &[String],
    slots: &[(String, String)],
    type_of: &HashMap<&str, usize>,
) -> Vec<usize> {
    let mut tags = vec![0; tokens.len()];
    for (kind, value) in slots {
        let value_tokens = tokenize(value);
        if value_tokens.is_empty() || value_tokens.len() > tokens.len() {
            continue;
        }
        let found = (0..=tokens.len() - value_tokens.len()).find(|&start| {
            tokens[start..start + value_tokens.len()] == value_tokens[..]
                && tags[start..start + value_tokens.len()]
                    .iter()
                    .all(|&t| t == 0)
        });
        if let (Some(start), Some(&t)) = (found, type_of.get(kind.as_str())) {
            tags[start] = begin(t);
            for tag in &mut tags[start + 1..start + value_tokens.len()] {
                *tag = inside(t);
            }
        }
    }
    tags
}

/// Emission scores of every position, `tags` per position in one flat row: for each tag the
/// sum of its features' weights, added in feature order (feature-major, so each feature's
/// weights are read as one contiguous row).
fn emission_scores(feats: &[Vec<usize>], tags: usize, weight: impl Fn(usize) -> f32) -> Vec<f32> {
    // -0.0 is the start of `Iterator::sum` for floats: the scores equal a per-tag sum's bits.
    let mut scores = vec![-0.0f32; feats.len() * tags];
    for (ids, row) in feats.iter().zip(scores.chunks_exact_mut(tags)) {
        for &f in ids {
            for (t, score) in row.iter_mut().enumerate() {
                *score += weight(f * tags + t);
            }
        }
    }
    scores
}

/// Viterbi decoding over per-position emission scores (`tags` per position, flat).
/// `transitions` has a row per previous tag and a last row for the sentence start, a column
/// per tag. Ties go to the lowest previous tag, and the first of equal final scores wins.
fn viterbi(emission: &[f32], transitions: &[f32], tags: usize) -> Vec<usize> {
    let positions = emission.len() / tags;
    if positions == 0 {
        return Vec::new();
    }
    let start = &transitions[tags * tags..(tags + 1) * tags];
    let mut score = vec![f32::NEG_INFINITY; tags];
    for tag in 0..tags {
        if allowed(None, tag) {
            score[tag] = start[tag] + emission[tag];
        }
    }
    let mut back = vec![0u32; positions * tags];
    let mut best = vec![f32::NEG_INFINITY; tags];
    // The best previous tag of each tag, as a float (exact below 2^24) so that the select
    // below is one vector blend.
    let mut arg = vec![0f32; tags];
    for (i, scores) in emission.chunks_exact(tags).enumerate().skip(1) {
        best.fill(f32::NEG_INFINITY);
        arg.fill(0.0);
        // Previous tags in increasing order with a strict `>`: the lowest of equal wins.
        // Branch-free, so that the loop over tags is vectorised.
        for (previous, row) in transitions.chunks_exact(tags).take(tags).enumerate() {
            let base = score[previous];
            let previous = previous as f32;
            for ((b, a), &t) in best.iter_mut().zip(arg.iter_mut()).zip(row) {
                let s = base + t;
                let better = s > *b;
                *b = if better { s } else { *b };
                *a = if better { previous } else { *a };
            }
        }
        let from = &mut back[i * tags..(i + 1) * tags];
        for (f, &a) in from.iter_mut().zip(&arg) {
            *f = a as u32;
        }
        // `I-x` may only continue `B-x` or `I-x`.
        for tag in (2..tags).step_by(2) {
            let mut pick = (f32::NEG_INFINITY, 0);
            for previous in [tag - 1, tag] {
                let s = score[previous] + transitions[previous * tags + tag];
                if s > pick.0 {
                    pick = (s, previous as u32);
                }
            }
            (best[tag], from[tag]) = pick;
        }
        for ((s, b), e) in score.iter_mut().zip(&best).zip(scores) {
            *s = b + e;
        }
    }
    let mut tag = (0..tags).fold(0, |best, t| if score[t] > score[best] { t } else { best });
    let mut path = vec![tag; positions];
    for i in (1..positions).rev() {
        tag = back[i * tags + tag] as usize;
        path[i - 1] = tag;
    }
    path
}

impl SlotTagger {
    /// Trains on `examples`.
    pub fn train(examples: &[Example], config: TrainConfig) -> Self {
        let mut types: Vec<String> = examples
            .iter()
            .flat_map(|e| e.slots.iter().map(|(k, _)| k.clone()))
            .collect();
        types.sort();
        types.dedup();
        let type_of: HashMap<&str, usize> = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let tags = tag_count(types.len());
        let mut index = HashMap::new();
        let encoded: Vec<(Vec<Vec<usize>>, Vec<usize>)> = examples
            .iter()
            .map(|e| {
                let tokens = tokenize(&e.text);
                let feats = (0..tokens.len())
                    .map(|i| {
                        token_features(&tokens, i, &e.intent)
                            .into_iter()
                            .map(|f| {
                                let next = index.len();
                                *index.entry(f).or_insert(next)
                            })
                            .collect()
                    })
                    .collect();
                (feats, gold_tags(&tokens, &e.slots, &type_of))
            })
            .collect();
        let mut emissions = AveragedWeights::new(index.len() * tags);
        let mut transitions = AveragedWeights::new((tags + 1) * tags);
        let row = |previous: Option<usize>| previous.unwrap_or(tags);
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        let mut rng = StdRng::seed_from_u64(config.seed);
        for _ in 0..config.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (feats, gold) = &encoded[i];
                let emission = emission_scores(feats, tags, |i| emissions.get(i));
                let predicted = viterbi(&emission, transitions.current(), tags);
                if predicted != *gold {
                    for (position, ids) in feats.iter().enumerate() {
                        let (g, p) = (gold[position], predicted[position]);
                        if g != p {
                            for &f in ids {
                                emissions.update(f * tags + g, 1.0);
                                emissions.update(f * tags + p, -1.0);
                            }
                        }
                        let (gp, pp) = if position == 0 {
                            (None, None)
                        } else {
                            (Some(gold[position - 1]), Some(predicted[position - 1]))
                        };
                        if (gp, g) != (pp, p) {
                            transitions.update(row(gp) * tags + g, 1.0);
                            transitions.update(row(pp) * tags + p, -1.0);
                        }
                    }
                }
                emissions.tick();
                transitions.tick();
            }
        }
        Self {
            types,
            index,
            emissions: emissions.average(),
            transitions: transitions.average(),
        }
    }

    /// Slots of a tokenised text as (type, value), in order, given its predicted intent.
    pub fn predict(&self, tokens: &[String], intent: &str) -> Vec<(String, String)> {
        let tags = tag_count(self.types.len());
        let feats: Vec<Vec<usize>> = (0..tokens.len())
            .map(|i| {
                token_features(tokens, i, intent)
                    .iter()
                    .filter_map(|f| self.index.get(f).copied())
                    .collect()
            })
            .collect();
        let emission = emission_scores(&feats, tags, |i| self.emissions[i]);
        let path = viterbi(&emission, &self.transitions, tags);
        let mut slots: Vec<(String, Vec<&str>)> = Vec::new();
        for (token, &tag) in tokens.iter().zip(&path) {
            if tag == 0 {
                continue;
            }
            let kind = (tag - 1) / 2;
            if tag % 2 == 1 {
                slots.push((self.types[kind].clone(), vec![token]));
            } else if let Some(last) = slots.last_mut() {
                last.1.push(token);
            }
        }
        slots
            .into_iter()
            .map(|(kind, words)| (kind, words.join(" ")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, slots: &[(&str, &str)]) -> Example {
        Example {
            text: text.into(),
            intent: "x".into(),
            slots: slots
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn gold_tags_mark_spans_in_bio() {
        let types = HashMap::from([("date", 0), ("time", 1)]);
        let tokens = tokenize("wake me up at five am tomorrow");
        let tags = gold_tags(
            &tokens,
            &[
                ("time".into(), "five am".into()),
                ("date".into(), "tomorrow".into()),
            ],
            &types,
        );
        assert_eq!(tags, [0, 0, 0, 0, begin(1), inside(1), begin(0)]);
    }

    #[test]
    fn viterbi_never_starts_a_span_inside() {
        // Emissions favour I-0 everywhere; the constraint forces B-0 first.
        let emission = [0.0, 0.0, 5.0].repeat(3);
        let path = viterbi(&emission, &[0.0; 12], 3);
        assert_eq!(path, [1, 2, 2]);
    }

    #[test]
    fn learns_to_tag_a_small_language() {
        let data: Vec<Example> = ["paris", "rome", "berlin", "oslo"]
            .iter()
            .flat_map(|city| {
                [
                    example(&format!("weather in {city}"), &[("place", city)]),
                    example(
                        &format!("is it raining in {city} today"),
                        &[("place", city), ("date", "today")],
                    ),
                ]
            })
            .collect();
        let tagger = SlotTagger::train(&data, TrainConfig::default());
        assert_eq!(
            tagger.predict(&tokenize("is it raining in paris today"), "x"),
            [
                ("place".to_string(), "paris".to_string()),
                ("date".to_string(), "today".to_string())
            ]
        );
    }
}
