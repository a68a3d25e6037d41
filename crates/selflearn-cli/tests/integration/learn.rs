use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use selflearn_log::jsonl::write_jsonl;
use selflearn_types::testing::turn_saying as turn;
use selflearn_types::{Outcome, TurnEvent};

use crate::{selflearn, text};

/// Three people fail with a misrecognised request and succeed right after with the right one.
fn reformulations() -> Vec<TurnEvent> {
    reformulations_of(3)
}

/// As [`reformulations`], by `users` people.
fn reformulations_of(users: u32) -> Vec<TurnEvent> {
    (0..users)
        .flat_map(|u| {
            let user = format!("user-{u}");
            (0..2).flat_map(move |k| {
                let base = i64::from(u * 10 + k) * 600_000;
                [
                    turn(
                        &user,
                        &format!("{user}-{k}-a"),
                        base,
                        "play maj and dragons",
                        Outcome::Failure,
                    ),
                    turn(
                        &user,
                        &format!("{user}-{k}-b"),
                        base + 5_000,
                        "play imagine dragons",
                        Outcome::Success,
                    ),
                ]
            })
        })
        .collect()
}

/// Ingests `events` into a new log under `dir` and learns the rewrite table and the online
/// layers from it; returns the paths of (table, online artifact, encoder).
fn ingest_and_learn(
    dir: &std::path::Path,
    events: &[TurnEvent],
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("log");
    let file = dir.join("events.jsonl");
    write_jsonl(fs_err::File::create(&file).unwrap(), events).unwrap();
    assert!(
        selflearn(&log, &["ingest", file.to_str().unwrap()])
            .status
            .success()
    );
    let paths = (
        dir.join("table.json"),
        dir.join("online.json"),
        dir.join("encoder.safetensors"),
    );
    let learned = learn_into(&log, &paths);
    assert!(
        text(&learned.stdout).contains("1 rewrites mined"),
        "{}",
        text(&learned.stdout)
    );
    paths
}

