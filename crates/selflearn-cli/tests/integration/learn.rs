use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use selflearn_log::jsonl::write_jsonl;
use selflearn_types::testing::turn_saying as turn;
use selflearn_types::{Outcome, TurnEvent};

use crate::{selflearn, text};

/// Three people fail with a misrecognised request and succeed right after with the right one.
fn reformulations() -> Vec<TurnEvent> {
    (0..3)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_rewrites_are_served_with_their_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let events = dir.path().join("events.jsonl");
    write_jsonl(fs_err::File::create(&events).unwrap(), &reformulations()).unwrap();
    assert!(
        selflearn(&log, &["ingest", events.to_str().unwrap()])
            .status
            .success()
    );
    let table = dir.path().join("table.json");
    let learned = selflearn(
        &log,
        &[
            "learn",
            "--out",
            table.to_str().unwrap(),
            "--online-out",
            dir.path().join("online.json").to_str().unwrap(),
            "--encoder",
            dir.path().join("encoder.safetensors").to_str().unwrap(),
        ],
    );
    assert!(learned.status.success(), "{}", text(&learned.stderr));
    assert!(
        text(&learned.stdout).contains("1 rewrites mined"),
        "{}",
        text(&learned.stdout)
    );

    let mut server = Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .arg("--log-dir")
        .arg(dir.path().join("serve-log"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--rewrite-table",
            table.to_str().unwrap(),
            "--reload-every-ms",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner.split_whitespace().nth(2).unwrap().to_owned();
    let ask = |said: &'static str| {
        let url = url.clone();
        async move {
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
    };
    let answer = ask("Play maj and dragons").await;
    let unchanged = ask("what time is it").await;

    // The next night's table is swapped in without a restart ...
    let mut next = selflearn_miner::RewriteTable::load(&table).unwrap();
    next.version = "next-night".into();
    next.entries[0].target = "play imagine dragons radioactive".into();
    next.save(&table).unwrap();
    let mut swapped = serde_json::Value::Null;
    for _ in 0..200 {
        swapped = ask("play maj and dragons").await;
        if swapped["artifact_version"] == "next-night" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // ... and a broken one is refused while the last good one keeps answering.
    fs_err::write(&table, "{\"format\": 1, \"version\": \"broken\"}").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after_broken = ask("play maj and dragons").await;
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
    let events = dir.path().join("events.jsonl");
    write_jsonl(fs_err::File::create(&events).unwrap(), &reformulations()).unwrap();
    assert!(
        selflearn(&log, &["ingest", events.to_str().unwrap()])
            .status
            .success()
    );
    let artifacts = dir.path().join("artifacts");
    let learn = |log: &std::path::Path| {
        let out = selflearn(
            log,
            &[
                "learn",
                "--out",
                artifacts.join("table.json").to_str().unwrap(),
                "--online-out",
                artifacts.join("online.json").to_str().unwrap(),
                "--encoder",
                artifacts.join("encoder.safetensors").to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    learn(&log);
    let online = artifacts.join("online.json");
    assert_eq!(
        online_view(&online, "play imagine dragons", "user-1"),
        (3, true)
    );

    let forgot = selflearn(&log, &["forget", "user-1"]);
    assert!(forgot.status.success(), "{}", text(&forgot.stderr));
    assert!(text(&forgot.stdout).contains("deleted 4 events of user-1"));
    learn(&log);
    assert_eq!(
        online_view(&online, "play imagine dragons", "user-1"),
        (2, false)
    );
    let table = selflearn_miner::RewriteTable::load(&artifacts.join("table.json")).unwrap();
    assert!(table.entries.iter().all(|e| e.pair_users <= 2));
}
