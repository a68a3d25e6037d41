//! selflearn-miner: the precomputed learner observing a world's users and mining the table.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use selflearn_engine::{Learner, PrecomputedLearner, by_user};
use selflearn_miner::MinerConfig;
use selflearn_signals::SignalConfig;

fn mine(c: &mut Criterion) {
    let events = common::events();
    let users = by_user(events, &SignalConfig::default());
    let mut group = c.benchmark_group("miner");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("observe and mine a world log", |b| {
        b.iter(|| {
            let mut learner = PrecomputedLearner::new(MinerConfig::default());
            for user in &users {
                learner.observe(user);
            }
            learner
                .finish("bench")
                .expect("the benchmark runs on a valid world log")
                .entries
                .len()
        });
    });
    group.finish();
}

criterion_group!(benches, mine);
criterion_main!(benches);
