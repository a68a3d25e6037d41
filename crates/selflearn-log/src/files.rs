//! Event files in and out of the log: each file ingested as one transaction, the log exported
//! in either order, JSON Lines or Parquet.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::jsonl::{read_jsonl, write_jsonl};
use crate::parquet::{ParquetEventWriter, read_parquet};
use crate::{AppendSummary, EventLog, LogError, Result, ScanOrder};

/// An event file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines, one event per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The explicit choice, else guessed from the extension (`.parquet`, else JSONL).
    pub fn of(path: &Path, explicit: Option<Format>) -> Format {
        explicit.unwrap_or_else(|| {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
            {
                Format::Parquet
            } else {
                Format::Jsonl
            }
        })
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "parquet" => Ok(Format::Parquet),
            other => Err(format!("unknown format {other:?} (jsonl, parquet)")),
        }
    }
}

impl std::str::FromStr for ScanOrder {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "arrival" => Ok(ScanOrder::Arrival),
            "user-time" => Ok(ScanOrder::UserTime),
            other => Err(format!("unknown order {other:?} (arrival, user-time)")),
        }
    }
}

/// Stores every event of the file at `path` (`-`: JSON Lines from standard input) in one
/// transaction: a bad record refuses the whole file. `progress` is told the records read.
pub fn ingest_file(
    log: &mut EventLog,
    path: &Path,
    format: Option<Format>,
    progress: &mut dyn FnMut(u64),
) -> Result<AppendSummary> {
    if path == Path::new("-") {
        return log.append_records(read_jsonl(std::io::stdin().lock()), progress);
    }
    match Format::of(path, format) {
        Format::Jsonl => {
            let file = fs_err::File::open(path)?;
            log.append_records(
                read_jsonl(BufReader::with_capacity(1 << 20, file)),
                progress,
            )
        }
        Format::Parquet => log.append_records(read_parquet(path)?, progress),
    }
}

/// Writes the whole log to `out` (`-`: JSON Lines to standard output) in `order`; returns the
/// events written.
pub fn export(log: &EventLog, out: &Path, format: Option<Format>, order: ScanOrder) -> Result<u64> {
    let to_stdout = out.as_os_str() == "-";
    match (to_stdout, Format::of(out, format)) {
        (false, Format::Parquet) => {
            let mut writer = ParquetEventWriter::create(out)?;
            log.scan(order, |event| writer.write(event))?;
            writer.finish()
        }
        (true, Format::Parquet) => Err(LogError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "Parquet cannot be written to standard output; give a file",
        ))),
        (_, Format::Jsonl) => {
            let sink: Box<dyn Write> = if to_stdout {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(fs_err::File::create(out)?)
            };
            let mut sink = BufWriter::new(sink);
            let mut n = 0;
            log.scan(order, |event| {
                n += write_jsonl(&mut sink, [&event])?;
                Ok(())
            })?;
            sink.flush()?;
            Ok(n)
        }
    }
}
