//! `selflearn-bench world`: turns the world simulates per minute (events and truth serialised).
//!
//! `selflearn-bench ingest`: durable ingest rate through the library and through HTTP, each
//! next to a baseline measured in the same run that appends the same bytes to a plain file with
//! the same fsync policy (fsync before acknowledging each batch). Runs alternate between the
//! system and its baseline; medians are reported.
//!
//! `selflearn-bench learn`: the time and peak memory of `learn`'s pass (precomputed mining and
//! the online layers) over world logs of growing size, and precomputed lookup latency.
//!
//! `selflearn-bench online`: online rewrite latency by index size ([`online`]).
//!
//! `selflearn-bench replicas`: a replica's load against a whole process ([`crate::replicas`]).
//!
//! `selflearn-bench soak`: a running server under mixed traffic for minutes ([`crate::soak`]).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, ensure};
use axum::body::Bytes;
use clap::{Args, Subcommand};
use selflearn_log::{EventLog, LogOptions, SyncPolicy};
use selflearn_server::{NoRewrites, ServerConfig};
use selflearn_types::TurnEvent;
use selflearn_types::testing::generated_events;
use serde::Serialize;

use crate::online;

/// Arguments of `selflearn-bench`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "selflearn-bench",
    version,
    about = "Measures selflearn's performance (release builds only)."
)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Durable ingest rate, library and HTTP, against plain-file baselines.
    Ingest(IngestBench),
    /// Opening a log of 1M and 10M stored events and ingesting into it: start-up time and
    /// memory, durable ingest rate, and that resent events are stored once.
    IngestAt(crate::ingest_scale::IngestScaleBench),
    /// World generation rate: turns simulated and serialised (events and truth) per minute.
    World(WorldBench),
    /// `learn` throughput (sessions, signals, mining, online layers) by log size, and
    /// precomputed lookup latency.
    Learn(LearnBench),
    /// Approximate nearest-neighbour indices at 1M candidates: build time, recall@10 against
    /// an exact scan, search latency.
    Ann(crate::ann::AnnBench),
    /// What a rewrite replica (`serve --shards`) loads against a whole process: load time,
    /// memory, people held.
    Replicas(crate::replicas::ReplicaBench),
    /// Online rewriting latency, in process and over HTTP, by index size.
    Online(online::OnlineBench),
    /// Mixed ingest and rewrite traffic at a fixed rate against a running `selflearn serve`:
    /// throughput, errors, p99 and the server's memory over time.
    Soak(crate::soak::SoakBench),
}

/// Parameters of the learn benchmark.
#[derive(Debug, Args)]
pub struct LearnBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: std::path::PathBuf,
    /// Log sizes to learn from, in turns (world events, generated first).
    #[arg(long, value_delimiter = ',', default_values_t = [100_000usize, 1_000_000, 10_000_000])]
    pub turns: Vec<usize>,
    /// Only generate a log of `--turns` turns into this directory (how the benchmark runs its
    /// generation in a child process).
    #[arg(long, hide = true, value_name = "DIR")]
    pub generate_into: Option<std::path::PathBuf>,
    /// Worker threads of the learn (`learn --threads`); by default one per core.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write the figures as JSON to this file too (`runs[]`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
}

/// One learn of the learn benchmark.
#[derive(Debug, Serialize)]
struct LearnRun {
    turns: usize,
    threads: usize,
    seconds: f64,
    turns_per_min: f64,
    peak_rss_mib: f64,
    rewrites: usize,
    global_candidates: usize,
}

/// Parameters of the world benchmark.
#[derive(Debug, Args)]
pub struct WorldBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: std::path::PathBuf,
    /// Households simulated per run.
    #[arg(long, default_value_t = 400)]
    pub households: u32,
    /// Days simulated per run.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Parameters of the ingest benchmark.
