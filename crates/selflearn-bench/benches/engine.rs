//! selflearn-engine: the learn driver from a stored world log to an artifact set, loading a
//! saved set as `serve` does, and the layered rewriter `serve` runs answering the world's
//! requests.

mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use selflearn_bench::fixture::{learned_from, requests_of, stored};
use selflearn_engine::{LoadedSet, OnlineLayersLearner, PrecomputedLearner};
use selflearn_miner::MinerConfig;
use selflearn_online::{Encoder, Lexicon, OnlineConfig};
use selflearn_signals::SignalConfig;
use selflearn_types::Rewriter;

fn learn(c: &mut Criterion) {
    let events = common::events();
    let dir = tempfile::tempdir().expect("the benchmark runs on a valid world log");
    let log = stored(events, dir.path()).expect("the benchmark runs on a valid world log");
    let text: Arc<str> = Arc::from(Lexicon::EMBEDDED);
    let lexicon = Arc::new(
        Lexicon::parse(&text, "built-in lexicon").expect("the benchmark runs on a valid world log"),
    );
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("learn a stored world log into an artifact set", |b| {
        b.iter(|| {
            let online = OnlineLayersLearner::new(
                Encoder::random(7),
                lexicon.clone(),
                OnlineConfig::default(),
            );
            selflearn_engine::learn(
                &log,
                &SignalConfig::default(),
                PrecomputedLearner::new(MinerConfig::default()),
                Some(online),
                |_| {},
            )
            .expect("the benchmark runs on a valid world log")
            .finish("bench", text.clone())
            .expect("the benchmark runs on a valid world log")
            .table
            .entries
            .len()
        });
    });
    group.finish();
}

fn load_and_serve(c: &mut Criterion) {
    let events = common::events();
    let dir = tempfile::tempdir().expect("the benchmark runs on a valid world log");
    learned_from(events, dir.path(), "bench").expect("the benchmark runs on a valid world log");
    let artifacts = dir.path().join("artifacts");
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.bench_function("load an artifact set", |b| {
        b.iter(|| {
            LoadedSet::load(&artifacts)
                .expect("the benchmark runs on a valid world log")
                .manifest
                .artifacts
                .len()
        });
    });
    let requests = requests_of(events);
    let requests = &requests[..requests.len().min(1_000)];
    let serving = LoadedSet::load(&artifacts)
        .expect("the benchmark runs on a valid world log")
        .serving(0);
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function(
        "serve 1,000 logged requests through every layer, no cache",
        |b| {
            b.iter(|| {
                requests
                    .iter()
                    .filter(|r| serving.rewrite(r).rewritten)
                    .count()
            });
        },
    );
    group.finish();
}

criterion_group!(benches, learn, load_and_serve);
criterion_main!(benches);
