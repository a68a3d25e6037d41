//! `selflearn-bench`: performance measurements, in their own binary so that the `selflearn`
//! release binary links none of their generators and clients. Run it from a release build:
//! `cargo run --release -p selflearn-bench -- ingest` (see the README's performance section).

mod ann;
mod bench;
mod ingest_scale;
mod online;
mod replicas;
mod soak;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    bench::run(bench::BenchArgs::parse())
}