/// Runs `learn` on the log at `log`, writing (table, online artifact, encoder) at `paths`;
/// asserts that it succeeded and returns its output.
fn learn_into(
    log: &std::path::Path,
    paths: &(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf),
) -> std::process::Output {
    let out = selflearn(
        log,
        &[
            "learn",
            "--out",
            paths.0.to_str().unwrap(),
            "--online-out",
            paths.1.to_str().unwrap(),
            "--encoder",
            paths.2.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// `selflearn serve` on a free port with `args`, reloading artifacts every 50 ms; returns the
/// process and its base URL.
fn serve(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .arg("--log-dir")
        .arg(dir.join("serve-log"))
        .args(["serve", "--bind", "127.0.0.1:0", "--reload-every-ms", "50"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner.split_whitespace().nth(2).unwrap().to_owned();
    (server, url)
}

/// The service's answer to someone outside the log saying `said`.
async fn ask(url: &str, said: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "user_id": "someone-else",
        "device": {"id": "d", "kind": "speaker", "has_screen": false},
        "text": said
    });
    reqwest::Client::new()
        .post(format!("{url}/v1/rewrite"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()
}

/// Asks until the answer comes from artifact `version` (at most 5 s); returns the last answer.
async fn ask_until_version(url: &str, said: &str, version: &str) -> serde_json::Value {
    let mut answer = serde_json::Value::Null;
    for _ in 0..200 {
        answer = ask(url, said).await;
        if answer["artifact_version"] == version {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_rewrites_are_served_with_their_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _, _) = ingest_and_learn(dir.path(), &reformulations());
    let (mut server, url) = serve(dir.path(), &["--rewrite-table", table.to_str().unwrap()]);
    let answer = ask(&url, "Play maj and dragons").await;
    let unchanged = ask(&url, "what time is it").await;

    // The next night's table is swapped in without a restart ...
    let mut next = selflearn_miner::RewriteTable::load(&table).unwrap();
    next.version = "next-night".into();
    next.entries[0].target = "play imagine dragons radioactive".into();
    next.save(&table).unwrap();
    let swapped = ask_until_version(&url, "play maj and dragons", "next-night").await;
    // ... and a broken one is refused while the last good one keeps answering.
    fs_err::write(&table, "{\"format\": 1, \"version\": \"broken\"}").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after_broken = ask(&url, "play maj and dragons").await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(
        swapped["text"], "play imagine dragons radioactive",
        "{swapped}"
    );
    assert_eq!(
        after_broken["artifact_version"], "next-night",
        "{after_broken}"
    );
    assert_eq!(after_broken["text"], "play imagine dragons radioactive");
    assert_eq!(answer["text"], "play imagine dragons", "{answer}");
    assert_eq!(answer["rewritten"], true);
    assert_eq!(answer["layer"], "precomputed");
    assert!(
        answer["explanation"].as_str().unwrap().contains("3 users"),
        "{answer}"
    );
    assert_eq!(unchanged["rewritten"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_online_layers_are_served_and_swapped_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Besides the reformulations, the same people are served by two other requests: what the
    // ranker learns not to rewrite to. Thirty of them, so that the users held apart to
    // calibrate the layers' thresholds (one in five) are enough to trust.
    let mut events = reformulations_of(30);
    for u in 0..30 {
        let user = format!("user-{u}");
        for (k, said) in ["what time is it", "turn on the kitchen lights"]
            .into_iter()
            .enumerate()
        {
            let at = 100_000_000 + i64::from(u) * 600_000 + k as i64 * 60_000;
            events.push(turn(
                &user,
                &format!("{user}-other-{k}"),
                at,
                said,
                Outcome::Success,
            ));
        }
    }
    let (_, online, encoder) = ingest_and_learn(dir.path(), &events);
    let (mut server, url) = serve(
        dir.path(),
        &[
            "--online",
            online.to_str().unwrap(),
            "--encoder",
            encoder.to_str().unwrap(),
        ],
    );
    let answer = ask(&url, "play maj and dragons").await;
    let unchanged = ask(&url, "what time is it").await;

    // A new version of the online layers is swapped in without a restart ...
    let mut next: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&online).unwrap()).unwrap();
    next["version"] = "next-night".into();
    fs_err::write(&online, next.to_string()).unwrap();
    let swapped = ask_until_version(&url, "play maj and dragons", "next-night").await;
    // ... and a broken one (a ranker missing its weights) is refused, the last good one kept.
    next["version"] = "broken".into();
    next["global_ranker"]["weights"] = serde_json::json!([1.0]);
    fs_err::write(&online, next.to_string()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after_broken = ask(&url, "play maj and dragons").await;
    // `train` writes a new encoder and `learn` learns with it: the server, holding the old
    // encoder, loads the new one with the new layers (never the layers with the old encoder).
    let log = dir.path().join("log");
    // (Another seed: one distinct pair gives contrastive training nothing to move.)
    let trained = selflearn(
        &log,
        &["train", "--seed", "8", "--out", encoder.to_str().unwrap()],
    );
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    learn_into(
        &log,
        &(
            dir.path().join("table.json"),
            online.clone(),
            encoder.clone(),
        ),
    );
    let relearned: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&online).unwrap()).unwrap();
    let version = relearned["version"].as_str().unwrap().to_owned();
    let retrained = ask_until_version(&url, "play maj and dragons", &version).await;
    server.kill().unwrap();
    server.wait().unwrap();

    assert_ne!(
        relearned["encoder"], next["encoder"],
        "train wrote another encoder"
    );
    assert_eq!(retrained["artifact_version"], version, "{retrained}");
    assert_eq!(retrained["text"], "play imagine dragons", "{retrained}");
    assert_eq!(answer["text"], "play imagine dragons", "{answer}");
    assert_eq!(answer["layer"], "global", "{answer}");
    assert!(
        answer["explanation"]
            .as_str()
            .unwrap()
            .contains("for 30 people"),
        "{answer}"
    );
    assert_eq!(unchanged["rewritten"], false, "{unchanged}");
    assert_eq!(swapped["artifact_version"], "next-night", "{swapped}");
    assert_eq!(swapped["text"], "play imagine dragons", "{swapped}");
    assert_eq!(
        after_broken["artifact_version"], "next-night",
        "{after_broken}"
    );
}

#[test]
fn an_invalid_rewrite_table_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table.json");
    fs_err::write(&table, "{\"format\": 1}").unwrap();
    let out = selflearn(
        &dir.path().join("log"),
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--rewrite-table",
            table.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid rewrite table"),
        "{}",
        text(&out.stderr)
    );
}

/// The online artifact's global users of a request, and whether a user has a personal index.
fn online_view(artifact: &std::path::Path, request: &str, user: &str) -> (u64, bool) {
    let online: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(artifact).unwrap()).unwrap();
    let users = online["global"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == request)
        .map_or(0, |c| c["users"].as_u64().unwrap());
    (users, online["personal"].get(user).is_some())
}

#[test]
fn a_forgotten_user_leaves_the_personal_indices_and_the_global_counts_at_the_next_learn() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let paths = ingest_and_learn(dir.path(), &reformulations());
    let (table, online) = (paths.0.clone(), paths.1.clone());
    assert_eq!(
        online_view(&online, "play imagine dragons", "user-1"),
        (3, true)
    );

    let forgot = selflearn(&log, &["forget", "user-1"]);
    assert!(forgot.status.success(), "{}", text(&forgot.stderr));
    assert!(text(&forgot.stdout).contains("deleted 4 events of user-1"));
    learn_into(&log, &paths);
    assert_eq!(
        online_view(&online, "play imagine dragons", "user-1"),
        (2, false)
    );
    let table = selflearn_miner::RewriteTable::load(&table).unwrap();
    assert!(table.entries.iter().all(|e| e.pair_users <= 2));
}

#[test]
fn every_learn_with_the_untrained_encoder_says_so_and_none_after_train() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let paths = ingest_and_learn(dir.path(), &reformulations_of(10));
    let encoder = paths.2.clone();
    let learn = || text(&learn_into(&log, &paths).stderr);
    let warning = "untrained random projection";
    assert!(
        learn().contains(warning),
        "the second learn must say so too"
    );
    let trained = selflearn(
        &log,
        &["train", "--seed", "8", "--out", encoder.to_str().unwrap()],
    );
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    let after = learn();
    assert!(!after.contains(warning), "{after}");
}
