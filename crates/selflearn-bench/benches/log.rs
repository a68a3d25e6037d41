//! selflearn-log: durable appends of a world's turns, and the user-ordered scan `learn`
//! reads them back with.

mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use selflearn_log::{EventLog, ScanOrder};

fn append(c: &mut Criterion) {
    let events = &common::events()[..500];
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(20);
    group.bench_function("append 500 turns durably", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("the benchmark runs on a valid world log");
                let log = EventLog::open(dir.path(), &Default::default())
                    .expect("the benchmark runs on a valid world log");
                (dir, log)
            },
            |(dir, mut log)| {
                log.append(events)
                    .expect("the benchmark runs on a valid world log");
                (dir, log)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let events = common::events();
    let dir = tempfile::tempdir().expect("the benchmark runs on a valid world log");
    let log = selflearn_bench::fixture::stored(events, dir.path())
        .expect("the benchmark runs on a valid world log");
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    for (name, order) in [
        ("scan in arrival order", ScanOrder::Arrival),
        ("scan by user and time", ScanOrder::UserTime),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut read = 0u64;
                log.scan(order, |_| {
                    read += 1;
                    Ok(())
                })
                .expect("the benchmark runs on a valid world log");
                read
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append, scan);
criterion_main!(benches);
