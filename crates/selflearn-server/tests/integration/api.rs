use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use selflearn_log::{EventLog, LogOptions};
use selflearn_server::writer::LogWriter;
use selflearn_server::{AppState, NoRewrites, Rewriter, ServerConfig, Tokens, router};
use selflearn_types::testing::{generated_events, sample_event};
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct TestApp {
    pub dir: tempfile::TempDir,
    app: axum::Router,
}

impl TestApp {
    pub fn new(config: ServerConfig) -> Self {
        Self::with_rewriter(config, Arc::new(NoRewrites))
    }

    pub fn with_rewriter(config: ServerConfig, rewriter: Arc<dyn Rewriter>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        let (writer, _thread) = LogWriter::spawn(log);
        let tokens = Tokens::from_config(&config.tokens).unwrap();
        let state = AppState {
            writer: Some(writer),
            shards: None,
            rewriter,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            conflicts: Arc::default(),
            forgotten: Arc::default(),
            admin: None,
        };
        Self {
            dir,
            app: router(state),
        }
    }

    /// A rewrite replica of `shards`: no log behind it.
    pub fn replica(
        config: ServerConfig,
        rewriter: Arc<dyn Rewriter>,
        shards: selflearn_types::shard::ShardRange,
    ) -> Self {
        let tokens = Tokens::from_config(&config.tokens).unwrap();
        let state = AppState {
            writer: None,
            shards: Some(shards),
            rewriter,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            conflicts: Arc::default(),
            forgotten: Arc::default(),
            admin: None,
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            app: router(state),
        }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        self.send_as(None, method, uri, content_type, body).await.0
    }

    /// Sends with `Authorization: <authorization>` when given; also returns the
    /// `WWW-Authenticate` header.
    pub async fn send_as(
        &self,
        authorization: Option<&str>,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> ((StatusCode, Value), Option<String>) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}"));
        ((status, value), challenge)
    }

    async fn post_json(&self, uri: &str, body: String) -> (StatusCode, Value) {
        self.send("POST", uri, Some("application/json"), body).await
    }

    /// The router, for serving it on a real listener.
    pub fn router(&self) -> axum::Router {
        self.app.clone()
    }

    pub fn stored(&self) -> u64 {
        EventLog::open_read_only(self.dir.path())
            .unwrap()
            .len()
            .unwrap()
    }
}

pub fn batch_with(edit: impl FnOnce(&mut Vec<Value>)) -> String {
    let mut values: Vec<Value> = generated_events(4, 2)
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    edit(&mut values);
    Value::Array(values).to_string()
}

pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn a_valid_batch_is_stored_and_a_resend_is_idempotent() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app.post_json("/v1/events", batch_with(|_| {})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"accepted": 4, "inserted": 4, "duplicates": 0}));
    let (_, body) = app.post_json("/v1/events", batch_with(|_| {})).await;
    assert_eq!(body, json!({"accepted": 4, "inserted": 0, "duplicates": 4}));
    assert_eq!(app.stored(), 4);
}

#[tokio::test]
async fn an_unknown_field_refuses_the_batch_and_names_index_and_field() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app
        .post_json(
            "/v1/events",
            batch_with(|v| v[2]["asr"]["mood"] = "happy".into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_event");
    assert_eq!(body["error"]["index"], 2);
    assert!(
        body["error"]["field"].as_str().unwrap().starts_with("asr"),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("mood"),
        "{body}"
    );
    assert_eq!(app.stored(), 0, "nothing of a refused batch is stored");
}

#[tokio::test]
async fn a_wrong_type_names_the_field() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app
        .post_json(
            "/v1/events",
            batch_with(|v| v[1]["timestamp_ms"] = "yesterday".into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["index"], 1);
    assert_eq!(body["error"]["field"], "timestamp_ms");
}

#[tokio::test]
async fn truncated_json_is_a_bad_request() {
    let app = TestApp::new(ServerConfig::default());
    let body = batch_with(|_| {});
    let (status, body) = app
        .post_json("/v1/events", body[..body.len() - 40].to_owned())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_json");
    assert_eq!(app.stored(), 0);
}

#[tokio::test]
async fn an_empty_body_is_a_bad_request() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app.post_json("/v1/events", String::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "empty_body");
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let app = TestApp::new(ServerConfig {
        max_body_bytes: 1024,
        ..ServerConfig::default()
    });
    let (status, body) = app.post_json("/v1/events", batch_with(|_| {})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "body_too_large");
    assert_eq!(app.stored(), 0);
}

