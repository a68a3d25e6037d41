//! `selflearn-bench ann`: approximate nearest-neighbour indices for a large global layer,
//! compared on the same encodings: build time, recall@10 against an exact scan, and search
//! latency (one thread, p50 and p99).
//!
//! The candidates are requests of the vendored data (SLURP and HWU64 texts) with their slot
//! values swapped for other values of the same slot type seen in the data, as a global layer
//! of millions of people holds one carrier with many titles, names and times; the queries are
//! real ASR hypotheses of SLURP recordings. Encoded with the encoder `learn` uses (the untrained
//! random projection unless `--encoder` names a trained one).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use selflearn_online::encoder::dot;
use selflearn_online::ivf::{Ivf, IvfConfig};
use selflearn_online::{DIM, Encoder};
use serde::{Deserialize, Serialize};

/// Parameters of the ANN benchmark.
#[derive(Debug, Args)]
pub struct AnnBench {
    /// Data directory with the vendored file names and fields.
    #[arg(long, default_value = "data", value_name = "DIR")]
    pub data: PathBuf,
    /// Candidates in the index.
    #[arg(long, default_value_t = 1_000_000)]
    pub candidates: usize,
    /// Queries searched (ASR hypotheses, every so many of the distinct ones).
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Which of every so many hypotheses to take (below the step, 5 with 1,000 queries): 0
    /// gives the queries the search settings were chosen on, another gives disjoint ones.
    #[arg(long, default_value_t = 0)]
    pub query_offset: usize,
    /// Indices compared: `instant-distance`, `hnsw_rs`, `ivf`.
    #[arg(long, value_delimiter = ',', default_values = ["ivf", "hnsw_rs", "instant-distance"])]
    pub methods: Vec<String>,
    /// Lists of the inverted file; 0: its default (eight times the square root of the
    /// candidates).
    #[arg(long, default_value_t = 0)]
    pub ivf_lists: usize,
    /// A trained encoder (`selflearn train`); the seed-7 random projection when absent.
    #[arg(long, value_name = "FILE")]
    pub encoder: Option<PathBuf>,
    /// Write the figures as JSON to this file too (`runs[]`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// One index at one search setting.
#[derive(Debug, Serialize)]
struct Run {
    method: String,
    setting: String,
    candidates: usize,
    build_seconds: f64,
    recall_at_10: f64,
    p50_us: f64,
    p99_us: f64,
}

#[derive(Debug, Deserialize)]
struct Slot {
    #[serde(rename = "type")]
    kind: String,
    /// Byte span in the text; absent where the data could not place the value.
    start: Option<usize>,
    end: Option<usize>,
}

impl Slot {
    fn span(&self) -> Option<(usize, usize)> {
        self.start.zip(self.end)
    }
}

#[derive(Debug, Deserialize)]
struct Annotated {
    text: String,
    #[serde(default)]
    slots: Vec<Slot>,
}

#[derive(Debug, Deserialize)]
struct Recording {
    hyp_text: String,
}

/// SplitMix64, so the texts are the same on every run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<Vec<T>> {
    let text = fs_err::read_to_string(path)?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

/// `wanted` distinct request texts: the data's own, then carriers with swapped slot values.
fn candidate_texts(data: &std::path::Path, wanted: usize) -> anyhow::Result<Vec<String>> {
    let mut annotated: Vec<Annotated> = read_jsonl(&data.join("slurp_text.jsonl"))?;
    annotated.extend(read_jsonl::<Annotated>(&data.join("hwu64.jsonl"))?);
    let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in &annotated {
        for s in &a.slots {
            if let Some(value) = s.span().and_then(|(b, e)| a.text.get(b..e)) {
                values.entry(&s.kind).or_default().push(value);
            }
        }
    }
    for v in values.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut texts: Vec<String> = Vec::with_capacity(wanted);
    for a in &annotated {
        if texts.len() < wanted && seen.insert(a.text.clone()) {
            texts.push(a.text.clone());
        }
    }
    let carriers: Vec<&Annotated> = annotated
        .iter()
        .filter(|a| {
            !a.slots.is_empty()
                && a.slots
                    .iter()
                    .all(|s| s.span().and_then(|(b, e)| a.text.get(b..e)).is_some())
        })
        .collect();
    anyhow::ensure!(
        !carriers.is_empty(),
        "no annotated request in {}",
        data.display()
    );
    let mut state = 7u64;
    let mut misses = 0usize;
    while texts.len() < wanted {
        let carrier = carriers[(next(&mut state) % carriers.len() as u64) as usize];
        let mut slots: Vec<&Slot> = carrier.slots.iter().collect();
        slots.sort_by_key(|s| s.start);
        // Every slot of a carrier has a span (filtered above).
        let mut text = String::new();
        let mut at = 0;
        for (start, end, kind) in slots
            .iter()
            .filter_map(|s| s.span().map(|(b, e)| (b, e, &s.kind)))
        {
            if start < at {
                continue; // overlapping spans: the first one wins
            }
            let pool = &values[kind.as_str()];
            text.push_str(&carrier.text[at..start]);
            text.push_str(pool[(next(&mut state) % pool.len() as u64) as usize]);
            at = end;
        }
        text.push_str(&carrier.text[at..]);
        if seen.insert(text.clone()) {
            texts.push(text);
        } else {
            misses += 1;
            anyhow::ensure!(
                misses < 50 * wanted,
                "the data cannot make {wanted} distinct texts"
            );
        }
    }
    Ok(texts)
}

/// Encodes `texts` on all cores, one row of [`DIM`] per text.
fn encode_all(encoder: &Encoder, texts: &[String]) -> Vec<f32> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let per = texts.len().div_ceil(threads).max(1);
    let mut out = vec![0.0f32; texts.len() * DIM];
    std::thread::scope(|scope| {
        for (chunk, rows) in texts.chunks(per).zip(out.chunks_mut(per * DIM)) {
            scope.spawn(move || {
                for (text, row) in chunk.iter().zip(rows.chunks_exact_mut(DIM)) {
                    row.copy_from_slice(&encoder.encode(text));
                }
            });
        }
    });
    out
}

