//! `selflearn-bench online`: latency of the rewrite path at request time, on the artifact set
//! `learn` produces from a world log, by world size.
//!
//! For each size, a world of that many households lives a week with no rewriting; the
//! engine's learn driver learns the set from its log (the untrained encoder, as `learn` uses
//! without `train`), the set is saved and loaded back as `serve` loads it, and the requests
//! are the log's own turns (its users and heard texts, so personal indices answer). Two kinds
//! of traffic: every request as the log had them, and requests drawn with Zipf popularity
//! (weight 1/rank), where the head repeats as in real traffic. In process: one thread, the
//! layers without their answer cache, p50 and p99 per request. HTTP: `POST /v1/rewrite` with
//! the service's rewriter (a fresh answer cache each run) against a trivial axum handler
//! answering a fixed body, with the same clients in the same run; and the service with a
//! rewriter that never rewrites, which shows what the service's own request handling leaves
//! of the trivial handler's rate.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use clap::Args;
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use selflearn_bench::fixture::learned_set;
use selflearn_engine::LoadedSet;
use selflearn_log::EventLog;
use selflearn_server::{NoRewrites, Rewriter, ServerConfig};
use selflearn_types::{RewriteRequest, RewriteResponse};

/// Parameters of the online benchmark.
#[derive(Debug, Args)]
pub struct OnlineBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: std::path::PathBuf,
    /// World sizes, in households living a week each.
    #[arg(long, value_delimiter = ',', default_values_t = [100u32, 400, 1600])]
    pub households: Vec<u32>,
    /// Requests per measurement.
    #[arg(long, default_value_t = 5_000)]
    pub requests: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// Request texts in the order they arrive: every one different, or drawn with Zipf popularity
/// (weight 1/rank over the texts in a seeded order).
fn traffic(texts: &[RewriteRequest], requests: usize, zipf: bool) -> Vec<RewriteRequest> {
    if !zipf {
        return texts.iter().cycle().take(requests).cloned().collect();
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut ranked: Vec<&RewriteRequest> = texts.iter().collect();
    ranked.shuffle(&mut rng);
    let popularity = WeightedIndex::new((1..=ranked.len()).map(|rank| 1.0 / rank as f64))
        .expect("at least one text");
    (0..requests)
        .map(|_| ranked[popularity.sample(&mut rng)].clone())
        .collect()
}

fn percentile(sorted_micros: &[f64], q: f64) -> f64 {
    sorted_micros[((sorted_micros.len() - 1) as f64 * q) as usize]
}

/// Runs the benchmark.
pub fn run(bench: OnlineBench) -> anyhow::Result<()> {
    let data = selflearn_world::Dataset::load(&bench.data)?;
    println!(
        "| households | turns | global candidates | personal indices | traffic | in-process p50 | in-process p99 | rewritten | HTTP p50 | HTTP p99 | HTTP requests/s | trivial handler requests/s | ratio | service never rewriting, requests/s | its ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let runtime = tokio::runtime::Runtime::new()?;
    for &households in &bench.households {
        let dir = tempfile::tempdir()?;
        let built = Instant::now();
        let (set, turns) = learned_set(&data, households, dir.path())?;
        let build_s = built.elapsed().as_secs_f64();
        let (global, personal) = set
            .online
            .as_ref()
            .map_or((0, 0), |m| (m.global_len(), m.personal_users().count()));
        // In process, without the answer cache: every request pays for the whole path.
        let uncached = LoadedSet::load(&dir.path().join("artifacts"))?.serving(0);
        let cached: Arc<dyn Rewriter> =
            Arc::new(set.serving(ServerConfig::default().answer_cache_bytes));
        for zipf in [false, true] {
            let requests = traffic(&turns, bench.requests, zipf);
            let bodies: Vec<Bytes> = requests
                .iter()
                .map(|r| Bytes::from(serde_json::to_vec(r).expect("requests serialise")))
                .collect();
            let mut micros = Vec::with_capacity(requests.len());
            let mut rewritten = 0;
            for request in &requests {
                let started = Instant::now();
                let answer = std::hint::black_box(uncached.rewrite(request));
                micros.push(started.elapsed().as_secs_f64() * 1e6);
                rewritten += usize::from(answer.rewritten);
            }
            micros.sort_by(f64::total_cmp);
            let (service, trivial, floor) = runtime.block_on(async {
                let service =
                    serve_and_post(Some(cached.clone()), &bodies, bench.concurrency).await?;
                let trivial = serve_and_post(None, &bodies, bench.concurrency).await?;
                let floor =
                    serve_and_post(Some(Arc::new(NoRewrites)), &bodies, bench.concurrency).await?;
                anyhow::Ok((service, trivial, floor))
            })?;
            println!(
                "| {households} | {} | {global} | {personal} | {} | {:.0} µs | {:.0} µs | {:.1}% | {:.0} µs | {:.0} µs | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
                turns.len(),
                if zipf { "Zipf" } else { "as logged" },
                percentile(&micros, 0.5),
                percentile(&micros, 0.99),
                100.0 * rewritten as f64 / requests.len() as f64,
                percentile(&service.latencies, 0.5),
                percentile(&service.latencies, 0.99),
                service.per_second,
                trivial.per_second,
                service.per_second / trivial.per_second,
                floor.per_second,
                floor.per_second / trivial.per_second
            );
        }
        eprintln!("(world of {households} households lived and learned in {build_s:.1} s)");
    }
    Ok(())
}

/// Client-side figures of one HTTP run.
struct HttpRun {
    /// Sorted request latencies in µs.
    latencies: Vec<f64>,
    per_second: f64,
}

/// Serves `POST /v1/rewrite` (the service with `rewriter`, or a trivial handler answering a
/// fixed body when `None`) and posts every body with `concurrency` clients.
async fn serve_and_post(
    rewriter: Option<Arc<dyn Rewriter>>,
    bodies: &[Bytes],
    concurrency: usize,
) -> anyhow::Result<HttpRun> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/rewrite", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let dir = tempfile::tempdir()?;
    let server = match rewriter {
        Some(rewriter) => {
            let log = EventLog::open(dir.path(), &Default::default())?;
            tokio::spawn(async move {
                selflearn_server::serve(listener, log, ServerConfig::default(), rewriter, async {
                    let _ = stopped.await;
                })
                .await
                .map_err(anyhow::Error::from)
            })
        }
        None => {
            let answer = serde_json::to_string(&RewriteResponse::unchanged("x"))?;
            let app = axum::Router::new().route(
                "/v1/rewrite",
                axum::routing::post(move |_: Bytes| {
                    let answer = answer.clone();
                    async move { answer }
                }),
            );
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(anyhow::Error::from)
            })
        }
    };
    let started = Instant::now();
    let latencies = crate::bench::post_all(url, bodies, concurrency).await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await??;
    Ok(HttpRun {
        per_second: bodies.len() as f64 / seconds,
        latencies: latencies?,
    })
}
