//! Valid events for tests and benchmarks: one fixed sample, and a proptest strategy that covers
//! every optional part of the schema.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::event::*;
use crate::validate::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};

/// A fixed, fully populated valid event.
pub fn sample_event() -> TurnEvent {
    TurnEvent {
        schema_version: SCHEMA_VERSION,
        event_id: "evt-0001".into(),
        timestamp_ms: 1_767_225_600_000,
        user_id: "user-ana".into(),
        source: None,
        device: Device {
            id: "kitchen-speaker".into(),
            kind: DeviceKind::Speaker,
            has_screen: false,
            state: BTreeMap::from([("media".into(), "idle".into())]),
        },
        session_hint: Some("s-42".into()),
        asr: Asr {
            text: "play maj and dragons".into(),
            confidence: Some(0.61),
            nbest: vec![Hypothesis {
                text: "play imagine dragons".into(),
                confidence: Some(0.2),
            }],
            wake_confidence: Some(0.93),
        },
        nlu: Some(Nlu {
            domain: Some("music".into()),
            intent: "play_music".into(),
            slots: vec![Slot {
                name: "artist_name".into(),
                value: "maj and dragons".into(),
            }],
            confidence: Some(0.72),
        }),
        entities: vec![ResolvedEntity {
            slot: "artist_name".into(),
            value: "maj and dragons".into(),
            resolved: None,
            candidates: 0,
        }],
        response: Response {
            text: "Sorry, I couldn't find maj and dragons.".into(),
            outcome: Outcome::Failure,
            duration_ms: Some(2100),
        },
        barge_in: Some(BargeIn { at_ms: 800 }),
        feedback: None,
        rewrite: None,
        context: BTreeMap::from([("location".into(), "kitchen".into())]),
    }
}

/// `n` copies of [`sample_event`] with ids `<prefix>-<i>` and timestamps 1 ms apart: instant to
/// make and identical in every process, for durability tests that compare runs.
pub fn numbered_events(prefix: &str, n: usize) -> Vec<TurnEvent> {
    let sample = sample_event();
    (0..n)
        .map(|i| TurnEvent {
            event_id: format!("{prefix}-{i}"),
            timestamp_ms: sample.timestamp_ms + i as i64,
            ..sample.clone()
        })
        .collect()
}

/// [`sample_event`] said by `user` at `at_ms` after 2026-01-01 as `text`, with `outcome`, a
/// two-second response and no barge-in or feedback: the building block of hand-made sessions.
pub fn turn_saying(user: &str, id: &str, at_ms: i64, text: &str, outcome: Outcome) -> TurnEvent {
    let mut event = sample_event();
    event.user_id = user.into();
    event.event_id = id.into();
    event.timestamp_ms += at_ms;
    event.asr.text = text.into();
    event.response.outcome = outcome;
    event.response.duration_ms = Some(2_000);
    event.barge_in = None;
    event.feedback = None;
    event
}

fn words(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z]{1,9}", 1..=max).prop_map(|w| w.join(" "))
}

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_.:-]{0,23}"
}

fn probability() -> impl Strategy<Value = Option<f32>> {
    prop::option::of(0.0f32..=1.0)
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z_]{1,10}", "[a-z0-9 ]{0,12}", 0..3)
}

fn device() -> impl Strategy<Value = Device> {
    let kind = prop_oneof![
        Just(DeviceKind::Speaker),
        Just(DeviceKind::ScreenSpeaker),
        Just(DeviceKind::Phone),
        Just(DeviceKind::Tv),
        Just(DeviceKind::Car),
        Just(DeviceKind::Wearable),
        Just(DeviceKind::Other),
    ];
    (id(), kind, any::<bool>(), string_map()).prop_map(|(id, kind, has_screen, state)| Device {
        id,
        kind,
        has_screen,
        state,
    })
}

fn asr() -> impl Strategy<Value = Asr> {
    let hyp =
        (words(6), probability()).prop_map(|(text, confidence)| Hypothesis { text, confidence });
    (
        words(8),
        probability(),
        prop::collection::vec(hyp, 0..3),
        probability(),
    )
        .prop_map(|(text, confidence, nbest, wake_confidence)| Asr {
            text,
            confidence,
            nbest,
            wake_confidence,
        })
}

fn nlu() -> impl Strategy<Value = Nlu> {
    let slot = ("[a-z_]{1,12}", words(3)).prop_map(|(name, value)| Slot { name, value });
    (
        prop::option::of("[a-z]{2,10}"),
        "[a-z_]{2,20}",
        prop::collection::vec(slot, 0..3),
        probability(),
    )
        .prop_map(|(domain, intent, slots, confidence)| Nlu {
            domain,
            intent,
            slots,
            confidence,
        })
}

