//! `selflearn-bench soak`: mixed ingest and rewrite traffic at a fixed rate against a running
//! `selflearn serve` (a child process, so that its memory is measured alone), for a set time;
//! per window: requests sent and answered, error rate, p50 and p99 latency, and the server's
//! resident memory. The server answers from the artifact set `learn` wrote for a world's log,
//! and the traffic is that log's own requests and turns (with fresh ids).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use selflearn_types::TurnEvent;
use selflearn_world::Dataset;

use selflearn_bench::fixture;

/// Parameters of the soak test.
#[derive(Debug, Args)]
pub struct SoakBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: PathBuf,
    /// How long to drive traffic, in minutes.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Requests per second, sent on a fixed schedule whatever the answers take.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Share of the requests that are ingest batches (the rest are rewrites).
    #[arg(long, default_value_t = 0.1)]
    pub ingest_share: f64,
    /// Events per ingest batch.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Households of the world whose log is learned and replayed.
    #[arg(long, default_value_t = 100)]
    pub households: u32,
    /// Seconds per reported window.
    #[arg(long, default_value_t = 30)]
    pub window_s: u64,
    /// The `selflearn` binary (default: beside this one).
    #[arg(long, value_name = "FILE")]
    pub selflearn: Option<PathBuf>,
}

/// What one window saw.
#[derive(Debug, Default, Clone)]
struct Window {
    sent: u64,
    answered: u64,
    errors: u64,
    latencies_us: Vec<u64>,
}

/// Runs the soak test and prints one row per window.
pub fn run(bench: SoakBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = Dataset::load(&bench.data)?;
    let events = fixture::world_log(&data, bench.households, 7)?;
    fixture::learned_from(&events, dir.path(), "soak")?;
    let requests: Vec<String> = fixture::requests_of(&events)
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    let binary = match &bench.selflearn {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("selflearn"),
    };
    let (mut server, address) = start_server(&binary, dir.path())?;
    println!(
        "soak: {} turns of {} households learned; {} requests/s ({:.0}% ingest batches of {}), {} min, against pid {}",
        events.len(),
        bench.households,
        bench.rate,
        bench.ingest_share * 100.0,
        bench.batch,
        bench.minutes,
        server.id()
    );
    let result = drive(&bench, &address, server.id(), &requests, &events);
    let stopped = stop(&mut server);
    result?;
    stopped
}

/// Starts `selflearn serve` on a free port over a new log and the learned set.
fn start_server(binary: &Path, dir: &Path) -> anyhow::Result<(Child, String)> {
    if !binary.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p selflearn-cli`",
            binary.display()
        );
    }
    let mut child = Command::new(binary)
        .args(["--log-dir"])
        .arg(dir.join("served-log"))
        .args(["serve", "--bind", "127.0.0.1:0", "--artifacts"])
        .arg(dir.join("artifacts"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("the server said {line:?}"))?
        .to_owned();
    Ok((child, address))
}

/// SIGTERM, then waits for a clean exit.
fn stop(server: &mut Child) -> anyhow::Result<()> {
    let asked = Instant::now();
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()?;
    let status = server.wait()?;
    println!(
        "SIGTERM: the server exited {status} after {:.2} s",
        asked.elapsed().as_secs_f64()
    );
    anyhow::ensure!(status.success(), "the server did not exit cleanly");
    Ok(())
}

/// Resident memory of `pid`, in MiB (Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Sends the schedule and prints a row per window.
fn drive(
    bench: &SoakBench,
    address: &str,
    pid: u32,
    requests: &[String],
    events: &[TurnEvent],
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        let window = Arc::new(Mutex::new(Window::default()));
        let every = Duration::from_secs_f64(1.0 / f64::from(bench.rate.max(1)));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let total = Duration::from_secs_f64(bench.minutes * 60.0);
        let window_length = Duration::from_secs(bench.window_s.max(1));
        let mut next_report = window_length;
        let ingest_every = (1.0 / bench.ingest_share.clamp(1e-6, 1.0)).round() as u64;
        let mut sent: u64 = 0;
        let mut fresh: u64 = 0;
        let mut rss_first = None;
        let mut rss_last = None;
        println!("| window end | requests/s sent | answered/s | errors | error rate | p50 | p99 | server RSS |");
        println!("|---|---|---|---|---|---|---|---|");
        while started.elapsed() < total {
            ticks.tick().await;
            sent += 1;
            let (url, body) = if sent.is_multiple_of(ingest_every) {
                let batch: Vec<TurnEvent> = (0..bench.batch)
                    .map(|_| {
                        let mut event = events[(fresh as usize) % events.len()].clone();
                        event.event_id = format!("soak-{fresh}");
                        fresh += 1;
                        event
                    })
                    .collect();
                (format!("http://{address}/v1/events"), serde_json::to_string(&batch)?)
            } else {
                let request = &requests[(sent as usize * 7919) % requests.len()];
                (format!("http://{address}/v1/rewrite"), request.clone())
            };
            window.lock().expect("not poisoned").sent += 1;
            let (client, seen) = (client.clone(), window.clone());
            tokio::spawn(async move {
                let asked = Instant::now();
                let answer = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = matches!(&answer, Ok(r) if r.status().is_success());
                if let Ok(response) = answer {
                    let _ = response.bytes().await;
                }
                let mut seen = seen.lock().expect("not poisoned");
                seen.answered += 1;
                seen.errors += u64::from(!ok);
                seen.latencies_us.push(asked.elapsed().as_micros() as u64);
            });
            if started.elapsed() >= next_report {
                let seen = std::mem::take(&mut *window.lock().expect("not poisoned"));
                let rss = rss_mib(pid);
                rss_first = rss_first.or(rss);
                rss_last = rss;
                print_row(next_report, window_length, seen, rss);
                next_report += window_length;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let (Some(first), Some(last)) = (rss_first, rss_last) {
            println!(
                "server RSS: {first:.0} MiB after the first window, {last:.0} MiB after the last ({:+.0} MiB); {fresh} events ingested",
                last - first
            );
        }
        anyhow::Ok(())
    })
}

fn print_row(end: Duration, length: Duration, mut seen: Window, rss: Option<f64>) {
    seen.latencies_us.sort_unstable();
    let at = |q: f64| {
        seen.latencies_us
            .get(((seen.latencies_us.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let seconds = length.as_secs_f64();
    println!(
        "| {} s | {:.0} | {:.0} | {} | {:.3}% | {} µs | {} µs | {} |",
        end.as_secs(),
        seen.sent as f64 / seconds,
        seen.answered as f64 / seconds,
        seen.errors,
        100.0 * seen.errors as f64 / seen.answered.max(1) as f64,
        at(0.5),
        at(0.99),
        rss.map_or("?".to_owned(), |r| format!("{r:.0} MiB"))
    );
}
