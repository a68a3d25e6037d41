//! `selflearn schema`: prints the turn event's JSON Schema (the committed
//! `schema/turn-event.v1.schema.json` is this output).

use std::io::Write;

use clap::Args;

use super::Outcome;

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {}

/// Prints the schema to standard output.
pub fn run(_args: SchemaArgs) -> anyhow::Result<Outcome> {
    std::io::stdout().write_all(selflearn_types::schema::turn_event_schema().as_bytes())?;
    Ok(Outcome::Clean)
}
