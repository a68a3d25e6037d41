//! Tokens, roles and sources through the router.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use selflearn_log::{EventLog, ScanOrder};
use selflearn_server::auth::token_digest;
use selflearn_server::{Role, ServerConfig, TokenConfig};
use selflearn_types::testing::{files_bytes, holds};
use selflearn_types::{RewriteRequest, RewriteResponse, Rewriter};
use serde_json::{Value, json};

use crate::api::{TestApp, assert_error, batch_with};

const KITCHEN: &str = "slt_kitchen-token";
const READER: &str = "slt_reader-token";
const OPS: &str = "slt_ops-token";

/// Three tokens: `kitchen` ingests and rewrites for source `home-1`, `reader` only rewrites
/// for `home-2`, `ops` is an unbound admin.
fn config() -> ServerConfig {
    let token = |name: &str, secret: &str, roles: &[Role], source: Option<&str>| TokenConfig {
        name: name.into(),
        sha256: token_digest(secret),
        roles: roles.to_vec(),
        source: source.map(str::to_owned),
    };
    ServerConfig {
        tokens: vec![
            token(
                "kitchen",
                KITCHEN,
                &[Role::Ingest, Role::Rewrite],
                Some("home-1"),
            ),
            token("reader", READER, &[Role::Rewrite], Some("home-2")),
            token("ops", OPS, &[Role::Admin], None),
        ],
        ..ServerConfig::default()
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Records every request it is asked, answering unchanged.
#[derive(Debug, Default)]
struct Recording(Mutex<Vec<RewriteRequest>>);

impl Rewriter for Recording {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        self.0.lock().unwrap().push(request.clone());
        RewriteResponse::unchanged(request.text.clone())
    }
}

fn rewrite_body(source: Option<&str>) -> String {
    let mut body = json!({
        "user_id": "alice",
        "device": {"id": "d", "kind": "speaker", "has_screen": false},
        "text": "play jazz"
    });
    if let Some(source) = source {
        body["source"] = source.into();
    }
    body.to_string()
}

/// A batch of new event ids (`prefix-0` …), edited by `edit`.
fn renumbered(prefix: &str, edit: impl FnOnce(&mut Vec<Value>)) -> String {
    batch_with(|v| {
        for (i, event) in v.iter_mut().enumerate() {
            event["event_id"] = format!("{prefix}-{i}").into();
        }
        edit(v);
    })
}

fn stored_sources(app: &TestApp) -> Vec<Option<String>> {
    let log = EventLog::open_read_only(app.dir.path()).unwrap();
    let mut sources = Vec::new();
    log.scan(ScanOrder::Arrival, |e| {
        sources.push(e.source);
        Ok(())
    })
    .unwrap();
    sources
}

#[tokio::test]
async fn guarded_routes_refuse_a_missing_or_unknown_token_and_a_missing_role() {
    let app = TestApp::new(config());
    for (authorization, status, code) in [
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            Some("Bearer".to_owned()),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            Some(bearer("slt_guess")),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            Some(format!("Basic {KITCHEN}")),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (Some(bearer(READER)), StatusCode::FORBIDDEN, "forbidden"),
    ] {
        let ((got, body), challenge) = app
            .send_as(
                authorization.as_deref(),
                "POST",
                "/v1/events",
                Some("application/json"),
                batch_with(|_| {}),
            )
            .await;
        assert_eq!(got, status, "{authorization:?}: {body}");
        assert_error(&body, code);
        assert_eq!(
            challenge.as_deref(),
            (status == StatusCode::UNAUTHORIZED).then_some("Bearer"),
            "{authorization:?}"
        );
    }
    assert_eq!(app.stored(), 0, "nothing refused is stored");
    let forbidden = app
        .send_as(
            Some(&bearer(READER)),
            "POST",
            "/v1/events",
            Some("application/json"),
            batch_with(|_| {}),
        )
        .await
        .0
        .1;
    assert!(
        forbidden["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ingest"),
        "names the missing role: {forbidden}"
    );
    // The right token, in any case of the scheme, and an admin, are let through.
    for (authorization, batch) in [
        (bearer(KITCHEN), batch_with(|_| {})),
        (format!("bearer {KITCHEN}"), batch_with(|_| {})),
        (bearer(OPS), renumbered("ops", |_| {})),
    ] {
        let ((status, body), _) = app
            .send_as(
                Some(&authorization),
                "POST",
                "/v1/events",
                Some("application/json"),
                batch,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{authorization}: {body}");
    }
    // The same ids without the kitchen's source stamp are other content: refused, not dropped.
    let ((status, body), _) = app
        .send_as(
            Some(&bearer(OPS)),
            "POST",
            "/v1/events",
            Some("application/json"),
            batch_with(|_| {}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "conflicting_event_id");
    // Rewrite needs its own role: the kitchen token has it; no token is refused.
    let ((status, _), _) = app
        .send_as(
            None,
            "POST",
            "/v1/rewrite",
            Some("application/json"),
            rewrite_body(None),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let ((status, _), _) = app
        .send_as(
            Some(&bearer(KITCHEN)),
            "POST",
            "/v1/rewrite",
            Some("application/json"),
            rewrite_body(None),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Health and the document stay public.
    for uri in ["/v1/health", "/v1/openapi.json"] {
        let ((status, _), _) = app.send_as(None, "GET", uri, None, "").await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
}

#[tokio::test]
async fn a_bound_token_stamps_its_source_and_cannot_claim_another() {
    let app = TestApp::new(config());
    let send = |token: &'static str, body: String| {
        let app = &app;
        async move {
            app.send_as(
                Some(&bearer(token)),
                "POST",
                "/v1/events",
                Some("application/json"),
                body,
            )
            .await
            .0
        }
    };
    let (status, body) = send(
        KITCHEN,
        batch_with(|v| {
            v[1]["source"] = "home-1".into();
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored_sources(&app), vec![Some("home-1".to_owned()); 4]);
    // Another source anywhere in the batch refuses all of it.
    let (status, body) = send(
        KITCHEN,
        renumbered("other", |v| v[3]["source"] = "home-2".into()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "other_source");
    assert_eq!(
        (
            body["error"]["index"].clone(),
            body["error"]["field"].clone()
        ),
        (json!(3), json!("source"))
    );
    assert_eq!(app.stored(), 4);
    // An unbound admin stores what the records say.
    let (status, body) = send(
        OPS,
        renumbered("relayed", |v| v[0]["source"] = "home-9".into()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sources = stored_sources(&app);
    assert_eq!(
        sources
            .iter()
            .filter(|s| s.as_deref() == Some("home-9"))
            .count(),
        1
    );
    assert_eq!(sources.iter().filter(|s| s.is_none()).count(), 3);
}

#[tokio::test]
async fn a_rewrite_request_is_asked_with_the_callers_source() {
    let recording = Arc::new(Recording::default());
    let app = TestApp::with_rewriter(config(), recording.clone());
    let ask = |token: &'static str, body: String| {
        let app = &app;
        async move {
            app.send_as(
                Some(&bearer(token)),
                "POST",
                "/v1/rewrite",
                Some("application/json"),
                body,
            )
            .await
            .0
        }
    };
    assert_eq!(ask(KITCHEN, rewrite_body(None)).await.0, StatusCode::OK);
    assert_eq!(
        ask(READER, rewrite_body(Some("home-2"))).await.0,
        StatusCode::OK
    );
    let (status, body) = ask(READER, rewrite_body(Some("home-1"))).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a reader cannot pass for home-1: {body}"
    );
    assert_error(&body, "other_source");
    assert_eq!(
        ask(OPS, rewrite_body(Some("home-1"))).await.0,
        StatusCode::OK
    );
    let mut bad: Value = serde_json::from_str(&rewrite_body(None)).unwrap();
    bad["user_id"] = "alice\u{1f}x".into();
    let (status, body) = ask(KITCHEN, bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "user_id");
    let asked: Vec<Option<String>> = recording
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.source.clone())
        .collect();
    assert_eq!(
        asked,
        [Some("home-1"), Some("home-2"), Some("home-1")]
            .map(|s| s.map(str::to_owned))
            .to_vec()
    );
}

#[tokio::test]
async fn without_tokens_every_route_is_open() {
    let recording = Arc::new(Recording::default());
    let app = TestApp::with_rewriter(ServerConfig::default(), recording.clone());
    let ((status, body), _) = app
        .send_as(
            None,
            "POST",
            "/v1/events",
            Some("application/json"),
            batch_with(|v| v[0]["source"] = "s".into()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ((status, _), _) = app
        .send_as(
            None,
            "POST",
            "/v1/rewrite",
            Some("application/json"),
            rewrite_body(Some("s")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recording.0.lock().unwrap()[0].source.as_deref(), Some("s"));
}

#[test]
fn an_open_service_is_refused_beyond_loopback() {
    let open = ServerConfig::default();
    let loopback = "127.0.0.1:8080".parse().unwrap();
    let anywhere = "0.0.0.0:8080".parse().unwrap();
    let lan = "[::]:8080".parse().unwrap();
    assert!(selflearn_server::check_exposure(&open, loopback).is_ok());
    for address in [anywhere, lan] {
        let err = selflearn_server::check_exposure(&open, address).unwrap_err();
        assert!(err.to_string().contains("without tokens"), "{err}");
    }
    assert!(selflearn_server::check_exposure(&config(), anywhere).is_ok());
    let proxied = ServerConfig {
        allow_unauthenticated: true,
        ..ServerConfig::default()
    };
    assert!(selflearn_server::check_exposure(&proxied, anywhere).is_ok());
}

#[tokio::test]
async fn readiness_reports_the_writer_and_conflicts_and_needs_no_token() {
    let app = TestApp::new(config());
    let post = |body: String| {
        let app = &app;
        async move {
            app.send_as(
                Some(&bearer(KITCHEN)),
                "POST",
                "/v1/events",
                Some("application/json"),
                body,
            )
            .await
            .0
        }
    };
    assert_eq!(post(batch_with(|_| {})).await.0, StatusCode::OK);
    // A retry is a duplicate; the same id with other content is refused and counted.
    assert_eq!(post(batch_with(|_| {})).await.1["duplicates"], 4);
    let (status, body) = post(batch_with(|v| {
        v[2]["asr"]["text"] = "something else".into()
    }))
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "conflicting_event_id");
    assert_eq!(body["error"]["index"], 2);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("other content")
    );
    assert_eq!(app.stored(), 4);
    let ((status, ready), _) = app.send_as(None, "GET", "/v1/ready", None, "").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        ready,
        json!({"status": "ready", "writer": "running", "conflicting_batches": 1})
    );
}

/// A writer thread that ends while the service runs stops the service with an error, even
/// though no shutdown was asked for: the process exits for its supervisor to restart it.
#[tokio::test]
async fn the_service_stops_with_an_error_when_its_writer_ends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TestApp::new(ServerConfig::default());
    let dead = std::thread::spawn(|| {});
    let stopped = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        selflearn_server::supervise(
            listener,
            app.router(),
            dead,
            ServerConfig::default().limits(),
            std::future::pending(),
        ),
    )
    .await
    .expect("the service stops by itself");
    let err = stopped.unwrap_err();
    assert!(
        err.to_string().contains("events can no longer be stored"),
        "{err}"
    );
}

/// Answers every request from a personal layer.
#[derive(Debug)]
struct AlwaysPersonal;

impl Rewriter for AlwaysPersonal {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        RewriteResponse {
            text: "play purple haze".into(),
            rewritten: true,
            layer: Some(selflearn_types::PERSONAL_LAYER.into()),
            ..RewriteResponse::unchanged(request.text.clone())
        }
    }
}

#[tokio::test]
async fn an_admin_erases_a_user_through_the_service_and_the_files_no_longer_hold_them() {
    let app = TestApp::with_rewriter(config(), Arc::new(AlwaysPersonal));
    let batch = renumbered("erase", |v| {
        for event in v.iter_mut() {
            event["user_id"] = "alice".into();
            event["asr"]["text"] = "open the garden gate at midnight".into();
        }
    });
    let ((status, body), _) = app
        .send_as(
            Some(&bearer(KITCHEN)),
            "POST",
            "/v1/events",
            Some("application/json"),
            batch,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = files_bytes(app.dir.path());
    assert!(holds(&before, "garden gate") && holds(&before, "alice"));
    let ask = || async {
        app.send_as(
            Some(&bearer(KITCHEN)),
            "POST",
            "/v1/rewrite",
            Some("application/json"),
            rewrite_body(None),
        )
        .await
        .0
        .1
    };
    assert_eq!(ask().await["layer"], "personal");
    // Only an admin erases; a bound admin only within its source.
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(KITCHEN), StatusCode::FORBIDDEN),
    ] {
        let ((got, body), _) = app
            .send_as(
                token.map(bearer).as_deref(),
                "DELETE",
                "/v1/users/alice",
                None,
                "",
            )
            .await;
        assert_eq!(got, status, "{body}");
    }
    assert_eq!(app.stored(), 4, "nothing erased without the role");
    let ((status, body), _) = app
        .send_as(
            Some(&bearer(OPS)),
            "DELETE",
            "/v1/users/alice?source=home-1",
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted_events"], 4, "{body}");
    assert_eq!(body["source"], "home-1", "{body}");
    assert_eq!(body["wal_truncated"], true, "{body}");
    assert_eq!(app.stored(), 0);
    let after = files_bytes(app.dir.path());
    assert!(!holds(&after, "garden gate"), "the user's words remain");
    assert!(!holds(&after, "alice"), "the user id remains");
    // The loaded artifacts still hold alice's personal index; the service withholds it.
    let answer = ask().await;
    assert_eq!(answer["rewritten"], false, "{answer}");
    assert_eq!(answer["text"], "play jazz", "{answer}");
    // An id no event could carry is refused.
    let ((status, _), _) = app
        .send_as(
            Some(&bearer(OPS)),
            "DELETE",
            "/v1/users/alice%E2%80%8B",
            None,
            "",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_replica_answers_its_shards_withholds_the_erased_and_stores_nothing() {
    let app = TestApp::replica(
        config(),
        Arc::new(AlwaysPersonal),
        "0-7/16".parse().unwrap(),
    );
    let ask = |user: &'static str| {
        let app = &app;
        async move {
            let mut body: Value = serde_json::from_str(&rewrite_body(None)).unwrap();
            body["user_id"] = user.into();
            app.send_as(
                Some(&bearer(KITCHEN)),
                "POST",
                "/v1/rewrite",
                Some("application/json"),
                body.to_string(),
            )
            .await
            .0
        }
    };
    // alice is in shard 0 of 16, user-42 in shard 13 (`selflearn_types::shard`'s vectors).
    let (status, body) = ask("alice").await;
    assert_eq!(
        (status, body["layer"].as_str()),
        (StatusCode::OK, Some("personal"))
    );
    let (status, body) = ask("user-42").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("shard 13 of 16") && message.contains("0-7/16"),
        "{message}"
    );
    let ((status, body), _) = app
        .send_as(
            Some(&bearer(KITCHEN)),
            "POST",
            "/v1/events",
            Some("application/json"),
            renumbered("replica", |_| {}),
        )
        .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    // Erasure on a replica deletes nothing (there is no log) and withholds at once.
    let ((status, body), _) = app
        .send_as(Some(&bearer(OPS)), "DELETE", "/v1/users/alice", None, "")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["withheld_only"].as_bool(),
            body["deleted_events"].as_u64()
        ),
        (Some(true), Some(0))
    );
    let (_, body) = ask("alice").await;
    assert_eq!(body["rewritten"], false, "{body}");
}
