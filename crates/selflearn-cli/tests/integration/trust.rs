//! Tokens and sources end to end: events sent over HTTP by one installation's token, learned,
//! and served back only to that installation's people.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use selflearn_types::RewriteRequest;

use crate::learn::{Paths, learn_into, reformulations_of, with_other_successes};
use crate::text;

const KITCHEN: &str = "slt_0123456789abcdef-kitchen";
const NEIGHBOUR: &str = "slt_0123456789abcdef-neighbour";

/// A config with two installations' tokens: `kitchen` (home-1) ingests and asks, `neighbour`
/// (home-2) only asks.
fn config(dir: &Path) -> std::path::PathBuf {
    let digest = selflearn_server::auth::token_digest;
    let path = dir.join("selflearn.toml");
    fs_err::write(
        &path,
        format!(
            "[[server.tokens]]\nname = \"kitchen\"\nsha256 = \"{}\"\nroles = [\"ingest\", \"rewrite\"]\nsource = \"home-1\"\n\n\
             [[server.tokens]]\nname = \"neighbour\"\nsha256 = \"{}\"\nroles = [\"rewrite\"]\nsource = \"home-2\"\n",
            digest(KITCHEN),
            digest(NEIGHBOUR)
        ),
    )
    .unwrap();
    path
}

/// `selflearn serve` with the config on a free port; returns the process and its URL.
fn serve(config: &Path, log: &Path, artifacts: Option<&Path>) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selflearn"));
    command
        .arg("--config")
        .arg(config)
        .arg("--log-dir")
        .arg(log)
        .args(["serve", "--bind", "127.0.0.1:0"]);
    if let Some(artifacts) = artifacts {
        command.arg("--artifacts").arg(artifacts);
    }
    crate::spawn_serve(command.stderr(Stdio::null()))
}

async fn ask(url: &str, token: Option<&str>, user: &str, said: &str) -> (u16, serde_json::Value) {
    let request = RewriteRequest {
        user_id: user.into(),
        source: None,
        device: selflearn_types::testing::sample_event().device,
        text: said.into(),
        timestamp_ms: Some(1_767_600_000_000),
        context: Default::default(),
    };
    let mut post = reqwest::Client::new()
        .post(format!("{url}/v1/rewrite"))
        .json(&request);
    if let Some(token) = token {
        post = post.bearer_auth(token);
    }
    let response = post.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The cross-user read: another installation asking as one of this one's users gets only
/// what a stranger gets, never that user's personal history; the owner's own token does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_rewrites_answer_only_the_installation_that_logged_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let log = dir.path().join("log");
    let events = with_other_successes(
        reformulations_of(30),
        &["what time is it", "turn on the kitchen lights"],
    );
    let (mut server, url) = serve(&config, &log, None);
    let client = reqwest::Client::new();
    let post = |token: Option<&'static str>, batch: &[selflearn_types::TurnEvent]| {
        let mut post = client.post(format!("{url}/v1/events")).json(batch);
        if let Some(token) = token {
            post = post.bearer_auth(token);
        }
        post.send()
    };
    let refused = post(None, &events[..10]).await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let refused = post(Some(NEIGHBOUR), &events[..10]).await.unwrap();
    assert_eq!(
        refused.status().as_u16(),
        403,
        "the neighbour may not ingest"
    );
    for batch in events.chunks(50) {
        let stored = post(Some(KITCHEN), batch).await.unwrap();
        assert_eq!(stored.status().as_u16(), 200);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let paths = Paths {
        artifacts: dir.path().join("artifacts"),
        encoder: dir.path().join("encoder.safetensors"),
    };
    let learned = learn_into(&log, &paths);
    assert!(text(&learned.stdout).contains("rewrites mined"));

    let (mut server, url) = serve(&config, &log, Some(&paths.artifacts));
    let said = [
        "play maj and dragons",
        "play imagine dragon",
        "what time is it",
    ];
    let mut personal = 0;
    for text in said {
        let (status, own) = ask(&url, Some(KITCHEN), "user-1", text).await;
        assert_eq!(status, 200, "{own}");
        personal += usize::from(own["layer"] == "personal");
        let (_, neighbour) = ask(&url, Some(NEIGHBOUR), "user-1", text).await;
        let (_, stranger) = ask(&url, Some(NEIGHBOUR), "nobody-here", text).await;
        assert_ne!(neighbour["layer"], "personal", "{text}: {neighbour}");
        let explained = neighbour["explanation"].as_str().unwrap_or("");
        assert!(!explained.contains("for you"), "{text}: {neighbour}");
        assert_eq!(
            neighbour, stranger,
            "{text}: the neighbour learns nothing of user-1"
        );
        let (status, _) = ask(&url, None, "user-1", text).await;
        assert_eq!(status, 401);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        personal >= 1,
        "user-1's own installation gets their personal layer"
    );
}

