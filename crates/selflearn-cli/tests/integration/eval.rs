use std::process::Output;

use crate::{selflearn, selflearn_without_log, text};

/// Runs `eval` on a 2-day world of `households` households with the vendored data, tuning on
/// seed 4; returns the process output and the JSON report.
fn eval_on_a_tiny_world(households: u32, seeds: &str, arms: &str) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("tiny.toml");
    fs_err::write(&world, format!("days = 2\nhouseholds = {households}\n")).unwrap();
    let json = dir.path().join("ab.json");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");
    let out = selflearn_without_log(&[
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
    ]);
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
    // The figures are those of the per-seed counts: the reduction is the mean of the paired
    // per-seed reductions, and every win or loss is a rewritten turn.
    let rate =
        |r: &serde_json::Value| r["defects"].as_f64().unwrap() / r["turns"].as_f64().unwrap();
    let control = report["arms"]["control"]["per_seed"].as_array().unwrap();
    let treated = &report["arms"]["precomputed"];
    let per_seed = treated["per_seed"].as_array().unwrap();
    assert_eq!(per_seed.len(), 2);
    let mean = control
        .iter()
        .zip(per_seed)
        .map(|(c, t)| (rate(c) - rate(t)) / rate(c))
        .sum::<f64>()
        / 2.0;
    let reported = treated["relative_defect_reduction"].as_f64().unwrap();
    assert!((mean - reported).abs() < 1e-12, "{mean} vs {reported}");
    let [low, high] = [0, 1].map(|i| treated["ci95"][i].as_f64().unwrap());
    assert!(low <= reported && reported <= high);
    for r in per_seed {
        let (wins, losses, rewritten) = (
            r["wins"].as_u64().unwrap(),
            r["losses"].as_u64().unwrap(),
            r["rewritten"].as_u64().unwrap(),
        );
        assert!(wins + losses <= rewritten, "{r}");
    }
    assert_eq!(report["tuning"]["seed"], 4);
    assert_eq!(report["tuning"]["grid"].as_array().unwrap().len(), 8);
    assert!(report["miner"]["min_users"].as_u64().unwrap() >= 2);
}

#[test]
fn thresholds_are_never_tuned_on_a_reported_seed() {
    let out = selflearn_without_log(&["eval", "--seeds", "5,6", "--tune-seed", "6"]);
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
    let log = dir.path().join("elsewhere");
    let out = selflearn(
        &log,
        &["demo", "--dir", work.to_str().unwrap(), "--data", data],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        log.join("events.db").is_file(),
        "--log-dir is where the demo's log goes"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("| control |") && stdout.contains("| precomputed rewrites |"),
        "{stdout}"
    );
    selflearn_miner::RewriteTable::load(&work.join("rewrite-table.json")).unwrap();
}

#[test]
fn the_demo_never_empties_a_directory_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("important/notes.txt");
    fs_err::create_dir_all(notes.parent().unwrap()).unwrap();
    fs_err::write(&notes, "keep me").unwrap();
    let out = selflearn_without_log(&["demo", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("did not write"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs_err::read_to_string(&notes).unwrap(), "keep me");
}

#[test]
fn commands_without_an_event_log_refuse_log_dir() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["world", "stats"][..], &["eval"], &["schema"]] {
        let out = selflearn(&dir.path().join("log"), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("--log-dir"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
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
