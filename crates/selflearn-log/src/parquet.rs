//! Parquet import and export, so that the same log can be read by columnar engines
//! (DataFusion, Spark, DuckDB).
//!
//! The Arrow schema is traced from the Rust types by `serde_arrow`: nested parts of the event
//! become Arrow structs and lists, free-form maps become Arrow maps, and enums become strings.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, FieldRef, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use selflearn_types::{TurnEvent, validate};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::error::{LogError, Position, Result};

/// Rows per Arrow record batch (and Parquet row group chunk) when writing.
const BATCH_ROWS: usize = 8192;

/// The Arrow fields of a turn event.
pub fn event_fields() -> &'static [FieldRef] {
    static FIELDS: OnceLock<Vec<FieldRef>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let options = TracingOptions::default()
            .enums_without_data_as_strings(true)
            .map_as_struct(false)
            .strings_as_large_utf8(false)
            .sequence_as_large_list(false);
        let traced = Vec::<FieldRef>::from_type::<TurnEvent>(options)
            .expect("the turn event has an Arrow schema");
        traced
            .iter()
            .map(|f| Arc::new(nullable_members(f)))
            .collect()
    })
}

/// Makes every struct member nullable, recursively. Empty lists and maps are omitted from the
/// serialised event (`skip_serializing_if`), so their columns must accept nulls.
fn nullable_members(field: &Field) -> Field {
    let data_type = match field.data_type() {
        DataType::Struct(members) => DataType::Struct(
            members
                .iter()
                .map(|m| Arc::new(nullable_members(m)))
                .collect(),
        ),
        DataType::List(item) => DataType::List(Arc::new(Field::new(
            item.name(),
            nullable_members(item).data_type().clone(),
            item.is_nullable(),
        ))),
        other => other.clone(),
    };
    Field::new(field.name(), data_type, true).with_metadata(field.metadata().clone())
}

fn columnar(e: impl std::fmt::Display) -> LogError {
    LogError::Columnar(e.to_string())
}

/// Converts events into one Arrow record batch.
pub fn to_record_batch(events: &[TurnEvent]) -> Result<RecordBatch> {
    serde_arrow::to_record_batch(event_fields(), &events).map_err(columnar)
}

/// Streams events into a Parquet file.
#[derive(Debug)]
pub struct ParquetEventWriter {
    writer: ArrowWriter<fs_err::File>,
    pending: Vec<TurnEvent>,
    written: u64,
}

impl ParquetEventWriter {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = fs_err::File::create(path)?;
        let schema = Arc::new(Schema::new(event_fields().to_vec()));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(columnar)?;
        Ok(Self {
            writer,
            pending: Vec::with_capacity(BATCH_ROWS),
            written: 0,
        })
    }

    /// Adds one event.
    pub fn write(&mut self, event: TurnEvent) -> Result<()> {
        self.pending.push(event);
        if self.pending.len() >= BATCH_ROWS {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            let batch = to_record_batch(&self.pending)?;
            self.writer.write(&batch).map_err(columnar)?;
            self.written += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes what is pending and the file footer; returns the number of events written.
    pub fn finish(mut self) -> Result<u64> {
        self.flush_pending()?;
        self.writer.close().map_err(columnar)?;
        Ok(self.written)
    }
}

/// Writes all `events` to a Parquet file.
pub fn write_parquet(path: &Path, events: impl IntoIterator<Item = TurnEvent>) -> Result<u64> {
    let mut writer = ParquetEventWriter::create(path)?;
    for event in events {
        writer.write(event)?;
    }
    writer.finish()
}

/// Reads and validates the events of a Parquet file; each error names its 0-based row.
pub fn read_parquet(path: &Path) -> Result<impl Iterator<Item = Result<(Position, TurnEvent)>>> {
    let bad_file = |e: &dyn std::fmt::Display| LogError::BadFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let file = fs_err::File::open(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file.into_file())
        .map_err(|e| bad_file(&e))?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| bad_file(&e))?;
    let path = path.to_path_buf();
    let mut row = 0usize;
    Ok(reader.flat_map(move |batch| {
        let decoded: Vec<Result<(Position, TurnEvent)>> = match batch {
            Err(e) => vec![Err(LogError::BadFile {
                path: path.clone(),
                reason: e.to_string(),
            })],
            Ok(batch) => decode_batch(&batch, &mut row),
        };
        decoded
    }))
}

/// Decodes one batch row by row, so that a bad row is named by its index in the file.
fn decode_batch(batch: &RecordBatch, row: &mut usize) -> Vec<Result<(Position, TurnEvent)>> {
    match serde_arrow::from_record_batch::<Vec<TurnEvent>>(batch) {
        Ok(events) => events
            .into_iter()
            .map(|event| {
                let position = Position::Index(*row);
                *row += 1;
                validate(&event)
                    .map(|()| (position, event))
                    .map_err(|source| LogError::InvalidRecord { position, source })
            })
            .collect(),
        Err(_) => (0..batch.num_rows())
            .map(|i| {
                let position = Position::Index(*row);
                *row += 1;
                serde_arrow::from_record_batch::<Vec<TurnEvent>>(&batch.slice(i, 1))
                    .map_err(|e| selflearn_types::EventError {
                        field: ".".into(),
                        reason: e.to_string(),
                    })
                    .and_then(|mut one| {
                        let event = one.pop().expect("one row decodes to one event");
                        validate(&event).map(|()| event)
                    })
                    .map(|event| (position, event))
                    .map_err(|source| LogError::InvalidRecord { position, source })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use selflearn_types::testing::generated_events;

    #[test]
    fn events_round_trip_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let events = generated_events(BATCH_ROWS + 17, 7);
        assert_eq!(
            write_parquet(&path, events.clone()).unwrap(),
            events.len() as u64
        );
        let read: Vec<_> = read_parquet(&path).unwrap().map(|r| r.unwrap().1).collect();
        assert_eq!(read, events);
    }

    #[test]
    fn a_file_that_is_not_parquet_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.parquet");
        fs_err::write(&path, "not parquet").unwrap();
        let err = read_parquet(&path).err().unwrap();
        assert!(err.to_string().contains("fake.parquet"), "{err}");
    }
}
