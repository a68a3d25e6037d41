use std::process::{Command, Stdio};

use selflearn_log::jsonl::write_jsonl;
use selflearn_types::testing::{set_files, turn_saying as turn};
use selflearn_types::{Outcome, TurnEvent};

use crate::{selflearn, text};

/// Three people fail with a misrecognised request and succeed right after with the right one.
pub(crate) fn reformulations() -> Vec<TurnEvent> {
    reformulations_of(3)
}

/// As [`reformulations`], by `users` people.
pub(crate) fn reformulations_of(users: u32) -> Vec<TurnEvent> {
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

/// `events` (by `user-0` … `user-29`), and each of those people also served once by each of
/// `others`, later: what a ranker learns not to rewrite to.
pub(crate) fn with_other_successes(mut events: Vec<TurnEvent>, others: &[&str]) -> Vec<TurnEvent> {
    for u in 0..30 {
        let user = format!("user-{u}");
        for (k, said) in others.iter().enumerate() {
            let at = 100_000_000 + i64::from(u) * 600_000 + k as i64 * 60_000;
            let id = format!("{user}-other-{k}");
            events.push(turn(&user, &id, at, said, Outcome::Success));
        }
    }
    events
}

/// Where a test's learn writes: the artifact set's directory and the encoder file.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) artifacts: std::path::PathBuf,
    pub(crate) encoder: std::path::PathBuf,
}

/// The set's manifest.
fn manifest(paths: &Paths) -> serde_json::Value {
    serde_json::from_str(&fs_err::read_to_string(paths.artifacts.join("manifest.json")).unwrap())
        .unwrap()
}

/// The file of the set's artifact of `kind`.
fn artifact(paths: &Paths, kind: &str) -> std::path::PathBuf {
    let manifest = manifest(paths);
    let entry = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == kind)
        .unwrap()
        .clone();
    paths.artifacts.join(entry["file"].as_str().unwrap())
}

/// Ingests `events` into a new log under `dir` and learns an artifact set from it.
pub(crate) fn ingest_and_learn(dir: &std::path::Path, events: &[TurnEvent]) -> Paths {
    let log = dir.join("log");
    let file = dir.join("events.jsonl");
    write_jsonl(fs_err::File::create(&file).unwrap(), events).unwrap();
    assert!(
        selflearn(&log, &["ingest", file.to_str().unwrap()])
            .status
            .success()
    );
    let paths = Paths {
        artifacts: dir.join("artifacts"),
        encoder: dir.join("encoder.safetensors"),
    };
    let learned = learn_into(&log, &paths);
    assert!(
        text(&learned.stdout).contains("1 rewrites mined"),
        "{}",
        text(&learned.stdout)
    );
    paths
}

