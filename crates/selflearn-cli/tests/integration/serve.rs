use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use selflearn_types::testing::numbered_events;

const BATCH: usize = 50;
const BATCHES: usize = 4000;
const CLIENTS: usize = 4;

/// Starts `selflearn serve` on a free port; returns the child and its base URL.
fn start_server(log: &Path) -> (Child, String) {
    start_server_logging_to(log, Stdio::null())
}

/// As [`start_server`], with the server's log (standard error) going to `log_to`.
fn start_server_logging_to(log: &Path, log_to: Stdio) -> (Child, String) {
    crate::spawn_serve(
        Command::new(env!("CARGO_BIN_EXE_selflearn"))
            .arg("--log-dir")
            .arg(log)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stderr(log_to),
    )
}

/// Posts batches from several clients until `stop_after` are acknowledged, then calls `stop`;
/// returns the acknowledged batch numbers.
async fn post_until(url: &str, stop_after: usize, stop: impl FnOnce()) -> Vec<usize> {
    let events = Arc::new(numbered_events("srv", BATCH * BATCHES));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (events, acked, next, client, url) = (
            events.clone(),
            acked.clone(),
            next.clone(),
            client.clone(),
            url.to_owned(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= BATCHES {
                    return;
                }
                let body = serde_json::to_vec(&events[i * BATCH..(i + 1) * BATCH]).unwrap();
                let sent = client
                    .post(format!("{url}/v1/events"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => acked.lock().unwrap().push(i),
                    _ => return, // the server is gone or refusing: stop this client
                }
            }
        });
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        if acked.lock().unwrap().len() >= stop_after {
            break;
        }
    }
    stop();
    while tasks.join_next().await.is_some() {}
    acked.lock().unwrap().clone()
}

fn assert_acknowledged_batches_stored(log: &Path, acked: &[usize]) {
    let events = numbered_events("srv", BATCH * BATCHES);
    let ids = crate::stored_ids(log);
    for &batch in acked {
        for event in &events[batch * BATCH..(batch + 1) * BATCH] {
            assert!(
                ids.contains(&event.event_id),
                "acknowledged batch {batch} lost {}",
                event.event_id
            );
        }
    }
    let stored = ids.len();
    assert_eq!(
        stored % BATCH,
        0,
        "a batch was stored in part: {stored} events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_server_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start_server(dir.path());
    let acked = post_until(&url, 40, || child.kill().unwrap()).await;
    child.wait().unwrap();
    assert!(acked.len() >= 40);
    assert!(acked.len() < BATCHES, "the server was killed mid-stream");
    assert_acknowledged_batches_stored(dir.path(), &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_keeping_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start_server(dir.path());
    let pid = child.id().to_string();
    let acked = post_until(&url, 40, || {
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    })
    .await;
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    assert_acknowledged_batches_stored(dir.path(), &acked);
}

/// Logs written to a file or a pipe are plain text: no terminal colour codes.
#[test]
fn a_redirected_log_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = start_server_logging_to(dir.path(), Stdio::piped());
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("INFO"), "the shutdown is logged: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a redirected log: {log:?}"
    );
}

/// With its log going to a full disk (`/dev/full`), the service still starts, answers, warns
/// about a conflicting event id without dying, and stays ready: a log line that cannot be
/// written is dropped, never a panic of the thread that wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_log_kills_no_thread() {
    let dir = tempfile::tempdir().unwrap();
    let full = fs_err::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (mut child, url) =
        start_server_logging_to(&dir.path().join("log"), Stdio::from(full.into_parts().0));
    let client = reqwest::Client::new();
    let mut events = numbered_events("a", 3);
    let post = |events: &[selflearn_types::TurnEvent]| {
        client.post(format!("{url}/v1/events")).json(events).send()
    };
    assert_eq!(post(&events).await.unwrap().status().as_u16(), 200);
    events[1].asr.text.push_str(" again");
    for _ in 0..3 {
        // Refused with a warning logged each time.
        assert_eq!(post(&events).await.unwrap().status().as_u16(), 409);
    }
    let ready: serde_json::Value = client
        .get(format!("{url}/v1/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["writer"], "running", "{ready}");
    assert_eq!(ready["conflicting_batches"], 3, "{ready}");
    assert_eq!(
        post(&numbered_events("b", 2))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