#[tokio::test]
async fn too_many_events_in_a_batch_are_refused() {
    let app = TestApp::new(ServerConfig {
        max_batch_events: 3,
        ..ServerConfig::default()
    });
    let (status, body) = app.post_json("/v1/events", batch_with(|_| {})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "batch_too_large");
}

#[tokio::test]
async fn a_repeated_id_in_a_batch_is_refused_with_both_indexes() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app
        .post_json(
            "/v1/events",
            batch_with(|v| v[3]["event_id"] = v[0]["event_id"].clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "duplicate_event_id");
    assert_eq!(body["error"]["index"], 3);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("repeats record 0"),
        "{body}"
    );
    assert_eq!(app.stored(), 0);
}

/// Valid JSON of the wrong shape is not "invalid JSON": 422, naming what is wrong.
#[tokio::test]
async fn a_body_that_is_not_an_array_is_an_invalid_request_not_invalid_json() {
    let app = TestApp::new(ServerConfig::default());
    let one = serde_json::to_string(&sample_event()).unwrap();
    let (status, body) = app.post_json("/v1/events", one).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected a sequence"),
        "{body}"
    );
}

#[tokio::test]
async fn a_non_json_or_non_utf8_content_type_is_refused() {
    let app = TestApp::new(ServerConfig::default());
    for content_type in [
        "text/plain",
        "application/json; charset=utf-16",
        "application/json;charset=\"UTF-16LE\"",
    ] {
        let (status, body) = app
            .send("POST", "/v1/events", Some(content_type), batch_with(|_| {}))
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert_error(&body, "unsupported_media_type");
    }
    for content_type in ["application/json; charset=UTF-8", "Application/JSON"] {
        let (status, body) = app
            .send("POST", "/v1/events", Some(content_type), batch_with(|_| {}))
            .await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {body}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app.send("GET", "/v1/nothing", None, Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let (status, body) = app.send("GET", "/v1/events", None, Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");
}

#[tokio::test]
async fn rewrite_answers_unchanged_without_artifacts() {
    let app = TestApp::new(ServerConfig::default());
    let request = json!({
        "user_id": "u1",
        "device": {"id": "d1", "kind": "speaker", "has_screen": false},
        "text": "play maj and dragons",
        "context": {"location": "kitchen"}
    });
    let (status, body) = app.post_json("/v1/rewrite", request.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"text": "play maj and dragons", "rewritten": false})
    );
    let (status, body) = app
        .post_json("/v1/rewrite", json!({"user_id": "u1"}).to_string())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{body}"
    );
}

#[tokio::test]
async fn health_and_openapi_are_served() {
    let app = TestApp::new(ServerConfig::default());
    let (status, body) = app.send("GET", "/v1/health", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = app
        .send("GET", "/v1/openapi.json", None, Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["openapi"], "3.1.0");
    assert!(body["components"]["schemas"]["TurnEvent"].is_object());
}

#[tokio::test]
async fn every_documented_route_is_answered_by_the_router_and_others_are_not_found() {
    let app = TestApp::new(ServerConfig::default());
    let (status, doc) = app
        .send("GET", "/v1/openapi.json", None, Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 10, "{paths:?}");
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            // Path parameters (`{user_id}`) filled with a plain value.
            let uri: Vec<String> = path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        "u1".to_owned()
                    } else {
                        part.to_owned()
                    }
                })
                .collect();
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(uri.join("/"))
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let status = app.app.clone().oneshot(request).await.unwrap().status();
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status}"
            );
        }
    }
    let (status, _) = app
        .send("GET", "/v1/undocumented", None, Body::empty())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.send("DELETE", "/v1/health", None, Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
