//! Every limit of the service, on a real listener with raw sockets: what a slow, idle, greedy
//! or flooding client gets, and that the rest of the service keeps answering.

use std::sync::Arc;
use std::time::{Duration, Instant};

use selflearn_log::{EventLog, LogOptions};
use selflearn_server::{Rewriter, ServerConfig};
use selflearn_types::{RewriteRequest, RewriteResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Takes its time over every answer, as a slow model would.
#[derive(Debug)]
struct Slow(Duration);

impl Rewriter for Slow {
    fn rewrite(&self, request: &RewriteRequest) -> RewriteResponse {
        std::thread::sleep(self.0);
        RewriteResponse::unchanged(request.text.clone())
    }
}

/// A running service with `config`; dropping it (or sending on `stop`) shuts it down.
struct Running {
    address: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(config: ServerConfig, rewriter: Arc<dyn Rewriter>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(selflearn_server::serve(
        listener,
        log,
        config,
        rewriter,
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        address,
        stop: Some(stop),
        served,
        _dir: dir,
    }
}

impl Running {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).await.unwrap()
    }

    /// Asks for shutdown and returns how long the service took to stop.
    async fn shut_down(mut self) -> Duration {
        let asked = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), &mut self.served)
            .await
            .expect("the service stops")
            .unwrap()
            .unwrap();
        asked.elapsed()
    }
}

/// Reads until the peer closes, or `within` passes (`None`); the bytes read.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut all = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&all).into_owned())
}

/// One request on a fresh connection; the raw response.
async fn exchange(running: &Running, request: &str) -> String {
    let mut stream = running.connect().await;
    stream.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut stream, Duration::from_secs(10))
        .await
        .expect("an answer and a close")
}

fn rewrite_request(text: &str) -> String {
    let body = serde_json::json!({
        "user_id": "alice",
        "device": {"id": "d", "kind": "speaker", "has_screen": false},
        "text": text
    })
    .to_string();
    format!(
        "POST /v1/rewrite HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

const HEALTH: &str = "GET /v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

fn quick() -> ServerConfig {
    ServerConfig {
        header_read_timeout_ms: 300,
        body_read_timeout_ms: 300,
        shutdown_drain_ms: 300,
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_connections_are_closed_after_the_header_deadline() {
    let running = start(quick(), Arc::new(selflearn_server::NoRewrites)).await;
    // Half a request line, then nothing.
    let mut slow = running.connect().await;
    slow.write_all(b"GET /v1/hea").await.unwrap();
    let started = Instant::now();
    assert!(
        read_to_close(&mut slow, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // One answered request, then the connection left open and idle.
    let mut idle = running.connect().await;
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut idle, Duration::from_secs(5))
        .await
        .expect("the idle connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    running.shut_down().await;
}

#[tokio::test]
async fn a_slow_body_gets_408_and_an_announced_huge_one_413_at_once() {
    let running = start(quick(), Arc::new(selflearn_server::NoRewrites)).await;
    let mut slow = running.connect().await;
    slow.write_all(
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[{\"a\":",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut slow, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    let started = Instant::now();
    let mut huge = running.connect().await;
    huge.write_all(
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut huge, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "answered before the deadline"
    );
    running.shut_down().await;
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_and_health_answers_once_idle_ones_go() {
    let config = ServerConfig {
        max_connections: 2,
        ..quick()
    };
    let running = start(config, Arc::new(selflearn_server::NoRewrites)).await;
    let _idle = [running.connect().await, running.connect().await];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = running.connect().await;
    let _ = third.write_all(HEALTH.as_bytes()).await;
    let refused = read_to_close(&mut third, Duration::from_millis(250))
        .await
        .expect("closed at once");
    assert!(refused.is_empty(), "{refused}");
    // The idle ones are closed at the header deadline; then there is room again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(exchange(&running, HEALTH).await.starts_with("HTTP/1.1 200"));
    running.shut_down().await;
}

#[tokio::test]
async fn past_the_concurrency_limit_rewrites_get_429_with_retry_after_and_health_still_answers() {
    let config = ServerConfig {
        max_concurrent_requests: 1,
        ..ServerConfig::default()
    };
    let running = Arc::new(start(config, Arc::new(Slow(Duration::from_millis(800)))).await);
    let first = {
        let running = running.clone();
        tokio::spawn(async move { exchange(&running, &rewrite_request("play jazz")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = exchange(&running, &rewrite_request("play jazz")).await;
    assert!(second.starts_with("HTTP/1.1 429"), "{second}");
    assert!(second.to_lowercase().contains("retry-after: 1"), "{second}");
    assert!(second.contains("overloaded"), "{second}");
    // The slow rewrite runs off the runtime's workers: health answers meanwhile.
    let started = Instant::now();
    assert!(exchange(&running, HEALTH).await.starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_millis(400));
    assert!(first.await.unwrap().starts_with("HTTP/1.1 200"));
    Arc::into_inner(running).unwrap().shut_down().await;
}

#[tokio::test]
async fn a_rewrite_text_past_its_limit_is_refused_naming_the_field() {
    let running = start(quick(), Arc::new(selflearn_server::NoRewrites)).await;
    let limit = ServerConfig::default().max_rewrite_text_bytes;
    let answer = exchange(&running, &rewrite_request(&"a".repeat(limit + 1))).await;
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(answer.contains("\"field\":\"text\""), "{answer}");
    let answer = exchange(&running, &rewrite_request(&"a".repeat(limit))).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    running.shut_down().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_past_its_drain_for_stalled_clients() {
    let config = ServerConfig {
        body_read_timeout_ms: 60_000,
        shutdown_drain_ms: 300,
        ..ServerConfig::default()
    };
    let running = start(config, Arc::new(selflearn_server::NoRewrites)).await;
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = running.connect().await;
        stream
            .write_all(
                b"POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[",
            )
            .await
            .unwrap();
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = running.shut_down().await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_request_refused_before_its_body_is_read_says_the_connection_closes() {
    let config = ServerConfig {
        tokens: vec![selflearn_server::TokenConfig {
            name: "ops".into(),
            sha256: selflearn_server::auth::token_digest("right"),
            roles: vec![selflearn_server::Role::Admin],
            source: None,
        }],
        ..quick()
    };
    let running = start(config, Arc::new(selflearn_server::NoRewrites)).await;
    // Keep-alive, a body, a wrong token: the client must be told not to reuse the connection.
    let mut stream = running.connect().await;
    stream
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]",
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Without a body nothing is left unread: the refusal keeps the connection.
    let mut stream = running.connect().await;
    stream
        .write_all(b"GET /v1/admin/blocks HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
    running.shut_down().await;
}