/// `selflearn token` prints a token once and an entry holding only its digest, which `serve`
/// accepts from the environment as well as from the file; without tokens, `serve` refuses an
/// address other hosts can reach.
#[test]
fn a_new_token_is_printed_with_its_entry_and_an_open_service_stays_on_loopback() {
    let made = crate::selflearn_without_log(&[
        "token",
        "--name",
        "hall",
        "--role",
        "ingest,rewrite",
        "--source",
        "home-7",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let out = text(&made.stdout);
    let token = out
        .lines()
        .find(|l| l.starts_with("slt_"))
        .unwrap()
        .to_owned();
    assert!(
        !out.contains(&format!("\"{token}\"")),
        "only the digest is in the entry"
    );
    let entry = &out[out.find("[[server.tokens]]").unwrap()..];
    #[derive(serde::Deserialize)]
    struct File {
        server: Server,
    }
    #[derive(serde::Deserialize)]
    struct Server {
        tokens: Vec<selflearn_server::TokenConfig>,
    }
    use figment::providers::Format;
    let file: File = figment::Figment::from(figment::providers::Toml::string(entry))
        .extract()
        .unwrap();
    let tokens = selflearn_server::Tokens::from_config(&file.server.tokens).unwrap();
    let caller = tokens.caller(&token).unwrap();
    assert_eq!(caller.source.as_deref(), Some("home-7"));
    assert!(
        caller.may(selflearn_server::Role::Rewrite) && !caller.may(selflearn_server::Role::Admin)
    );
    let bad = crate::selflearn_without_log(&["token", "--name", "x", "--role", "root"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("not a role"),
        "{}",
        text(&bad.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let open = crate::selflearn(&dir.path().join("log"), &["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(open.status.code(), Some(2));
    assert!(
        text(&open.stderr).contains("without tokens"),
        "{}",
        text(&open.stderr)
    );
}

/// The poisoning attack: one installation's token sends 18 made-up turns of 3 made-up users
/// who "fail" with a weather question and "succeed" by unlocking the door. Three real
/// installations' people repair a mishearing. The organic rewrite is learned; the planted one
/// is not, in the table nor in the global layer, unless the source rule is switched off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_inventing_users_cannot_plant_a_global_rewrite() {
    use selflearn_types::Outcome;
    use selflearn_types::testing::turn_saying as turn;

    const PLANTED: &str = "what will be the highest temperature in coming weeks";
    const TARGET: &str = "unlock the front door";
    let dir = tempfile::tempdir().unwrap();
    let digest = selflearn_server::auth::token_digest;
    let mut toml = String::new();
    for home in ["home-1", "home-2", "home-3", "evil"] {
        toml.push_str(&format!(
            "[[server.tokens]]\nname = \"{home}\"\nsha256 = \"{}\"\nroles = [\"ingest\", \"rewrite\"]\nsource = \"{home}\"\n\n",
            digest(&format!("slt_token-of-{home}"))
        ));
    }
    let config = dir.path().join("selflearn.toml");
    fs_err::write(&config, &toml).unwrap();
    let log = dir.path().join("log");
    let (mut server, url) = serve(&config, &log, None);
    let client = reqwest::Client::new();
    let send = |home: &str, events: Vec<selflearn_types::TurnEvent>| {
        client
            .post(format!("{url}/v1/events"))
            .bearer_auth(format!("slt_token-of-{home}"))
            .json(&events)
            .send()
    };
    let pairs = |user: &str, failed: &str, worked: &str, times: i64| {
        (0..times)
            .flat_map(|k| {
                let at = 1_767_600_000_000 + k * 600_000;
                [
                    turn(user, &format!("{user}-{k}-a"), at, failed, Outcome::Failure),
                    turn(
                        user,
                        &format!("{user}-{k}-b"),
                        at + 5_000,
                        worked,
                        Outcome::Success,
                    ),
                ]
            })
            .collect::<Vec<_>>()
    };
    for home in ["home-1", "home-2", "home-3"] {
        let events = pairs(
            &format!("{home}-ana"),
            "play maj and dragons",
            "play imagine dragons",
            2,
        );
        assert_eq!(send(home, events).await.unwrap().status().as_u16(), 200);
    }
    let mut attack = Vec::new();
    for user in ["mallory-1", "mallory-2", "mallory-3"] {
        attack.extend(pairs(user, PLANTED, TARGET, 3));
    }
    assert_eq!(attack.len(), 18);
    assert_eq!(send("evil", attack).await.unwrap().status().as_u16(), 200);
    server.kill().unwrap();
    server.wait().unwrap();

    let learned_with = |extra: &str| {
        let config = dir.path().join(format!("learn{}.toml", extra.len()));
        fs_err::write(&config, extra).unwrap();
        let artifacts = dir.path().join(format!("artifacts{}", extra.len()));
        let out = Command::new(env!("CARGO_BIN_EXE_selflearn"))
            .arg("--config")
            .arg(&config)
            .arg("--log-dir")
            .arg(&log)
            .arg("learn")
            .arg("--artifacts")
            .arg(&artifacts)
            .arg("--encoder")
            .arg(dir.path().join("encoder.safetensors"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let manifest: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(artifacts.join("manifest.json")).unwrap())
                .unwrap();
        let file = |kind: &str| {
            let entry = manifest["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["kind"] == kind)
                .unwrap()
                .clone();
            let path = artifacts.join(entry["file"].as_str().unwrap());
            serde_json::from_str::<serde_json::Value>(&fs_err::read_to_string(path).unwrap())
                .unwrap()
        };
        let table: Vec<(String, String)> = file("rewrite_table")["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["source"].as_str().unwrap().to_owned(),
                    e["target"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let global: Vec<String> = file("online")["global"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["text"].as_str().unwrap().to_owned())
            .collect();
        (table, global, artifacts)
    };
    let (table, global, artifacts) = learned_with("");
    let organic = (
        "play maj and dragons".to_owned(),
        "play imagine dragons".to_owned(),
    );
    assert!(table.contains(&organic), "{table:?}");
    assert!(table.iter().all(|(from, _)| from != PLANTED), "{table:?}");
    assert!(
        global.contains(&"play imagine dragons".to_owned()),
        "{global:?}"
    );
    assert!(!global.contains(&TARGET.to_owned()), "{global:?}");

    // Through the service: the planted request is left alone, the organic one repaired.
    let (mut server, url) = serve(&config, &log, Some(&artifacts));
    let (_, planted) = ask(&url, Some("slt_token-of-home-1"), "home-1-bob", PLANTED).await;
    let (_, organic_answer) = ask(
        &url,
        Some("slt_token-of-home-1"),
        "home-1-bob",
        "play maj and dragons",
    )
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(planted["rewritten"], false, "{planted}");
    assert_eq!(
        organic_answer["text"], "play imagine dragons",
        "{organic_answer}"
    );

    // The same log with the source rule off: the attack succeeds, so the rule is what stops it.
    let (table, global, _) =
        learned_with("[miner]\nmin_sources = 1\n\n[online]\nmin_sources = 1\n");
    assert!(
        table
            .iter()
            .any(|(from, to)| from == PLANTED && to == TARGET),
        "{table:?}"
    );
    assert!(global.contains(&TARGET.to_owned()), "{global:?}");
}
