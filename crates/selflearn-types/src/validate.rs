//! Strict parsing and validation of turn events.
//!
//! Serde rejects unknown fields, missing required fields and wrong types; the checks here add
//! what types cannot say (non-empty ids, a plausible timestamp, probabilities in [0, 1]). Every
//! error names the offending field by its JSON path so that a person can fix the record.

use crate::event::{SCHEMA_VERSION, TurnEvent};

/// Earliest accepted timestamp: 2000-01-01T00:00:00Z.
pub const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// Latest accepted timestamp: 2100-01-01T00:00:00Z.
pub const MAX_TIMESTAMP_MS: i64 = 4_102_444_800_000;
/// Longest accepted id (event, user, device), in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Why one event was refused: the field (a JSON path such as `device.id`, or `.` for the record
/// itself) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct EventError {
    /// JSON path of the offending field.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl EventError {
    /// An error about `field` (`.` for the record itself).
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Parses one event from JSON text and validates it. An event is a JSON object: serde would
/// also read a struct from an array of its fields in order, which no producer means.
pub fn parse_event(json: &str) -> Result<TurnEvent, EventError> {
    match json.trim_start().chars().next() {
        Some('{') => {}
        Some(c) => {
            let found = match c {
                '[' => "an array",
                '"' => "a string",
                _ => "something else",
            };
            return Err(EventError::new(
                ".",
                format!("expected a JSON object (one turn event), found {found}"),
            ));
        }
        None => return Err(EventError::new(".", "empty record")),
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let event: TurnEvent = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end().map_err(|e| EventError::new(".", e.to_string()))?;
    validate(&event)?;
    Ok(event)
}

/// Converts an already-parsed JSON value into a validated event.
pub fn event_from_value(value: serde_json::Value) -> Result<TurnEvent, EventError> {
    let event: TurnEvent = serde_path_to_error::deserialize(value).map_err(path_error)?;
    validate(&event)?;
    Ok(event)
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> EventError {
    let field = e.path().to_string();
    EventError::new(field, e.into_inner().to_string())
}

/// Checks the rules that the types alone do not enforce.
pub fn validate(event: &TurnEvent) -> Result<(), EventError> {
    if event.schema_version != SCHEMA_VERSION {
        return Err(EventError::new(
            "schema_version",
            format!(
                "unsupported version {}, expected {SCHEMA_VERSION}",
                event.schema_version
            ),
        ));
    }
    check_id("event_id", &event.event_id)?;
    check_id("user_id", &event.user_id)?;
    if let Some(source) = &event.source {
        check_id("source", source)?;
    }
    check_id("device.id", &event.device.id)?;
    if let Some(hint) = &event.session_hint {
        check_id("session_hint", hint)?;
    }
    if !(MIN_TIMESTAMP_MS..MAX_TIMESTAMP_MS).contains(&event.timestamp_ms) {
        return Err(EventError::new(
            "timestamp_ms",
            format!(
                "{} is outside 2000-01-01..2100-01-01; expected milliseconds since the Unix epoch",
                event.timestamp_ms
            ),
        ));
    }
    check_probability("asr.confidence", event.asr.confidence)?;
    check_probability("asr.wake_confidence", event.asr.wake_confidence)?;
    for (i, hyp) in event.asr.nbest.iter().enumerate() {
        check_probability(&format!("asr.nbest[{i}].confidence"), hyp.confidence)?;
    }
    if let Some(nlu) = &event.nlu {
        check_non_empty("nlu.intent", &nlu.intent)?;
        check_probability("nlu.confidence", nlu.confidence)?;
        for (i, slot) in nlu.slots.iter().enumerate() {
            check_non_empty(&format!("nlu.slots[{i}].name"), &slot.name)?;
        }
    }
    for (i, entity) in event.entities.iter().enumerate() {
        check_non_empty(&format!("entities[{i}].slot"), &entity.slot)?;
    }
    if let Some(rewrite) = &event.rewrite {
        check_non_empty("rewrite.original_text", &rewrite.original_text)?;
        check_non_empty("rewrite.rewritten_text", &rewrite.rewritten_text)?;
        check_non_empty("rewrite.layer", &rewrite.layer)?;
        check_probability("rewrite.score", rewrite.score)?;
    }
    Ok(())
}

/// Checks a rewrite request's ids as an event's are checked: a user id, source or device id
/// that no event could carry is refused before it reaches a layer.
pub fn validate_request(request: &crate::RewriteRequest) -> Result<(), EventError> {
    check_id("user_id", &request.user_id)?;
    if let Some(source) = &request.source {
        check_id("source", source)?;
    }
    check_id("device.id", &request.device.id)
}

/// Checks one id (a user, source, device or event id): not empty, not too long, and nothing
/// that looks like something else on screen or in a log: no control characters, and no
/// invisible or direction-changing ones (zero-width, bidi overrides), with which two ids that
/// read the same would be different people.
pub fn validate_id(field: &str, id: &str) -> Result<(), EventError> {
    check_id(field, id)
}

/// Characters that change how text is shown without being seen: zero-width characters,
/// bidirectional marks, embeddings, overrides and isolates, the word joiner and the BOM.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

fn check_id(field: &str, id: &str) -> Result<(), EventError> {
    check_non_empty(field, id)?;
    if id.len() > MAX_ID_LEN {
        return Err(EventError::new(
            field,
            format!("is {} bytes long, at most {MAX_ID_LEN} allowed", id.len()),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(EventError::new(field, "contains a control character"));
    }
    if let Some(c) = id.chars().find(|&c| is_invisible(c)) {
        return Err(EventError::new(
            field,
            format!(
                "contains the invisible or direction-changing character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

fn check_non_empty(field: &str, value: &str) -> Result<(), EventError> {
    if value.trim().is_empty() {
        return Err(EventError::new(field, "must not be empty"));
    }
    Ok(())
}

fn check_probability(field: &str, value: Option<f32>) -> Result<(), EventError> {
    match value {
        Some(p) if !(0.0..=1.0).contains(&p) => Err(EventError::new(
            field,
            format!("{p} is not a probability in [0, 1]"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_event;

    fn json_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = serde_json::to_value(sample_event()).unwrap();
        edit(&mut value);
        value.to_string()
    }

    #[test]
    fn a_valid_event_parses_back_equal() {
        let json = serde_json::to_string(&sample_event()).unwrap();
        assert_eq!(parse_event(&json).unwrap(), sample_event());
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let json = json_with(|v| v["device"]["colour"] = "red".into());
        let err = parse_event(&json).unwrap_err();
        assert_eq!(err.field, "device.colour");
        assert!(err.reason.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let json = json_with(|v| {
            v.as_object_mut().unwrap().remove("user_id");
        });
        let err = parse_event(&json).unwrap_err();
        assert!(err.reason.contains("missing field `user_id`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let json = json_with(|v| v["asr"]["confidence"] = "high".into());
        let err = parse_event(&json).unwrap_err();
        assert_eq!(err.field, "asr.confidence");
        assert!(err.reason.contains("invalid type"), "{err}");
    }

    #[test]
    fn truncated_json_is_refused() {
        let json = serde_json::to_string(&sample_event()).unwrap();
        let err = parse_event(&json[..json.len() / 2]).unwrap_err();
        assert!(err.reason.contains("EOF"), "{err}");
    }

    #[test]
    fn trailing_garbage_is_refused() {
        let json = serde_json::to_string(&sample_event()).unwrap() + " {}";
        assert!(parse_event(&json).is_err());
    }

    #[test]
    fn bad_timestamps_are_refused() {
        for ts in [-1_i64, 0, 1_700_000_000, 9_999_999_999_999] {
            let json = json_with(|v| v["timestamp_ms"] = ts.into());
            let err = parse_event(&json).unwrap_err();
            assert_eq!(err.field, "timestamp_ms", "{ts}: {err}");
        }
        let json = json_with(|v| v["timestamp_ms"] = "2026-01-01T00:00:00Z".into());
        assert_eq!(parse_event(&json).unwrap_err().field, "timestamp_ms");
    }

    #[test]
    fn empty_ids_are_refused() {
        let json = json_with(|v| v["event_id"] = "".into());
        assert_eq!(parse_event(&json).unwrap_err().field, "event_id");
        let json = json_with(|v| v["device"]["id"] = "  ".into());
        assert_eq!(parse_event(&json).unwrap_err().field, "device.id");
    }

    #[test]
    fn probabilities_outside_unit_interval_are_refused() {
        let json = json_with(|v| v["nlu"]["confidence"] = 1.5.into());
        assert_eq!(parse_event(&json).unwrap_err().field, "nlu.confidence");
    }

    #[test]
    fn other_schema_versions_are_refused() {
        let json = json_with(|v| v["schema_version"] = 2.into());
        assert_eq!(parse_event(&json).unwrap_err().field, "schema_version");
    }

    #[test]
    fn unknown_enum_value_is_refused() {
        let json = json_with(|v| v["device"]["kind"] = "toaster".into());
        let err = parse_event(&json).unwrap_err();
        assert_eq!(err.field, "device.kind");
        assert!(err.reason.contains("unknown variant"), "{err}");
    }

    #[test]
    fn ids_that_read_like_others_are_refused_and_plain_unicode_is_not() {
        for (id, refused) in [
            ("alice\u{200B}", true),
            ("\u{202E}ecila", true),
            ("al\u{2066}ice", true),
            ("\u{FEFF}alice", true),
            ("alice\u{7}", true),
            ("zoë-müller", false),
            ("用户-7", false),
        ] {
            let json = json_with(|v| v["user_id"] = id.into());
            assert_eq!(parse_event(&json).is_err(), refused, "{id:?}");
            assert_eq!(validate_id("source", id).is_err(), refused, "{id:?}");
        }
    }

    #[test]
    fn an_event_must_be_an_object_not_an_array_of_its_fields() {
        for (json, found) in [
            ("[]", "an array"),
            ("  [1, 2]", "an array"),
            ("\"x\"", "a string"),
            ("7", "something else"),
        ] {
            let err = parse_event(json).unwrap_err();
            assert_eq!(err.field, ".", "{json}");
            assert!(err.reason.contains(found), "{json}: {err}");
        }
    }
}