#[derive(Debug, Args)]
pub struct IngestBench {
    /// Events per run.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per batch (one durable commit each).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Write the figures as JSON to this file too.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Figures {
    events: usize,
    batch: usize,
    runs: usize,
    concurrency: usize,
    library_events_per_s: f64,
    library_baseline_events_per_s: f64,
    library_ratio: f64,
    http_events_per_s: f64,
    http_baseline_events_per_s: f64,
    http_ratio: f64,
}

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchWhat::Ingest(bench) => ingest(bench),
        BenchWhat::IngestAt(bench) => crate::ingest_scale::run(bench),
        BenchWhat::World(bench) => world(bench),
        BenchWhat::Learn(bench) => learn(bench),
        BenchWhat::Online(bench) => online::run(bench),
        BenchWhat::Replicas(bench) => crate::replicas::run(bench),
        BenchWhat::Ann(bench) => crate::ann::run(bench),
        BenchWhat::Soak(bench) => crate::soak::run(bench),
    }
}

/// Peak resident memory of this process so far, in MiB (Linux), from `/proc/self/status`.
fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// A memory line of this process's `/proc/self/status` (`VmRSS:`, `VmHWM:`), in MiB (Linux).
pub(crate) fn status_mib(key: &str) -> Option<f64> {
    let status = fs_err::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the process's peak resident memory (Linux `clear_refs` 5), so that the next reading
/// of `VmHWM` covers only what follows.
fn reset_peak_rss() {
    let _ = fs_err::write("/proc/self/clear_refs", "5");
}

/// Appends world events to an event log in batches, up to a number of turns.
struct LogSink {
    log: EventLog,
    batch: Vec<TurnEvent>,
    wanted: usize,
    written: usize,
}

impl LogSink {
    fn flush(&mut self) -> selflearn_world::Result<()> {
        self.log
            .append(&self.batch)
            .map_err(|e| selflearn_world::WorldError::Io(std::io::Error::other(e)))?;
        self.written += self.batch.len();
        self.batch.clear();
        Ok(())
    }
}

impl selflearn_world::sim::WorldSink for LogSink {
    fn turn(
        &mut self,
        event: &TurnEvent,
        _: &selflearn_world::truth::TurnTruth,
    ) -> selflearn_world::Result<()> {
        if self.written + self.batch.len() < self.wanted {
            self.batch.push(event.clone());
            if self.batch.len() == 10_000 {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn goal(&mut self, _: &selflearn_world::truth::GoalTruth) -> selflearn_world::Result<()> {
        Ok(())
    }
}

/// Generates a world log of `turns` turns into `dir` (the child process of `bench learn`, so
/// that the memory the world used is not counted as the learner's).
fn generate_log(data: &Path, turns: usize, dir: &Path) -> anyhow::Result<()> {
    use selflearn_world::config::WorldConfig;
    use selflearn_world::sim::World;
    let data = selflearn_world::Dataset::load(data)?;
    let log = EventLog::open(
        dir,
        &LogOptions {
            sync: SyncPolicy::Normal,
        },
    )?;
    // About 157 turns per household-week in the default world (seeds 101-103); leave margin.
    let mut world = World::build(
        WorldConfig {
            households: (turns / 130 + 1) as u32,
            days: 7,
            ..WorldConfig::default()
        },
        &data,
    );
    let mut sink = LogSink {
        log,
        batch: Vec::new(),
        wanted: turns,
        written: 0,
    };
    for day in 0..world.days() {
        if sink.written + sink.batch.len() >= turns {
            break;
        }
        world.run_day(day, &mut sink, None)?;
    }
    sink.flush()?;
    ensure!(
        sink.written == turns,
        "the world made {} turns, fewer than {turns}",
        sink.written
    );
    Ok(())
}

/// Generates a world log of `turns` turns into `dir` in a child process (`learn
/// --generate-into`), so that the world's memory is not counted as the learner's.
pub(crate) fn generate_in_child(data: &Path, turns: usize, dir: &Path) -> anyhow::Result<()> {
    let generated = std::process::Command::new(std::env::current_exe()?)
        .args(["learn", "--turns", &turns.to_string(), "--data"])
        .arg(data)
        .arg("--generate-into")
        .arg(dir)
        .status()?;
    ensure!(
        generated.success(),
        "generating the {turns}-turn log failed"
    );
    Ok(())
}

/// The artifact set `learn` writes from `log`, on `threads` workers: the precomputed table
/// and the online layers with the seed-7 random encoder and `lexicon`.
pub(crate) fn learn_set(
    log: &EventLog,
    lexicon: &Arc<selflearn_online::Lexicon>,
    threads: usize,
) -> anyhow::Result<selflearn_engine::ArtifactSet> {
    use selflearn_engine::{OnlineLayersLearner, PrecomputedLearner};
    use selflearn_miner::MinerConfig;
    let encoder = selflearn_online::Encoder::random(7);
    let learned = selflearn_engine::learn_parallel(
        log,
        &selflearn_signals::SignalConfig::default(),
        || {
            (
                PrecomputedLearner::new(MinerConfig::default()),
                Some(OnlineLayersLearner::new(
                    encoder.clone(),
                    lexicon.clone(),
                    selflearn_online::OnlineConfig::default(),
                )),
            )
        },
        threads,
        |_| {},
    )?;
    Ok(learned.finish("bench", Arc::from(selflearn_online::Lexicon::EMBEDDED))?)
}

fn learn(bench: LearnBench) -> anyhow::Result<()> {
    use selflearn_miner::{MinerConfig, RewriteTable};
    if let Some(dir) = &bench.generate_into {
        let &[turns] = bench.turns.as_slice() else {
            anyhow::bail!("--generate-into takes exactly one --turns");
        };
        return generate_log(&bench.data, turns, dir);
    }
    println!(
        "| log size (turns) | learn time | turns/min | peak resident memory during learn | rewrites mined | global online candidates |"
    );
    println!("|---|---|---|---|---|---|");
    let lexicon = Arc::new(selflearn_online::Lexicon::parse(
        selflearn_online::Lexicon::EMBEDDED,
        "built-in lexicon",
    )?);
    let threads = bench.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut runs: Vec<LearnRun> = Vec::new();
    let mut table = RewriteTable::new("bench", MinerConfig::default(), Default::default());
    let mut heard: Vec<String> = Vec::new();
    for &n in &bench.turns {
        let dir = tempfile::tempdir()?;
        generate_in_child(&bench.data, n, dir.path())?;
        let log = EventLog::open_read_only(dir.path())?;
        reset_peak_rss();
        let started = Instant::now();
        let set = learn_set(&log, &lexicon, threads)?;
        let online = &set
            .online
            .as_ref()
            .expect("the online layers were learned")
            .0;
        let seconds = started.elapsed().as_secs_f64();
        let run = LearnRun {
            turns: n,
            threads,
            seconds,
            turns_per_min: n as f64 / seconds * 60.0,
            peak_rss_mib: peak_rss_mib().unwrap_or(0.0),
            rewrites: set.table.entries.len(),
            global_candidates: online.global_len(),
        };
        println!(
            "| {n} | {seconds:.2} s | {:.0} | {:.0} MiB | {} | {} |",
            run.turns_per_min, run.peak_rss_mib, run.rewrites, run.global_candidates
        );
        runs.push(run);
        if let Some(path) = &bench.json {
            fs_err::write(
                path,
                serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))?,
            )?;
        }
        if heard.is_empty() {
            log.scan(selflearn_log::ScanOrder::Arrival, |event| {
                if heard.len() < 200_000 {
                    heard.push(event.asr.text);
                }
                Ok(())
            })?;
        }
        table = set.table;
    }
    // Lookup latency: the heard texts of the log, hits and misses as they come.
    let texts: Vec<&str> = heard.iter().map(String::as_str).collect();
    let mut nanos: Vec<u128> = Vec::with_capacity(texts.len());
    let mut hits = 0;
    for text in &texts {
        let started = Instant::now();
        hits += usize::from(std::hint::black_box(table.lookup(text)).is_some());
        nanos.push(started.elapsed().as_nanos());
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "precomputed lookup, in process, {} requests ({hits} hits, {} rewrites in the table): p50 {:.2} µs, p99 {:.2} µs",
        texts.len(),
        table.entries.len(),
        at(0.5),
        at(0.99)
    );
    Ok(())
}

/// Serialises every turn as `world generate` does, into memory (the disk is not measured).
#[derive(Debug, Default)]
struct CountingSink {
    turns: u64,
    bytes: u64,
    buffer: Vec<u8>,
}

impl selflearn_world::sim::WorldSink for CountingSink {
    fn turn(
        &mut self,
        event: &TurnEvent,
        truth: &selflearn_world::truth::TurnTruth,
    ) -> selflearn_world::Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, event)
            .map_err(|e| selflearn_world::WorldError::Io(e.into()))?;
        serde_json::to_writer(&mut self.buffer, truth)
            .map_err(|e| selflearn_world::WorldError::Io(e.into()))?;
        self.turns += 1;
        self.bytes += self.buffer.len() as u64;
        Ok(())
    }

    fn goal(&mut self, _goal: &selflearn_world::truth::GoalTruth) -> selflearn_world::Result<()> {
        Ok(())
    }
}

