//! A writer process is killed with SIGKILL mid-stream; every batch it acknowledged must be
//! readable afterwards, and no batch may be half stored.
//!
//! The test re-runs its own test binary as the writer (`writer_child`, ignored unless the
//! parent sets `SELFLEARN_CRASH_DIR`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use selflearn_log::{EventLog, LogOptions, ScanOrder, SyncPolicy};
use selflearn_types::testing::numbered_events;

const BATCH: usize = 100;
const BATCHES: usize = 2000;

const KILL_AFTER_ACKS: usize = 25;

#[test]
#[ignore = "run by `every_acknowledged_batch_survives_sigkill` as a child process"]
fn writer_child() {
    let Ok(dir) = std::env::var("SELFLEARN_CRASH_DIR") else {
        return;
    };
    let events = numbered_events("crash", BATCH * BATCHES);
    let mut log = EventLog::open(
        dir.as_ref(),
        &LogOptions {
            sync: SyncPolicy::Full,
        },
    )
    .unwrap();
    for (i, batch) in events.chunks(BATCH).enumerate() {
        log.append(batch).unwrap();
        println!("ACK {i}");
    }
}

#[test]
fn every_acknowledged_batch_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash::writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SELFLEARN_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("ACK ") {
            acked.push(n.parse::<usize>().unwrap());
            if acked.len() == KILL_AFTER_ACKS {
                child.kill().unwrap(); // SIGKILL, most likely in the middle of the next batch
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(
        acked.len(),
        KILL_AFTER_ACKS,
        "the writer stopped before it was killed"
    );

    let events = numbered_events("crash", BATCH * BATCHES);
    let log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
    let mut stored_events = std::collections::HashMap::new();
    log.scan(ScanOrder::Arrival, |e| {
        stored_events.insert(e.event_id.clone(), e);
        Ok(())
    })
    .unwrap();
    for &batch in &acked {
        for event in &events[batch * BATCH..(batch + 1) * BATCH] {
            assert_eq!(
                stored_events.get(&event.event_id),
                Some(event),
                "acknowledged batch {batch} lost an event"
            );
        }
    }
    let stored = log.len().unwrap() as usize;
    assert_eq!(
        stored % BATCH,
        0,
        "a batch was stored in part: {stored} events"
    );
    assert!(stored >= KILL_AFTER_ACKS * BATCH);
}
