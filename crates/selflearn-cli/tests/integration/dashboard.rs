//! The dashboard end to end: a learned log served with tokens, the overview's charts and
//! tables filled from it, one person's sessions, and a block that changes the next answer
//! and outlives a new learn and a restart.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::learn::{ingest_and_learn, learn_into, reformulations};

const ADMIN: &str = "slt_0123456789abcdef-admin";
const ASSISTANT: &str = "slt_0123456789abcdef-assistant";

fn config(dir: &Path) -> std::path::PathBuf {
    let digest = selflearn_server::auth::token_digest;
    let path = dir.join("selflearn.toml");
    fs_err::write(
        &path,
        format!(
            "[[server.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nroles = [\"admin\"]\n\n\
             [[server.tokens]]\nname = \"assistant\"\nsha256 = \"{}\"\nroles = [\"ingest\", \"rewrite\"]\n",
            digest(ADMIN),
            digest(ASSISTANT)
        ),
    )
    .unwrap();
    path
}

fn serve(dir: &Path) -> (Child, String) {
    crate::spawn_serve(
        Command::new(env!("CARGO_BIN_EXE_selflearn"))
            .arg("--config")
            .arg(dir.join("selflearn.toml"))
            .arg("--log-dir")
            .arg(dir.join("log"))
            .args(["serve", "--bind", "127.0.0.1:0", "--reload-every-ms", "50"])
            .arg("--artifacts")
            .arg(dir.join("artifacts"))
            .stderr(Stdio::null()),
    )
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn rewritten(url: &str, said: &str) -> bool {
    let body = serde_json::json!({
        "user_id": "someone-else",
        "device": {"id": "d", "kind": "speaker", "has_screen": false},
        "text": said
    });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/v1/rewrite"))
        .bearer_auth(ASSISTANT)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["rewritten"].as_bool().unwrap()
}

async fn block(url: &str, method: reqwest::Method, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{url}/v1/admin/blocks"))
        .bearer_auth(token)
        .json(&serde_json::json!({"source": "play maj and dragons", "target": "play imagine dragons"}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// What `selflearn rewrites` lists for the set and the log's block list.
fn served_pairs(dir: &Path) -> serde_json::Value {
    let out = crate::selflearn(
        &dir.join("log"),
        &[
            "rewrites",
            "--artifacts",
            dir.join("artifacts").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", crate::text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How many values the chart `name` plots.
fn points(html: &str, name: &str) -> usize {
    let at = html
        .find(&format!("data-chart=\"{name}\" data-points=\""))
        .unwrap();
    let rest = &html[at..].split("data-points=\"").nth(1).unwrap();
    rest.split('"').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_was_learned_and_a_block_changes_the_next_answer_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let paths = ingest_and_learn(dir.path(), &reformulations());
    config(dir.path());
    let (mut child, url) = serve(dir.path());

    let (status, page) = get(&format!("{url}/"), None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Admin token") && !page.contains("maj and"),
        "the page holds no data"
    );
    let overview = format!("{url}/v1/admin/overview");
    assert_eq!(get(&overview, None).await.0, 401);
    assert_eq!(get(&overview, Some(ASSISTANT)).await.0, 403);
    let (status, html) = get(&overview, Some(ADMIN)).await;
    assert_eq!(status, 200, "{html}");
    for chart in ["defect-rate", "signals", "turns"] {
        assert!(points(&html, chart) > 0, "{chart} has no data");
    }
    assert!(
        html.contains("data-table=\"rewrites\" data-rows=\"1\""),
        "{html}"
    );
    assert!(html.contains("play maj and dragons") && html.contains("<td>served</td>"));
    assert!(html.contains("data-table=\"failing\" data-rows=\""));

    let (status, sessions) = get(&format!("{url}/v1/admin/sessions/user-1"), Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert!(
        sessions.contains("user-1") && sessions.contains("rephrase"),
        "{sessions}"
    );
    assert_eq!(
        get(&format!("{url}/v1/admin/sessions/user-1"), Some(ASSISTANT))
            .await
            .0,
        403
    );

    assert!(rewritten(&url, "play maj and dragons").await);
    assert_eq!(
        served_pairs(dir.path()),
        serde_json::json!([{"source": "play maj and dragons", "target": "play imagine dragons"}])
    );
    assert_eq!(block(&url, reqwest::Method::POST, ASSISTANT).await.0, 403);
    let (status, list) = block(&url, reqwest::Method::POST, ADMIN).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["changed"], true);
    assert!(
        !rewritten(&url, "play maj and dragons").await,
        "blocked from the answer on"
    );
    let (_, html) = get(&overview, Some(ADMIN)).await;
    assert!(html.contains("<td>blocked</td>"));
    assert_eq!(
        served_pairs(dir.path()),
        serde_json::json!([]),
        "nor exported"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A new learn finds the same rewrite; the block holds across it and a restart.
    learn_into(&dir.path().join("log"), &paths);
    let (mut child, url) = serve(dir.path());
    assert!(!rewritten(&url, "play maj and dragons").await);
    let (status, list) = block(&url, reqwest::Method::DELETE, ADMIN).await;
    assert_eq!((status, &list["changed"]), (200, &serde_json::json!(true)));
    assert!(rewritten(&url, "play maj and dragons").await, "lifted");
    child.kill().unwrap();
    child.wait().unwrap();
}