fn world(bench: WorldBench) -> anyhow::Result<()> {
    use selflearn_world::config::WorldConfig;
    use selflearn_world::sim::World;
    ensure!(bench.runs > 0, "runs must be positive");
    let data = selflearn_world::Dataset::load(&bench.data)?;
    let config = WorldConfig {
        households: bench.households,
        days: bench.days,
        ..WorldConfig::default()
    };
    let started = Instant::now();
    let mut world = World::build(config, &data);
    let build_s = started.elapsed().as_secs_f64();
    let mut rates = Vec::new();
    let mut turns = 0;
    for run in 0..bench.runs {
        let mut sink = CountingSink::default();
        let started = Instant::now();
        world.run(&mut sink)?;
        let rate = sink.turns as f64 / started.elapsed().as_secs_f64() * 60.0;
        eprintln!(
            "run {}: {} turns, {:.0} turns/min",
            run + 1,
            sink.turns,
            rate
        );
        turns = sink.turns;
        rates.push(rate);
    }
    // The first run also interprets every new text once (the NLU cache starts empty).
    println!(
        "| world | turns per run | build (NLU training included) | first run, turns/min | median of {}, turns/min |",
        bench.runs
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {} households × {} days | {turns} | {build_s:.1} s | {:.0} | {:.0} |",
        bench.households,
        bench.days,
        rates[0],
        median(&rates)
    );
    Ok(())
}

