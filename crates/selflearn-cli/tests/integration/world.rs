use crate::{selflearn, selflearn_without_log, stored, text};

/// A small world file: three households for one day.
fn tiny_world(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tiny.toml");
    fs_err::write(&path, "seed = 11\ndays = 1\nhouseholds = 3\n").unwrap();
    path
}

#[test]
fn generated_events_are_deterministic_and_ingestible_and_truth_stays_apart() {
    let dir = tempfile::tempdir().unwrap();
    let world = tiny_world(dir.path());
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");
    let log = dir.path().join("log");
    for out in ["a", "b"] {
        let out_dir = dir.path().join(out);
        let result = selflearn_without_log(&[
            "world",
            "generate",
            "--data",
            data,
            "--world",
            world.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(result.status.success(), "{}", text(&result.stderr));
    }
    let read = |path: &str| fs_err::read(dir.path().join(path)).unwrap();
    assert_eq!(
        read("a/events.jsonl"),
        read("b/events.jsonl"),
        "same seed, same bytes"
    );
    assert_eq!(read("a/truth.jsonl"), read("b/truth.jsonl"));
    let events = String::from_utf8(read("a/events.jsonl")).unwrap();
    assert!(!events.contains("goal_id") && !events.contains("failure_point"));

    let events_path = dir.path().join("a/events.jsonl");
    let ingest = selflearn(&log, &["ingest", events_path.to_str().unwrap()]);
    assert!(ingest.status.success(), "{}", text(&ingest.stderr));
    assert_eq!(stored(&log), events.lines().count() as u64);
}

#[test]
fn an_unknown_world_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("bad.toml");
    fs_err::write(&world, "seed = 1\nhousholds = 3\n").unwrap();
    let out = selflearn_without_log(&["world", "stats", "--world", world.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("housholds"),
        "{}",
        text(&out.stderr)
    );
}
