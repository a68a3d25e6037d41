//! selflearn-signals (through the engine's one session → friction loop): a world log into
//! users' sessions and their friction signals.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use selflearn_engine::by_user;
use selflearn_signals::SignalConfig;

fn sessions_and_friction(c: &mut Criterion) {
    let events = common::events();
    let config = SignalConfig::default();
    let mut group = c.benchmark_group("signals");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(20);
    group.bench_function("sessions and friction of a world log", |b| {
        b.iter(|| by_user(events, &config).len());
    });
    group.finish();
}

criterion_group!(benches, sessions_and_friction);
criterion_main!(benches);