fn ingest(bench: IngestBench) -> anyhow::Result<()> {
    ensure!(
        bench.events > 0 && bench.batch > 0 && bench.runs > 0,
        "events, batch and runs must be positive"
    );
    eprintln!("generating {} events…", bench.events);
    let events = generated_events(bench.events, 1000);
    let bodies: Vec<Bytes> = events
        .chunks(bench.batch)
        .map(|batch| serde_json::to_vec(batch).map(Bytes::from))
        .collect::<Result<_, _>>()?;
    let mean_bytes = bodies.iter().map(Bytes::len).sum::<usize>() as f64 / events.len() as f64;
    eprintln!("mean event size {mean_bytes:.0} bytes of JSON");

    let (mut library, mut library_base, mut http, mut http_base) = (vec![], vec![], vec![], vec![]);
    let runtime = tokio::runtime::Runtime::new()?;
    for run in 0..bench.runs {
        let dir = tempfile::tempdir()?;
        library_base.push(rate(events.len(), || {
            file_baseline(&dir.path().join("plain.jsonl"), &events, bench.batch)
        })?);
        library.push(rate(events.len(), || {
            library_append(&dir.path().join("log"), &events, bench.batch)
        })?);
        http_base.push(rate(events.len(), || {
            runtime.block_on(http_file_baseline(dir.path(), &bodies, bench.concurrency))
        })?);
        http.push(rate(events.len(), || {
            runtime.block_on(http_service(
                &dir.path().join("http-log"),
                &bodies,
                bench.concurrency,
            ))
        })?);
        eprintln!(
            "run {}: library {:.0}/s (plain file {:.0}/s), HTTP {:.0}/s (plain-file handler {:.0}/s)",
            run + 1,
            library[run],
            library_base[run],
            http[run],
            http_base[run]
        );
    }
    let figures = Figures {
        events: bench.events,
        batch: bench.batch,
        runs: bench.runs,
        concurrency: bench.concurrency,
        library_events_per_s: median(&library),
        library_baseline_events_per_s: median(&library_base),
        library_ratio: median(&library) / median(&library_base),
        http_events_per_s: median(&http),
        http_baseline_events_per_s: median(&http_base),
        http_ratio: median(&http) / median(&http_base),
    };
    println!(
        "| path | events/s (median of {}) | baseline events/s | ratio |",
        bench.runs
    );
    println!("|---|---|---|---|");
    println!(
        "| library, batches of {} | {:.0} | {:.0} | {:.2} |",
        bench.batch,
        figures.library_events_per_s,
        figures.library_baseline_events_per_s,
        figures.library_ratio
    );
    println!(
        "| HTTP, batches of {}, {} clients | {:.0} | {:.0} | {:.2} |",
        bench.batch,
        bench.concurrency,
        figures.http_events_per_s,
        figures.http_baseline_events_per_s,
        figures.http_ratio
    );
    if let Some(path) = &bench.json {
        fs_err::write(path, serde_json::to_string_pretty(&figures)?)?;
    }
    Ok(())
}

