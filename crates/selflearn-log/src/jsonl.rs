//! JSON Lines: one turn event per line, blank lines ignored.

use std::io::{BufRead, Write};

use selflearn_types::{TurnEvent, parse_event};

use crate::error::{LogError, Position, Result};

/// Parses and validates events line by line; each error names its 1-based line.
pub fn read_jsonl(reader: impl BufRead) -> impl Iterator<Item = Result<(Position, TurnEvent)>> {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let position = Position::Line(i + 1);
        match line {
            Err(e) => Some(Err(LogError::Io(e))),
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(
                parse_event(&line)
                    .map(|event| (position, event))
                    .map_err(|source| LogError::InvalidRecord { position, source }),
            ),
        }
    })
}

/// Writes one event per line.
pub fn write_jsonl<'a>(
    mut writer: impl Write,
    events: impl IntoIterator<Item = &'a TurnEvent>,
) -> Result<u64> {
    let mut n = 0;
    for event in events {
        serde_json::to_writer(&mut writer, event).map_err(std::io::Error::from)?;
        writer.write_all(b"\n")?;
        n += 1;
    }
    writer.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use selflearn_types::testing::generated_events;

    #[test]
    fn round_trips_and_skips_blank_lines() {
        let events = generated_events(5, 2);
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &events).unwrap();
        buf.extend_from_slice(b"\n  \n");
        let read: Vec<_> = read_jsonl(&buf[..]).map(|r| r.unwrap().1).collect();
        assert_eq!(read, events);
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let events = generated_events(3, 1);
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &events).unwrap();
        buf.extend_from_slice(b"{\"schema_version\": 1, \"oops\": true}\n");
        let err = read_jsonl(&buf[..]).find_map(|r| r.err()).unwrap();
        assert!(
            matches!(
                err,
                LogError::InvalidRecord {
                    position: Position::Line(4),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("line 4:"), "{err}");
    }
}
