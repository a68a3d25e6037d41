//! selflearn-online: learning the online layers from a world's users, and answering the
//! world's own requests with the learned model, with and without the answer cache.

mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use selflearn_bench::fixture::{learned_from, requests_of};
use selflearn_engine::{Learner, OnlineLayersLearner, by_user};
use selflearn_online::{CachedModel, Encoder, Layers, Lexicon, OnlineConfig};
use selflearn_signals::SignalConfig;
use selflearn_types::Rewriter;

fn learn(c: &mut Criterion) {
    let events = common::events();
    let users = by_user(events, &SignalConfig::default());
    let lexicon = Arc::new(
        Lexicon::parse(Lexicon::EMBEDDED, "built-in lexicon")
            .expect("the benchmark runs on a valid world log"),
    );
    let mut group = c.benchmark_group("online");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("learn the online layers of a world log", |b| {
        b.iter(|| {
            let mut learner = OnlineLayersLearner::new(
                Encoder::random(7),
                lexicon.clone(),
                OnlineConfig::default(),
            );
            for user in &users {
                learner.observe(user);
            }
            learner
                .finish("bench")
                .expect("the benchmark runs on a valid world log")
                .global_len()
        });
    });
    group.finish();
}

fn answer(c: &mut Criterion) {
    let events = common::events();
    let dir = tempfile::tempdir().expect("the benchmark runs on a valid world log");
    let set =
        learned_from(events, dir.path(), "bench").expect("the benchmark runs on a valid world log");
    let model = set.online.expect("the set has online layers");
    let requests = requests_of(events);
    let requests = &requests[..requests.len().min(1_000)];
    let mut group = c.benchmark_group("online");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.sample_size(10);
    let uncached = CachedModel::new(model.clone(), Layers::GlobalAndPersonal, 0);
    group.bench_function("answer 1,000 logged requests, no cache", |b| {
        b.iter(|| {
            requests
                .iter()
                .filter(|r| uncached.rewrite(r).rewritten)
                .count()
        });
    });
    let cached = CachedModel::new(model, Layers::GlobalAndPersonal, 64 << 20);
    for request in requests {
        cached.rewrite(request);
    }
    group.bench_function("answer 1,000 logged requests, cached", |b| {
        b.iter(|| {
            requests
                .iter()
                .filter(|r| cached.rewrite(r).rewritten)
                .count()
        });
    });
    group.finish();
}

criterion_group!(benches, learn, answer);
criterion_main!(benches);