/// Runs `learn` on the log at `log` into `paths`; asserts that it succeeded and returns its
/// output.
pub(crate) fn learn_into(log: &std::path::Path, paths: &Paths) -> std::process::Output {
    let out = selflearn(
        log,
        &[
            "learn",
            "--artifacts",
            paths.artifacts.to_str().unwrap(),
            "--encoder",
            paths.encoder.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// `selflearn serve` on a free port with `args`, reloading artifacts every 50 ms; returns the
/// process and its base URL.
fn serve(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    crate::spawn_serve(
        Command::new(env!("CARGO_BIN_EXE_selflearn"))
            .arg("--log-dir")
            .arg(dir.join("serve-log"))
            .args(["serve", "--bind", "127.0.0.1:0", "--reload-every-ms", "50"])
            .args(args)
            .stderr(Stdio::null()),
    )
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
async fn learned_rewrites_are_served_with_their_evidence_and_new_sets_swapped_in_whole() {
    let dir = tempfile::tempdir().unwrap();
    let paths = ingest_and_learn(dir.path(), &reformulations());
    let (mut server, url) = serve(
        dir.path(),
        &["--artifacts", paths.artifacts.to_str().unwrap()],
    );
    let answer = ask(&url, "Play maj and dragons").await;
    let unchanged = ask(&url, "what time is it").await;

    // The next night's set is swapped in without a restart ...
    let log = dir.path().join("log");
    std::thread::sleep(std::time::Duration::from_millis(5));
    learn_into(&log, &paths);
    let version = manifest(&paths)["version"].as_str().unwrap().to_owned();
    let swapped = ask_until_version(&url, "play maj and dragons", &version).await;
    // ... and a set whose table is not what its manifest says is refused whole, the last good
    // one still answering.
    let table = artifact(&paths, "rewrite_table");
    let mut broken = selflearn_miner::RewriteTable::load(&table).unwrap();
    broken.entries[0].target = "unlock the front door".into();
    broken.save(&table).unwrap();
    let mut next = manifest(&paths);
    next["version"] = "tampered".into();
    fs_err::write(paths.artifacts.join("manifest.json"), next.to_string()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after_broken = ask(&url, "play maj and dragons").await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(swapped["artifact_version"], version, "{swapped}");
    assert_eq!(after_broken["artifact_version"], version, "{after_broken}");
    assert_eq!(after_broken["text"], "play imagine dragons");
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
async fn the_online_layers_are_served_and_a_new_encoder_comes_with_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    // Besides the reformulations, the same people are served by two other requests: what the
    // ranker learns not to rewrite to. Thirty of them, so that the users held apart to
    // calibrate the layers' thresholds (one in five) are enough to trust.
    let events = with_other_successes(
        reformulations_of(30),
        &["what time is it", "turn on the kitchen lights"],
    );
    let paths = ingest_and_learn(dir.path(), &events);
    // Without the precomputed table, so that the online layers answer.
    let mut set = manifest(&paths);
    let kept: Vec<serde_json::Value> = set["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] != "rewrite_table")
        .cloned()
        .collect();
    set["artifacts"] = kept.into();
    fs_err::write(paths.artifacts.join("manifest.json"), set.to_string()).unwrap();
    let (mut server, url) = serve(
        dir.path(),
        &["--artifacts", paths.artifacts.to_str().unwrap()],
    );
    let answer = ask(&url, "play maj and dragons").await;
    let unchanged = ask(&url, "what time is it").await;
    let before = manifest(&paths);

    // `train` writes a new encoder and `learn` learns with it: the server loads the new set,
    // encoder and layers together (never the layers with the old encoder).
    let log = dir.path().join("log");
    // (Another seed: one distinct pair gives contrastive training nothing to move.)
    let trained = selflearn(
        &log,
        &[
            "train",
            "--seed",
            "8",
            "--out",
            paths.encoder.to_str().unwrap(),
        ],
    );
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    learn_into(&log, &paths);
    let after = manifest(&paths);
    let version = after["version"].as_str().unwrap().to_owned();
    let retrained = ask_until_version(&url, "play maj and dragons", &version).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let encoder_of = |m: &serde_json::Value| {
        m["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "online")
            .unwrap()["inputs"]["encoder"]
            .clone()
    };
    assert_ne!(
        encoder_of(&before),
        encoder_of(&after),
        "train wrote another encoder"
    );
    assert_eq!(retrained["artifact_version"], version, "{retrained}");
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
}

#[test]
fn an_invalid_artifact_set_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("artifacts");
    fs_err::create_dir_all(&artifacts).unwrap();
    fs_err::write(artifacts.join("manifest.json"), "{\"format\": 1}").unwrap();
    let out = selflearn(
        &dir.path().join("log"),
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--artifacts",
            artifacts.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid artifact set manifest"),
        "{}",
        text(&out.stderr)
    );
}

/// The online artifact's global users of a request, and whether a user has a personal index
/// in one of the set's personal shards.
fn online_view(paths: &Paths, request: &str, user: &str) -> (u64, bool) {
    let read = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
    };
    let online = read(&artifact(paths, "online"));
    let users = online["global"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == request)
        .map_or(0, |c| c["users"].as_u64().unwrap());
    let shards: Vec<serde_json::Value> = manifest(paths)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "personal")
        .map(|a| read(&paths.artifacts.join(a["file"].as_str().unwrap())))
        .collect();
    assert_eq!(shards.len(), 16, "the default count of shards");
    (users, shards.iter().any(|s| s["users"].get(user).is_some()))
}

#[test]
fn a_forgotten_user_leaves_the_personal_indices_and_the_global_counts_at_the_next_learn() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let paths = ingest_and_learn(dir.path(), &reformulations());
    assert_eq!(
        online_view(&paths, "play imagine dragons", "user-1"),
        (3, true)
    );

    let forgot = selflearn(&log, &["forget", "user-1"]);
    assert!(forgot.status.success(), "{}", text(&forgot.stderr));
    assert!(text(&forgot.stdout).contains("deleted 4 events of user-1"));
    learn_into(&log, &paths);
    assert_eq!(
        online_view(&paths, "play imagine dragons", "user-1"),
        (2, false)
    );
    let table = selflearn_miner::RewriteTable::load(&artifact(&paths, "rewrite_table")).unwrap();
    assert!(table.entries.iter().all(|e| e.pair_users <= 2));
}

#[test]
fn every_learn_with_the_untrained_encoder_says_so_and_none_after_train() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let paths = ingest_and_learn(dir.path(), &reformulations_of(10));
    let encoder = paths.encoder.clone();
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

/// The A/B's composition (the engine's layers over what learning produced in memory, as
/// `selflearn eval` runs them night after night) and `serve` (the same set saved, loaded back
/// from disk, behind HTTP and its answer cache) give every request the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_every_request_as_the_evaluated_layers_do() {
    use selflearn_engine::{Layered, OnlineLayersLearner, PrecomputedLearner};
    use selflearn_online::{CachedModel, Encoder, Layers, Lexicon, OnlineConfig};
    use selflearn_types::shard::ShardRange;
    use selflearn_types::{RewriteRequest, Rewriter};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let events = with_other_successes(
        reformulations_of(30),
        &[
            "what time is it",
            "turn on the kitchen lights",
            "play some jazz",
        ],
    );
    let log_dir = dir.path().join("log");
    let mut log = selflearn_log::EventLog::open(&log_dir, &Default::default()).unwrap();
    log.append(&events).unwrap();
    let lexicon: Arc<str> = Arc::from(Lexicon::EMBEDDED);
    let learned = selflearn_engine::learn(
        &log,
        &Default::default(),
        PrecomputedLearner::new(Default::default()),
        Some(OnlineLayersLearner::new(
            Encoder::random(7),
            Arc::new(Lexicon::parse(&lexicon, "built-in").unwrap()),
            OnlineConfig::default(),
        )),
        |_| {},
    )
    .unwrap();
    drop(log);
    let set = learned.finish("compared", lexicon).unwrap();
    let artifacts = dir.path().join("artifacts");
    set.save(&artifacts).unwrap();
    let (model, _, _) = set.online.unwrap();
    let evaluated = Layered::serving(
        Some(set.table),
        Some(Arc::new(CachedModel::new(
            model,
            Layers::GlobalAndPersonal,
            0,
        ))),
    );
    let (mut server, url) = serve(dir.path(), &["--artifacts", artifacts.to_str().unwrap()]);
    let said = [
        "play maj and dragons",
        "Play Maj and Dragons",
        "play maj and dragon",
        "play imagine dragon",
        "what time is it",
        "turn on the kitchen light",
        "play some jaz",
        "something nobody said",
    ];
    let client = reqwest::Client::new();
    let mut rewritten = 0;
    for (i, text) in said.iter().enumerate() {
        for user in ["user-1", "user-7", "a-stranger"] {
            let request = RewriteRequest {
                user_id: user.into(),
                source: None,
                device: selflearn_types::testing::sample_event().device,
                text: (*text).into(),
                timestamp_ms: Some(1_767_600_000_000 + i as i64 * 3_600_000),
                context: Default::default(),
            };
            let served: selflearn_types::RewriteResponse = client
                .post(format!("{url}/v1/rewrite"))
                .json(&request)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(served, evaluated.rewrite(&request), "{user}: {text}");
            rewritten += usize::from(served.rewritten);
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        rewritten >= 6,
        "the comparison covers rewrites ({rewritten})"
    );

    // Two rewrite replicas of half the shards each: the one holding a person answers as the
    // whole set does, the other refuses them (421), and neither stores events.
    let replicas: Vec<(std::process::Child, String, ShardRange)> = ["0-7/16", "8-15/16"]
        .into_iter()
        .map(|range| {
            let (child, url) = serve(
                dir.path(),
                &[
                    "--artifacts",
                    artifacts.to_str().unwrap(),
                    "--shards",
                    range,
                ],
            );
            (child, url, range.parse().unwrap())
        })
        .collect();
    let mut personal = 0;
    for (i, text) in said.iter().enumerate() {
        for user in ["user-1", "user-7", "user-12", "user-20", "a-stranger"] {
            let request = RewriteRequest {
                user_id: user.into(),
                source: None,
                device: selflearn_types::testing::sample_event().device,
                text: (*text).into(),
                timestamp_ms: Some(1_767_600_000_000 + i as i64 * 3_600_000),
                context: Default::default(),
            };
            for (_, url, range) in &replicas {
                let answer = client
                    .post(format!("{url}/v1/rewrite"))
                    .json(&request)
                    .send()
                    .await
                    .unwrap();
                let status = answer.status().as_u16();
                let body: serde_json::Value = answer.json().await.unwrap();
                if range.holds(user) {
                    assert_eq!(status, 200, "{user} on {range}: {body}");
                    let expected = evaluated.rewrite(&request);
                    personal += usize::from(expected.layer.as_deref() == Some("personal"));
                    assert_eq!(
                        serde_json::from_value::<selflearn_types::RewriteResponse>(body).unwrap(),
                        expected,
                        "{user} on {range}: {text}"
                    );
                } else {
                    assert_eq!(status, 421, "{user} on {range}: {body}");
                    assert_eq!(body["error"]["code"], "misdirected");
                }
            }
        }
    }
    assert!(personal > 0, "replicas answered from personal indices");
    let (_, url, _) = &replicas[0];
    let stored = client
        .post(format!("{url}/v1/events"))
        .json(&events[..1])
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status().as_u16(), 421);
    let ready: serde_json::Value = client
        .get(format!("{url}/v1/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (ready["writer"].as_str(), ready["shards"].as_str()),
        (Some("none"), Some("0-7/16"))
    );
    for (mut child, _, _) in replicas {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn parts_learned_apart_and_merged_write_the_set_of_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let events = with_other_successes(reformulations_of(30), &["what time is it", "stop"]);
    let log = dir.path().join("log");
    let file = dir.path().join("events.jsonl");
    write_jsonl(fs_err::File::create(&file).unwrap(), &events).unwrap();
    assert!(
        selflearn(&log, &["ingest", file.to_str().unwrap()])
            .status
            .success()
    );
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let encoder = path("encoder.safetensors");
    let learn = |args: &[&str]| {
        let mut all = vec!["learn", "--encoder", &encoder];
        all.extend_from_slice(args);
        let out = selflearn(&log, &all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    learn(&["--artifacts", &path("whole"), "--set-version", "v1"]);

    // Two parts, each every event of its users grouped by user; one from standard input.
    let mut sorted = events.clone();
    sorted.sort_by(|a, b| (&a.user_id, a.timestamp_ms).cmp(&(&b.user_id, b.timestamp_ms)));
    let (first, second): (Vec<TurnEvent>, Vec<TurnEvent>) =
        sorted.into_iter().partition(|e| e.user_id.len() % 2 == 0);
    write_jsonl(fs_err::File::create(path("first.jsonl")).unwrap(), &first).unwrap();
    let said = learn(&[
        "--events",
        &path("first.jsonl"),
        "--partial",
        &path("first.cbor"),
    ]);
    assert!(said.contains(&format!("{} events", first.len())), "{said}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_selflearn"))
        .args(["learn", "--encoder", &encoder, "--events", "-"])
        .args(["--partial", &path("second.cbor")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    write_jsonl(child.stdin.take().unwrap(), &second).unwrap();
    assert!(child.wait().unwrap().success());
    learn(&[
        "--merge",
        &path("second.cbor"),
        &path("first.cbor"),
        "--artifacts",
        &path("merged"),
        "--set-version",
        "v1",
    ]);
    assert_eq!(
        set_files(&dir.path().join("merged")),
        set_files(&dir.path().join("whole"))
    );

    // Events not grouped by user are refused, naming the line.
    let out = selflearn(
        &log,
        &[
            "learn",
            "--encoder",
            &encoder,
            "--events",
            &path("events.jsonl"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("events.jsonl") && text(&out.stderr).contains("line"),
        "{}",
        text(&out.stderr)
    );
}