/// The exact ten nearest of each query, by a full scan on all cores.
fn exact_tens(encodings: &[f32], queries: &[f32]) -> Vec<Vec<usize>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let n = queries.len() / DIM;
    let per = n.div_ceil(threads).max(1);
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    std::thread::scope(|scope| {
        for (chunk, slots) in queries.chunks(per * DIM).zip(out.chunks_mut(per)) {
            scope.spawn(move || {
                for (q, slot) in chunk.chunks_exact(DIM).zip(slots.iter_mut()) {
                    let mut best: Vec<(usize, f32)> = Vec::with_capacity(11);
                    for (i, e) in encodings.chunks_exact(DIM).enumerate() {
                        let s = dot(q, e);
                        if best.len() < 10 || s > best[best.len() - 1].1 {
                            let at = best.partition_point(|(_, b)| *b >= s);
                            best.insert(at, (i, s));
                            best.truncate(10);
                        }
                    }
                    *slot = best.into_iter().map(|(i, _)| i).collect();
                }
            });
        }
    });
    out
}

/// Recall@10 and latency of `search` over every query, on this thread.
fn measure(
    queries: &[f32],
    truth: &[Vec<usize>],
    mut search: impl FnMut(&[f32]) -> Vec<usize>,
) -> (f64, f64, f64) {
    let mut found = 0usize;
    let mut nanos: Vec<u128> = Vec::with_capacity(truth.len());
    for (q, exact) in queries.chunks_exact(DIM).zip(truth) {
        let started = Instant::now();
        let got = std::hint::black_box(search(q));
        nanos.push(started.elapsed().as_nanos());
        found += got.iter().take(10).filter(|i| exact.contains(i)).count();
    }
    nanos.sort_unstable();
    let at = |p: f64| nanos[((nanos.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    (found as f64 / (10 * truth.len()) as f64, at(0.5), at(0.99))
}

/// An encoding as an `instant-distance` point, as the online index builds them.
#[derive(Debug, Clone)]
struct Point(Vec<f32>);

impl instant_distance::Point for Point {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

/// Runs the benchmark.
pub fn run(bench: AnnBench) -> anyhow::Result<()> {
    let encoder = match &bench.encoder {
        Some(path) => Encoder::load(path)?,
        None => Encoder::random(7),
    };
    let started = Instant::now();
    let texts = candidate_texts(&bench.data, bench.candidates)?;
    let recordings: Vec<Recording> = read_jsonl(&bench.data.join("slurp_asr_multi.jsonl"))?;
    let mut asked: Vec<String> = recordings.into_iter().map(|r| r.hyp_text).collect();
    asked.sort_unstable();
    asked.dedup();
    let step = (asked.len() / bench.queries.max(1)).max(1);
    let asked: Vec<String> = asked
        .into_iter()
        .skip(bench.query_offset % step)
        .step_by(step)
        .take(bench.queries)
        .collect();
    let encodings = encode_all(&encoder, &texts);
    let queries = encode_all(&encoder, &asked);
    let truth = exact_tens(&encodings, &queries);
    println!(
        "{} candidates, {} queries, encoded and searched exactly in {:.1} s",
        texts.len(),
        asked.len(),
        started.elapsed().as_secs_f64()
    );
    println!("| index | search setting | build | recall@10 | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    let mut runs: Vec<Run> = Vec::new();
    let candidates = texts.len();
    let report = |runs: &mut Vec<Run>,
                  method: &str,
                  setting: String,
                  build: f64,
                  (recall, p50, p99): (f64, f64, f64)| {
        println!(
            "| {method} | {setting} | {build:.1} s | {recall:.4} | {p50:.0} µs | {p99:.0} µs |"
        );
        runs.push(Run {
            method: method.to_owned(),
            setting,
            candidates,
            build_seconds: build,
            recall_at_10: recall,
            p50_us: p50,
            p99_us: p99,
        });
    };
    for method in &bench.methods {
        match method.as_str() {
            "ivf" => {
                let started = Instant::now();
                let config = IvfConfig {
                    lists: bench.ivf_lists,
                    ..IvfConfig::default()
                };
                let ivf = Ivf::build(&encodings, DIM, config);
                let build = started.elapsed().as_secs_f64();
                for probes in [16, 32, 64, 96, 128] {
                    let ivf = ivf.clone().with_probes(probes);
                    let figures = measure(&queries, &truth, |q| {
                        ivf.search(q, &encodings, 10)
                            .into_iter()
                            .map(|(i, _)| i)
                            .collect()
                    });
                    report(
                        &mut runs,
                        "ivf",
                        format!(
                            "{} lists (longest {}), {probes} probed",
                            ivf.lists(),
                            ivf.longest_list()
                        ),
                        build,
                        figures,
                    );
                }
            }
            "hnsw_rs" => {
                use hnsw_rs::prelude::{DistCosine, Hnsw};
                let started = Instant::now();
                let hnsw: Hnsw<f32, DistCosine> = Hnsw::new(16, texts.len(), 16, 64, DistCosine);
                let rows: Vec<(&[f32], usize)> = encodings
                    .chunks_exact(DIM)
                    .enumerate()
                    .map(|(i, e)| (e, i))
                    .collect();
                hnsw.parallel_insert_slice(&rows);
                let build = started.elapsed().as_secs_f64();
                for ef in [32, 64, 128] {
                    let figures = measure(&queries, &truth, |q| {
                        hnsw.search(q, 10, ef).into_iter().map(|n| n.d_id).collect()
                    });
                    report(
                        &mut runs,
                        "hnsw_rs",
                        format!("M 16, ef_construction 64, ef {ef}"),
                        build,
                        figures,
                    );
                }
            }
            "instant-distance" => {
                use instant_distance::{Builder, Search};
                let started = Instant::now();
                let points: Vec<Point> = encodings
                    .chunks_exact(DIM)
                    .map(|e| Point(e.to_vec()))
                    .collect();
                let values: Vec<u32> = (0..texts.len() as u32).collect();
                let map = Builder::default()
                    .seed(0x5e1f)
                    .ef_construction(64)
                    .build(points, values);
                let build = started.elapsed().as_secs_f64();
                let mut search = Search::default();
                let figures = measure(&queries, &truth, |q| {
                    map.search(&Point(q.to_vec()), &mut search)
                        .take(10)
                        .map(|item| *item.value as usize)
                        .collect()
                });
                report(
                    &mut runs,
                    "instant-distance",
                    "ef_construction 64, ef_search 100 (as served)".into(),
                    build,
                    figures,
                );
            }
            other => anyhow::bail!("no index {other:?}: instant-distance, hnsw_rs or ivf"),
        }
        if let Some(path) = &bench.json {
            fs_err::write(
                path,
                serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))?,
            )?;
        }
    }
    Ok(())
}
