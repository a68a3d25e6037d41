use std::io::Write;
use std::process::{Command, Stdio};

use selflearn_log::jsonl::write_jsonl;
use selflearn_types::testing::generated_events;

use crate::{selflearn, stored, text};

fn jsonl_file(
    dir: &std::path::Path,
    name: &str,
    events: &[selflearn_types::TurnEvent],
) -> std::path::PathBuf {
    let path = dir.join(name);
    write_jsonl(fs_err::File::create(&path).unwrap(), events).unwrap();
    path
}

#[test]
fn ingest_is_idempotent_and_reports_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let file = jsonl_file(dir.path(), "a.jsonl", &generated_events(30, 3));
    let out = selflearn(&log, &["ingest", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("30 events, 30 stored, 0 already present"),
        "{}",
        text(&out.stdout)
    );
    let out = selflearn(&log, &["ingest", file.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("30 events, 0 stored, 30 already present"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(stored(&log), 30);
}

#[test]
fn a_bad_record_refuses_its_file_with_the_line_and_keeps_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let events = generated_events(10, 2);
    let good = jsonl_file(dir.path(), "good.jsonl", &events[..5]);
    let bad = jsonl_file(dir.path(), "bad.jsonl", &events[5..]);
    let mut lines: Vec<String> = fs_err::read_to_string(&bad)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines[2] = lines[2].replacen('{', "{\"volume\":3,", 1);
    fs_err::write(&bad, lines.join("\n")).unwrap();

    let out = selflearn(
        &log,
        &["ingest", good.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "problems found exit with 1");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.jsonl: refused, nothing of this file was stored: line 3"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `volume`"), "{stderr}");
    assert_eq!(
        stored(&log),
        5,
        "the good file stays, nothing of the bad one is stored"
    );
}

#[test]
fn truncated_and_mistyped_records_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let file = jsonl_file(dir.path(), "t.jsonl", &generated_events(3, 1));
    let mut content = fs_err::read_to_string(&file).unwrap();
    content.truncate(content.len() - 30);
    fs_err::write(&file, &content).unwrap();
    let out = selflearn(&log, &["ingest", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 3"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(stored(&log), 0);
}

#[test]
fn standard_input_is_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .arg("--log-dir")
        .arg(&log)
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    write_jsonl(child.stdin.take().unwrap(), &generated_events(7, 2)).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(stored(&log), 7);
}

#[test]
fn parquet_export_reingests_into_an_identical_log() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let file = jsonl_file(dir.path(), "a.jsonl", &generated_events(40, 4));
    assert!(
        selflearn(&first, &["ingest", file.to_str().unwrap()])
            .status
            .success()
    );
    let parquet = dir.path().join("out.parquet");
    let out = selflearn(&first, &["export", "--out", parquet.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        selflearn(&second, &["ingest", parquet.to_str().unwrap()])
            .status
            .success()
    );
    let back = dir.path().join("back.jsonl");
    assert!(
        selflearn(&second, &["export", "--out", back.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        fs_err::read_to_string(&back).unwrap(),
        fs_err::read_to_string(&file).unwrap()
    );
}

#[test]
fn an_unknown_config_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let mut file = fs_err::File::create(&config).unwrap();
    writeln!(file, "[log]\nsink = \"full\"").unwrap();
    let out = selflearn(
        &dir.path().join("log"),
        &["--config", config.to_str().unwrap(), "schema"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("sink"), "{}", text(&out.stderr));
}
