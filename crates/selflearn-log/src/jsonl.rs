//! JSON Lines: one turn event per line, blank lines ignored.

use std::io::{BufRead, Read, Write};

use selflearn_types::{EventError, TurnEvent, parse_event};

use crate::error::{LogError, Position, Result};

/// Longest line read, in bytes (the service's default body limit): a file without newlines
/// is refused at this length instead of being buffered whole.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Parses and validates events line by line; each error names its 1-based line. A line that
/// is not UTF-8 or is longer than [`MAX_LINE_BYTES`] is an invalid record, and ends the read.
pub fn read_jsonl(reader: impl BufRead) -> impl Iterator<Item = Result<(Position, TurnEvent)>> {
    let mut lines = BoundedLines {
        reader,
        line: 0,
        done: false,
    };
    std::iter::from_fn(move || lines.next_record())
}

/// Lines of at most [`MAX_LINE_BYTES`], as bytes.
struct BoundedLines<R> {
    reader: R,
    line: usize,
    done: bool,
}

impl<R: BufRead> BoundedLines<R> {
    fn next_record(&mut self) -> Option<Result<(Position, TurnEvent)>> {
        loop {
            if self.done {
                return None;
            }
            self.line += 1;
            let position = Position::Line(self.line);
            let refuse = |reason: String| LogError::InvalidRecord {
                position,
                source: EventError::new(".", reason),
            };
            let mut bytes = Vec::new();
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut bytes);
            match read {
                Err(e) => {
                    self.done = true;
                    return Some(Err(LogError::Io(e)));
                }
                Ok(0) => return None,
                Ok(_) => {}
            }
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            } else if bytes.len() > MAX_LINE_BYTES {
                self.done = true;
                return Some(Err(refuse(format!(
                    "longer than {MAX_LINE_BYTES} bytes (a file without line breaks?)"
                ))));
            }
            let text = match std::str::from_utf8(&bytes) {
                Ok(text) => text,
                Err(e) => {
                    self.done = true;
                    return Some(Err(refuse(format!(
                        "not valid UTF-8 (at byte {} of the line)",
                        e.valid_up_to()
                    ))));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(
                parse_event(text)
                    .map(|event| (position, event))
                    .map_err(|source| LogError::InvalidRecord { position, source }),
            );
        }
    }
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

    #[test]
    fn invalid_utf8_is_a_bad_record_on_its_line() {
        let events = generated_events(2, 1);
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &events).unwrap();
        buf.extend_from_slice(b"{\"a\": \"\xff\xfe\"}\n");
        let err = read_jsonl(&buf[..]).find_map(|r| r.err()).unwrap();
        assert!(err.is_input_error(), "{err}");
        assert!(err.to_string().starts_with("line 3:"), "{err}");
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_without_reading_it_whole() {
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(b'x');
                Ok(buf.len())
            }
        }
        let reader = std::io::BufReader::new(Endless);
        let results: Vec<_> = read_jsonl(reader).collect();
        assert_eq!(results.len(), 1, "one error, then the end");
        let err = results.into_iter().next().unwrap().unwrap_err();
        assert!(err.is_input_error(), "{err}");
        assert!(err.to_string().contains("longer than"), "{err}");
    }
}
