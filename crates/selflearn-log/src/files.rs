//! Event files in and out of the log: each file ingested as one transaction, the log exported
//! in either order, JSON Lines or Parquet.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::jsonl::{read_jsonl, write_jsonl};
use crate::parquet::{ParquetEventWriter, read_parquet};
use selflearn_types::TurnEvent;

use crate::{AppendSummary, EventLog, LogError, Position, Result, ScanOrder};

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

/// Records of an events file, each with its position.
pub type Records<'a> = Box<dyn Iterator<Item = Result<(Position, TurnEvent)>> + 'a>;

/// The events of the file at `path` (`-`: JSON Lines from standard input), each with its
/// position, as `ingest` reads them, without storing them.
pub fn read_events(path: &Path, format: Option<Format>) -> Result<Records<'_>> {
    if path == Path::new("-") {
        return Ok(Box::new(read_jsonl(std::io::stdin().lock())));
    }
    Ok(match Format::of(path, format) {
        Format::Jsonl => Box::new(read_jsonl(BufReader::with_capacity(
            1 << 20,
            fs_err::File::open(path)?,
        ))),
        Format::Parquet => Box::new(read_parquet(path)?),
    })
}

/// Writes the whole log to `out` (`-`: JSON Lines to standard output) in `order`; returns the
/// events written. A file is written beside `out` and moved into place only when complete
/// (and durable): a failed export leaves no partial file, and an older `out` intact.
pub fn export(log: &EventLog, out: &Path, format: Option<Format>, order: ScanOrder) -> Result<u64> {
    let to_stdout = out.as_os_str() == "-";
    let format = Format::of(out, format);
    if to_stdout {
        return match format {
            Format::Parquet => Err(LogError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "Parquet cannot be written to standard output; give a file",
            ))),
            Format::Jsonl => write_jsonl_of(log, order, std::io::stdout().lock()),
        };
    }
    let partial = selflearn_types::durable::partial_path(out);
    let written = match format {
        Format::Parquet => ParquetEventWriter::create(&partial).and_then(|mut writer| {
            log.scan(order, |event| writer.write(event))?;
            writer.finish()
        }),
        Format::Jsonl => fs_err::File::create(&partial)
            .map_err(LogError::Io)
            .and_then(|file| write_jsonl_of(log, order, file)),
    };
    let persisted = written.and_then(|n| {
        selflearn_types::durable::persist(&partial, out)?;
        Ok(n)
    });
    if persisted.is_err() {
        let _ = fs_err::remove_file(&partial);
    }
    persisted
}

/// Every event of `log` in `order` as JSON Lines into `sink`.
fn write_jsonl_of(log: &EventLog, order: ScanOrder, sink: impl Write) -> Result<u64> {
    let mut sink = BufWriter::new(sink);
    let mut n = 0;
    log.scan(order, |event| {
        n += write_jsonl(&mut sink, [&event])?;
        Ok(())
    })?;
    sink.flush()?;
    Ok(n)
}
