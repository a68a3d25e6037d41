use std::process::Output;

use crate::{selflearn, text};

/// Runs `eval` on a 2-day world of `households` households with the vendored data, tuning on
/// seed 4; returns the process output and the JSON report.
fn eval_on_a_tiny_world(households: u32, seeds: &str, arms: &str) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("tiny.toml");
    fs_err::write(&world, format!("days = 2\nhouseholds = {households}\n")).unwrap();
    let json = dir.path().join("ab.json");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");
    let out = selflearn(
        &dir.path().join("log"),
        &[
            "eval",
            "--data",
            data,
            "--world",
            world.to_str().unwrap(),
            "--seeds",
            seeds,
            "--arms",
            arms,
            "--json",
            json.to_str().unwrap(),
            "--tune-seed",
            "4",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = serde_json::from_str(&fs_err::read_to_string(&json).unwrap()).unwrap();
    (out, report)
}

#[test]
fn eval_reports_every_arm_with_the_documented_json_keys() {
    let (out, report) = eval_on_a_tiny_world(4, "5,6", "control,precomputed");
    assert!(
        text(&out.stdout).contains("| precomputed |"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(report["seeds"], serde_json::json!([5, 6]));
    assert!(report["data"].is_string() && report["world"].is_string());
    for arm in ["control", "precomputed"] {
        let a = &report["arms"][arm];
        for key in [
            "defect_rate",
            "relative_defect_reduction",
            "wins",
            "losses",
            "trigger_rate",
        ] {
            assert!(a[key].is_number(), "arms.{arm}.{key} missing: {a}");
        }
        assert!(
            a["ci95"].as_array().is_some_and(|c| c.len() == 2),
            "arms.{arm}.ci95: {a}"
        );
        assert!(a.get("win_loss").is_some(), "arms.{arm}.win_loss missing");
    }
    assert_eq!(report["arms"]["control"]["relative_defect_reduction"], 0.0);
    assert_eq!(report["tuning"]["seed"], 4);
    assert_eq!(report["tuning"]["grid"].as_array().unwrap().len(), 8);
    assert!(report["miner"]["min_users"].as_u64().unwrap() >= 2);
}

#[test]
fn thresholds_are_never_tuned_on_a_reported_seed() {
    let dir = tempfile::tempdir().unwrap();
    let out = selflearn(
        &dir.path().join("log"),
        &["eval", "--seeds", "5,6", "--tune-seed", "6"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("tuning seed 6"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_demo_runs_the_loop_and_leaves_the_log_and_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");
    let out = selflearn(
        &dir.path().join("log"),
        &["demo", "--dir", work.to_str().unwrap(), "--data", data],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("| control |") && stdout.contains("| precomputed rewrites |"),
        "{stdout}"
    );
    assert!(work.join("log/events.db").is_file());
    selflearn_miner::RewriteTable::load(&work.join("rewrite-table.json")).unwrap();
}

#[test]
fn the_online_arms_report_against_the_arm_before_and_the_encoder() {
    let (_, report) = eval_on_a_tiny_world(6, "5", "control,precomputed,global,personal,fuzzy");
    for arm in ["global", "personal", "fuzzy"] {
        assert!(
            report["arms"][arm]["relative_defect_reduction"].is_number(),
            "arms.{arm}"
        );
    }
    assert_eq!(
        report["arms"]["global"]["vs_previous"]["arm"],
        "precomputed"
    );
    assert_eq!(report["arms"]["personal"]["vs_previous"]["arm"], "global");
    assert!(report["arms"]["fuzzy"]["vs_previous"].is_null());
    assert_eq!(report["encoder"]["train_seed"], 4);
    assert!(
        report["encoder"]["recall_trained"]
            .as_array()
            .is_some_and(|r| r.len() == 2)
    );
}