fn rate(events: usize, work: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let started = Instant::now();
    work()?;
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Serialises each batch to the same JSON the log stores and appends it to a plain file,
/// fsyncing before the next batch.
fn file_baseline(path: &Path, events: &[TurnEvent], batch: usize) -> anyhow::Result<()> {
    let mut file = fs_err::File::create(path)?;
    let mut buf = Vec::new();
    for chunk in events.chunks(batch) {
        buf.clear();
        for event in chunk {
            serde_json::to_writer(&mut buf, event)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)?;
        file.sync_data()?;
    }
    Ok(())
}

fn library_append(dir: &Path, events: &[TurnEvent], batch: usize) -> anyhow::Result<()> {
    let mut log = EventLog::open(
        dir,
        &LogOptions {
            sync: SyncPolicy::Full,
        },
    )?;
    for chunk in events.chunks(batch) {
        log.append(chunk)?;
    }
    Ok(())
}

/// Posts every body with `concurrency` clients; each must be answered 200. Returns each
/// request's latency (sent to answer read), in µs, sorted.
pub(crate) async fn post_all(
    url: String,
    bodies: &[Bytes],
    concurrency: usize,
) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let bodies: Arc<Vec<Bytes>> = Arc::new(bodies.to_vec());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, bodies, url) =
            (client.clone(), next.clone(), bodies.clone(), url.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return anyhow::Ok(latencies);
                };
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                ensure!(
                    response.status().is_success(),
                    "request {i}: HTTP {}",
                    response.status()
                );
                response.bytes().await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1e6);
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result??);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

async fn http_service(dir: &Path, bodies: &[Bytes], concurrency: usize) -> anyhow::Result<()> {
    let log = EventLog::open(
        dir,
        &LogOptions {
            sync: SyncPolicy::Full,
        },
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/events", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        bind: url.clone(),
        ..ServerConfig::default()
    };
    let server = tokio::spawn(selflearn_server::serve(
        listener,
        log,
        config,
        Arc::new(NoRewrites),
        async {
            let _ = stopped.await;
        },
    ));
    let posted = post_all(url, bodies, concurrency).await.map(drop);
    let _ = stop.send(());
    server.await?.context("the service failed")?;
    posted
}

/// A trivial axum handler that appends each request body to a plain file and fsyncs before
/// answering.
async fn http_file_baseline(
    dir: &Path,
    bodies: &[Bytes],
    concurrency: usize,
) -> anyhow::Result<()> {
    use axum::routing::post;
    let file = Arc::new(std::sync::Mutex::new(fs_err::File::create(
        dir.join("http-plain.jsonl"),
    )?));
    let app = axum::Router::new().route(
        "/v1/events",
        post(move |body: Bytes| {
            let file = file.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let mut file = file.lock().expect("no writer panics");
                    file.write_all(&body).and_then(|()| file.sync_data())
                })
                .await
                .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?
                .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/events", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let posted = post_all(url, bodies, concurrency).await.map(drop);
    let _ = stop.send(());
    server.await??;
    posted
}
