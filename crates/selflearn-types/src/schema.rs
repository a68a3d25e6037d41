//! The committed JSON Schema of the turn event, generated from the Rust types.

use crate::event::TurnEvent;

/// Path of the committed schema, relative to the repository root.
pub const SCHEMA_PATH: &str = "schema/turn-event.v1.schema.json";

/// The JSON Schema of [`TurnEvent`], pretty-printed with a trailing newline.
pub fn turn_event_schema() -> String {
    let schema = schemars::schema_for!(TurnEvent);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed schema must be regenerated (`selflearn schema > schema/…`) when the types
    /// change; this test fails until it is.
    #[test]
    fn committed_schema_matches_the_types() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schema/turn-event.v1.schema.json"
        );
        let committed = fs_err::read_to_string(path).unwrap();
        assert!(
            committed == turn_event_schema(),
            "{SCHEMA_PATH} is out of date: run `cargo run -p selflearn-cli -- schema > {SCHEMA_PATH}`"
        );
    }

    #[test]
    fn schema_forbids_unknown_fields_and_lists_required_ones() {
        let schema: serde_json::Value = serde_json::from_str(&turn_event_schema()).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        let required = schema["required"].as_array().unwrap();
        for field in [
            "event_id",
            "timestamp_ms",
            "user_id",
            "device",
            "asr",
            "response",
        ] {
            assert!(
                required.contains(&field.into()),
                "{field} should be required"
            );
        }
    }
}
