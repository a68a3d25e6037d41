//! How realistic the world is and how good its NLU is, measured against its truth: the
//! evaluator's reports on the instrument itself (`selflearn world stats`, `world nlu`).

use selflearn_world::Dataset;
use selflearn_world::asr::data_wer;
use selflearn_world::config::WorldConfig;
use selflearn_world::nlu::corpus::{asr_examples, gold_examples, training_examples};
use selflearn_world::nlu::eval::{NluScores, score};
use selflearn_world::nlu::{Nlu, TrainConfig};
use selflearn_world::sim::World;
use selflearn_world::stats::{averaged, over_seeds};
use serde::Serialize;
use std::time::Instant;

/// Appends one formatted line to a report.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

/// The reference NLU's quality, as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct NluReport {
    /// The data it was trained and scored on, as given.
    pub data: String,
    /// Seed of the training order.
    pub seed: u64,
    /// Training passes.
    pub epochs: usize,
    /// Sentences trained on.
    pub training_examples: usize,
    /// WER of the real recordings' recogniser on the test split.
    pub real_asr_wer_test: f64,
    /// Scores per evaluation set.
    pub rows: Vec<(String, NluScores)>,
    /// The world seed whose NLU's coverage is reported.
    pub world_seed: u64,
    /// The world's own NLU (training split plus its covered goals) on covered and uncovered
    /// goals.
    pub coverage: selflearn_world::sim::CoverageReport,
}

/// Lives `config`'s world once per seed and reports how realistic it is: each seed's
/// statistics, then the mean with the per-seed values; returns the markdown and the JSON.
pub fn world_stats(
    config: &WorldConfig,
    data: &Dataset,
    data_label: &str,
    seeds: &[u64],
) -> selflearn_world::Result<(String, serde_json::Value)> {
    let mut out = String::new();
    let started = Instant::now();
    let runs = over_seeds(config, data, seeds)?;
    let seconds = started.elapsed().as_secs_f64();
    for run in &runs {
        say!(
            out,
            "world: {} households, {} days, seed {}; data {}\n",
            config.households,
            config.days,
            run.seed,
            data_label
        );
        out.push_str(&run.stats.markdown());
        say!(
            out,
            "\nNLU frame accuracy on gold sentences: covered goals {:.3} ({} sentences of {} goals), uncovered {:.3} ({} sentences of {} goals)\n",
            run.nlu.covered_frame_accuracy,
            run.nlu.covered_sentences,
            run.nlu.covered_goals,
            run.nlu.uncovered_frame_accuracy,
            run.nlu.uncovered_sentences,
            run.nlu.goals - run.nlu.covered_goals
        );
    }
    let mean = averaged(&runs);
    if runs.len() > 1 {
        say!(out, "mean over seeds {seeds:?}:\n");
        say!(out, "| measure | mean | per seed |\n|---|---|---|");
        let rows = [
            ("defect rate", "/defect_rate"),
            ("first-request defect rate", "/first_request_defect_rate"),
            ("goal success", "/goal_success"),
            ("reachable share of defects", "/reachable_share"),
            (
                "heard WER, real recordings, first requests",
                "/heard_wer/real_first",
            ),
            ("repeats (share of turns)", "/acts/repeat"),
            ("rephrases (share of turns)", "/acts/rephrase"),
            (
                "NLU frame accuracy, covered goals",
                "/nlu/covered_frame_accuracy",
            ),
            (
                "NLU frame accuracy, uncovered goals",
                "/nlu/uncovered_frame_accuracy",
            ),
            ("defects on uncovered goals", "/defects_on_uncovered_goals"),
        ];
        for (name, pointer) in rows {
            let per_seed: Vec<String> = mean["per_seed"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{:.3}",
                        r.pointer(pointer)
                            .and_then(|v| v.as_f64())
                            .unwrap_or(f64::NAN)
                    )
                })
                .collect();
            say!(
                out,
                "| {name} | {:.3} | {} |",
                mean.pointer(pointer)
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN),
                per_seed.join(", ")
            );
        }
    }
    let turns: u64 = runs.iter().map(|r| r.stats.turns).sum();
    say!(
        out,
        "\nbuilt and simulated {} seeds ({turns} turns) in {seconds:.1} s",
        runs.len()
    );
    Ok((out, mean))
}

/// Trains the reference NLU (`seed`, `epochs`) and reports its quality on gold text and on
/// recognisers' output, then the coverage of `world_config`'s world NLU and the recognisers'
/// WER; returns the markdown and the JSON report.
pub fn nlu_quality(
    data: &Dataset,
    data_label: &str,
    seed: u64,
    epochs: usize,
    world_config: WorldConfig,
) -> (String, NluReport) {
    let mut out = String::new();
    let training = training_examples(data);
    let config = TrainConfig { epochs, seed };
    let started = Instant::now();
    let nlu = Nlu::train(&training, config);
    tracing::info!(
        "trained on {} sentences in {:.1} s",
        training.len(),
        started.elapsed().as_secs_f64()
    );
    let sets = [
        ("devel, gold text", gold_examples(data, "devel")),
        (
            "devel, synthetic voice + domain LM",
            asr_examples(data, "devel", Some("slurp-domain-3gram")),
        ),
        (
            "devel, synthetic voice + generic LM",
            asr_examples(data, "devel", Some("en-us-generic-3gram")),
        ),
        ("test, gold text", gold_examples(data, "test")),
        (
            "test, real recordings (SLURP ASR)",
            asr_examples(data, "test", None),
        ),
    ];
    let rows: Vec<(String, NluScores)> = sets
        .iter()
        .map(|(name, set)| (name.to_string(), score(&nlu, set)))
        .collect();
    say!(
        out,
        "NLU trained on {} sentences (SLURP train + HWU64, no spoken sentence), seed {}, {} epochs; data {}",
        training.len(),
        seed,
        epochs,
        data_label
    );
    say!(
        out,
        "| evaluated on | sentences | intent accuracy | frame accuracy | slot P | slot R | slot F1 |"
    );
    say!(out, "|---|---|---|---|---|---|---|");
    for (name, s) in &rows {
        say!(
            out,
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            s.examples,
            s.intent_accuracy,
            s.frame_accuracy,
            s.slot_precision,
            s.slot_recall,
            s.slot_f1
        );
    }
    let world_seed = world_config.seed;
    let coverage = World::build(world_config, data).coverage_report();
    say!(
        out,
        "\nThe world's NLU (seed {world_seed}: the training split plus the sentences of the {} most popular of {} goals), frame accuracy on gold text:",
        coverage.covered_goals,
        coverage.goals
    );
    say!(out, "| goals | sentences | frame accuracy |\n|---|---|---|");
    say!(
        out,
        "| covered (built for) | {} | {:.3} |",
        coverage.covered_sentences,
        coverage.covered_frame_accuracy
    );
    say!(
        out,
        "| uncovered (the tail) | {} | {:.3} |",
        coverage.uncovered_sentences,
        coverage.uncovered_frame_accuracy
    );
    let (real_wer, synthetic) = data_wer(data);
    say!(
        out,
        "\nWER of the recognisers on this data: real recordings {:.1}%",
        real_wer * 100.0
    );
    for (lm, wer) in &synthetic {
        say!(out, "  synthetic voices, {lm}: {:.1}%", wer * 100.0);
    }
    let report = NluReport {
        data: data_label.to_owned(),
        seed,
        epochs,
        training_examples: training.len(),
        real_asr_wer_test: real_wer,
        rows,
        world_seed,
        coverage,
    };
    (out, report)
}
