//! `selflearn bench online`: latency of the online layers at request time, by index size.
//!
//! Candidates are real SLURP and HWU64 sentences (made distinct by a numbered suffix past the
//! real ones); requests are real recognisers' hypotheses. The guard never fires (no request
//! history), so every request the answer cache has not seen pays for encoding, search and
//! ranking (phonetic similarity included). Two kinds of traffic: every request different
//! (the cache never helps), and requests drawn with Zipf popularity (weight 1/rank, as the
//! world draws goals), where the head repeats as in real traffic. In process: one thread, the
//! model without its cache, p50 and p99 per request. HTTP: `POST /v1/rewrite` with the
//! service's rewriter (with a fresh answer cache for each run),
//! against a trivial axum handler answering a fixed body, both with the same clients in the
//! same run; and the service with a rewriter that never rewrites, which shows what the
//! service's own request handling (parsing, validation, the answer's JSON) leaves of the
//! trivial handler's rate.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use clap::Args;
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use selflearn_online::index::Candidate;
use selflearn_online::ranker::{FEATURES, Ranker};
use selflearn_online::{CachedModel, Encoder, Layers, OnlineArtifact, OnlineConfig, OnlineModel};
use selflearn_server::{NoRewrites, Rewriter, ServerConfig};
use selflearn_types::{RewriteRequest, RewriteResponse};

use crate::commands::Outcome;

/// Parameters of the online benchmark.
#[derive(Debug, Args)]
pub struct OnlineBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: std::path::PathBuf,
    /// Index sizes (global candidates).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000])]
    pub candidates: Vec<usize>,
    /// Requests per measurement.
    #[arg(long, default_value_t = 5_000)]
    pub requests: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// The service's rewriter over one model, as `serve --online` runs it.
#[derive(Debug)]
struct ModelRewriter(CachedModel);

impl Rewriter for ModelRewriter {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        self.0.rewrite(request, Layers::GlobalAndPersonal)
    }
}

/// Request texts in the order they arrive: every one different, or drawn with Zipf popularity
/// (weight 1/rank over the texts in a seeded order).
fn traffic(texts: &[String], requests: usize, zipf: bool) -> Vec<String> {
    if !zipf {
        return texts.iter().cycle().take(requests).cloned().collect();
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut ranked: Vec<&String> = texts.iter().collect();
    ranked.shuffle(&mut rng);
    let popularity = WeightedIndex::new((1..=ranked.len()).map(|rank| 1.0 / rank as f64))
        .expect("at least one text");
    (0..requests)
        .map(|_| ranked[popularity.sample(&mut rng)].clone())
        .collect()
}

/// A model over `n` candidates with a ranker that weighs similarity and popularity.
fn model(texts: &[String], n: usize) -> OnlineModel {
    let global = (0..n)
        .map(|i| Candidate {
            text: if i < texts.len() {
                texts[i].clone()
            } else {
                format!("{} number {}", texts[i % texts.len()], i / texts.len())
            },
            served: 1 + (i % 7) as u32,
            users: 2,
            ..Candidate::default()
        })
        .collect();
    let mut weights = vec![0.0; FEATURES.len()];
    weights[0] = 4.0;
    weights[1] = 4.0;
    weights[3] = 1.0;
    let ranker = Ranker {
        weights,
        bias: -6.0,
        threshold: 0.5,
    };
    OnlineModel::from_artifact(
        OnlineArtifact {
            format: selflearn_online::online::ARTIFACT_FORMAT,
            version: format!("bench-{n}"),
            config: OnlineConfig::default(),
            encoder: Encoder::random(7).digest(),
            global,
            personal: Default::default(),
            forms: Default::default(),
            templates: Default::default(),
            global_ranker: ranker.clone(),
            personal_ranker: ranker,
        },
        Encoder::random(7),
    )
}

fn percentile(sorted_micros: &[f64], q: f64) -> f64 {
    sorted_micros[((sorted_micros.len() - 1) as f64 * q) as usize]
}

/// Runs the benchmark.
pub fn run(bench: OnlineBench) -> anyhow::Result<Outcome> {
    let data = selflearn_world::Dataset::load(&bench.data)?;
    let mut texts: Vec<String> = data
        .slurp
        .iter()
        .map(|s| s.text.clone())
        .chain(data.hwu.iter().map(|s| s.text.clone()))
        .collect();
    texts.sort();
    texts.dedup();
    let heard: Vec<String> = data
        .real_asr
        .iter()
        .map(|r| r.hyp_text_norm.clone())
        .collect();
    let lexicon = Arc::new(selflearn_online::Lexicon::load(
        &bench.data.join("cmudict_vocab.jsonl"),
    )?);
    let device = selflearn_types::testing::sample_event().device;
    let mixes = [false, true].map(|zipf| {
        let requests: Vec<RewriteRequest> = traffic(&heard, bench.requests, zipf)
            .into_iter()
            .enumerate()
            .map(|(i, text)| RewriteRequest {
                user_id: format!("user-{}", i % 100),
                device: device.clone(),
                text,
                timestamp_ms: Some(1_767_600_000_000),
                context: Default::default(),
            })
            .collect();
        let bodies: Vec<Bytes> = requests
            .iter()
            .map(|r| Bytes::from(serde_json::to_vec(r).expect("requests serialise")))
            .collect();
        (
            if zipf { "Zipf" } else { "all different" },
            requests,
            bodies,
        )
    });
    println!(
        "| candidates | traffic | in-process p50 | in-process p99 | rewritten | HTTP p50 | HTTP p99 | HTTP requests/s | trivial handler requests/s | ratio | service never rewriting, requests/s | its ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let runtime = tokio::runtime::Runtime::new()?;
    for &n in &bench.candidates {
        let built = Instant::now();
        let model = model(&texts, n).with_lexicon(lexicon.clone());
        let build_s = built.elapsed().as_secs_f64();
        for (traffic, requests, bodies) in &mixes {
            let mut micros = Vec::with_capacity(requests.len());
            let mut rewritten = 0;
            for request in requests {
                let started = Instant::now();
                let answer =
                    std::hint::black_box(model.rewrite(request, Layers::GlobalAndPersonal));
                micros.push(started.elapsed().as_secs_f64() * 1e6);
                rewritten += usize::from(answer.rewritten);
            }
            micros.sort_by(f64::total_cmp);
            let rewriter: Arc<dyn Rewriter> = Arc::new(ModelRewriter(CachedModel::new(
                model.clone(),
                ServerConfig::default().answer_cache,
            )));
            let (service, trivial, floor) = runtime.block_on(async {
                let service = serve_and_post(Some(rewriter), bodies, bench.concurrency).await?;
                let trivial = serve_and_post(None, bodies, bench.concurrency).await?;
                let floor =
                    serve_and_post(Some(Arc::new(NoRewrites)), bodies, bench.concurrency).await?;
                anyhow::Ok((service, trivial, floor))
            })?;
            println!(
                "| {n} | {traffic} | {:.0} µs | {:.0} µs | {:.1}% | {:.0} µs | {:.0} µs | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
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
        eprintln!("(index of {n} built in {build_s:.1} s)");
    }
    Ok(Outcome::Clean)
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
            let log = selflearn_log::EventLog::open(dir.path(), &Default::default())?;
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
    let latencies = super::post_all(url, bodies, concurrency).await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await??;
    Ok(HttpRun {
        per_second: bodies.len() as f64 / seconds,
        latencies: latencies?,
    })
}
