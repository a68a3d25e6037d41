//! The command-line grammar.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{
    check, demo, eval, export, forget, ingest, learn, rewrites, schema, serve, token, train, world,
};

/// Self-learning engine for voice and conversational assistants.
#[derive(Debug, Parser)]
#[command(name = "selflearn", version, about)]
pub struct Cli {
    /// TOML configuration file (see config/selflearn.toml for every key and its default).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the event log; overrides `log.dir`.
    #[arg(long, global = true, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// More log output (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands, one module each under `commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline on built-in data and report what happened.
    Demo(demo::DemoArgs),
    /// Store turn events from JSONL or Parquet files (each file all or nothing).
    Ingest(ingest::IngestArgs),
    /// Write the event log to JSONL or Parquet.
    Export(export::ExportArgs),
    /// Learn from the event log: sessions, friction signals, precomputed rewrites, the online
    /// layers' indices and rankers.
    Learn(learn::LearnArgs),
    /// The precomputed rewrites the set serves, as `{"source", "target"}` pairs (blocked ones
    /// left out), for tools that read rewrites from a file.
    Rewrites(rewrites::RewritesArgs),
    /// Train the online layers' retrieval encoder on the log's reformulation pairs.
    Train(train::TrainArgs),
    /// Delete every event of one user, scrubbed from the log's files (derived artifacts drop
    /// them at the next learn).
    Forget(forget::ForgetArgs),
    /// Check every page and record of the event log; says how to recover from damage.
    Check(check::CheckArgs),
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Make a new API token and print its configuration entry.
    Token(token::TokenArgs),
    /// Print the JSON Schema of the turn event.
    Schema(schema::SchemaArgs),
    /// The evaluation world built from real data.
    World(world::WorldArgs),
    /// Paired A/B arms on the world: control against selflearn's layers.
    Eval(eval::EvalArgs),
}