fn entity() -> impl Strategy<Value = ResolvedEntity> {
    ("[a-z_]{1,12}", words(3), prop::option::of(id()), 0u32..5).prop_map(
        |(slot, value, resolved, candidates)| ResolvedEntity {
            slot,
            value,
            resolved,
            candidates,
        },
    )
}

fn response() -> impl Strategy<Value = Response> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::NotUnderstood),
        Just(Outcome::Clarification),
        Just(Outcome::NoAction),
    ];
    (words(12), outcome, prop::option::of(0u32..20_000)).prop_map(|(text, outcome, duration_ms)| {
        Response {
            text,
            outcome,
            duration_ms,
        }
    })
}

fn feedback() -> impl Strategy<Value = Feedback> {
    let kind = prop_oneof![
        Just(FeedbackKind::Positive),
        Just(FeedbackKind::Negative),
        Just(FeedbackKind::Correction),
        Just(FeedbackKind::Teach),
    ];
    (kind, prop::option::of(words(6))).prop_map(|(kind, text)| Feedback { kind, text })
}

fn rewrite() -> impl Strategy<Value = AppliedRewrite> {
    (
        words(6),
        words(6),
        "precomputed|global|personal",
        prop::option::of(id()),
        probability(),
    )
        .prop_map(
            |(original_text, rewritten_text, layer, artifact_version, score)| AppliedRewrite {
                original_text,
                rewritten_text,
                layer,
                artifact_version,
                score,
            },
        )
}

/// Any valid turn event.
pub fn arb_event() -> impl Strategy<Value = TurnEvent> {
    let head = (
        id(),
        MIN_TIMESTAMP_MS..MAX_TIMESTAMP_MS,
        id(),
        device(),
        prop::option::of(id()),
    );
    let body = (
        asr(),
        prop::option::of(nlu()),
        prop::collection::vec(entity(), 0..3),
        response(),
        prop::option::of((0u32..20_000).prop_map(|at_ms| BargeIn { at_ms })),
        prop::option::of(feedback()),
        prop::option::of(rewrite()),
        string_map(),
    );
    (head, body).prop_map(
        |(
            (event_id, timestamp_ms, user_id, device, session_hint),
            (asr, nlu, entities, response, barge_in, feedback, rewrite, context),
        )| TurnEvent {
            schema_version: SCHEMA_VERSION,
            event_id,
            timestamp_ms,
            user_id,
            source: None,
            device,
            session_hint,
            asr,
            nlu,
            entities,
            response,
            barge_in,
            feedback,
            rewrite,
            context,
        },
    )
}

/// `n` valid events drawn deterministically from [`arb_event`], with unique random-looking ids
/// (as assistants' UUIDs are), timestamps 250 ms apart from 2026-01-01, and users taking turns
/// among `users`. For tests and benchmarks.
pub fn generated_events(n: usize, users: usize) -> Vec<TurnEvent> {
    let mut runner = TestRunner::deterministic();
    let strategy = arb_event();
    (0..n)
        .map(|i| {
            let mut event = strategy
                .new_tree(&mut runner)
                .expect("the event strategy never rejects")
                .current();
            // Multiplying by an odd constant is a bijection on u64: unique, and scattered.
            event.event_id = format!(
                "evt-{:016x}",
                (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            );
            event.user_id = format!("user-{:05}", i % users.max(1));
            event.timestamp_ms = 1_767_225_600_000 + i as i64 * 250;
            event
        })
        .collect()
}

/// Every file of an artifact set's directory as (name, bytes), sorted by name, the manifest
/// without its creation time: what two learns that must agree are compared by.
pub fn set_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs_err::read_dir(dir)
        .expect("the set's directory is readable")
        .map(|entry| {
            let path = entry.expect("the entry is readable").path();
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let mut bytes = fs_err::read(&path).expect("the file is readable");
            if name == "manifest.json" {
                let mut manifest: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("the manifest is JSON");
                manifest["created_at_ms"] = 0.into();
                bytes = manifest.to_string().into_bytes();
            }
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Every byte of the files directly in `dir` (a store's database, write-ahead log and shared
/// memory): what an erasure test searches for what it erased.
pub fn files_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in fs_err::read_dir(dir).expect("the directory is readable") {
        let path = entry.expect("the entry is readable").path();
        if path.is_file() {
            bytes.extend(fs_err::read(&path).expect("the file is readable"));
        }
    }
    bytes
}

/// Whether `needle` occurs anywhere in `bytes`.
pub fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}
