//! `selflearn export`: writes the event log to JSONL or Parquet, for other engines
//! (DataFusion, Spark, DuckDB) or for re-ingesting elsewhere.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use selflearn_log::jsonl::write_jsonl;
use selflearn_log::parquet::ParquetEventWriter;
use selflearn_log::{EventLog, ScanOrder};

use super::Outcome;
use crate::config::Config;
use crate::format::Format;

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file; `-` writes JSONL to standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Output format; guessed from the extension when absent (`.parquet`, else JSONL).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Row order.
    #[arg(long, value_enum, default_value_t = Order::Arrival)]
    pub order: Order,
}

/// Row order of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    /// The order events were acknowledged in.
    Arrival,
    /// By user, then time.
    UserTime,
}

/// Writes the whole log.
pub fn run(args: ExportArgs, config: &Config) -> anyhow::Result<Outcome> {
    // Read-only: exporting works while a server is writing the same log.
    let log = EventLog::open_read_only(&config.log.dir)?;
    let order = match args.order {
        Order::Arrival => ScanOrder::Arrival,
        Order::UserTime => ScanOrder::UserTime,
    };
    let to_stdout = args.out.as_os_str() == "-";
    let written = match (to_stdout, Format::of(&args.out, args.format)) {
        (false, Format::Parquet) => {
            let mut writer = ParquetEventWriter::create(&args.out)?;
            log.scan(order, |event| writer.write(event))?;
            writer.finish()?
        }
        (true, Format::Parquet) => {
            anyhow::bail!("Parquet cannot be written to standard output; give a file")
        }
        (_, Format::Jsonl) => {
            let sink: Box<dyn Write> = if to_stdout {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(fs_err::File::create(&args.out)?)
            };
            let mut out = BufWriter::new(sink);
            let mut n = 0;
            log.scan(order, |event| {
                n += write_jsonl(&mut out, [&event])?;
                Ok(())
            })?;
            out.flush()?;
            n
        }
    };
    if !to_stdout {
        println!("{written} events written to {}", args.out.display());
    }
    Ok(Outcome::Clean)
}
