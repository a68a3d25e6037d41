//! The single writer of the event log, on its own thread, with group commit: batches that
//! arrive while a commit is in progress are stored together in the next transaction, so that
//! concurrent clients share one fsync. A batch is acknowledged only after its commit. Erasure
//! runs on the same thread, between groups, since the log has one writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use selflearn_log::{AppendSummary, Erasure, EventLog, LogError};
use selflearn_types::TurnEvent;
use tokio::sync::oneshot;

/// Most batches stored in one transaction.
const MAX_GROUP: usize = 64;

struct Job {
    events: Vec<TurnEvent>,
    reply: oneshot::Sender<Result<AppendSummary, Arc<LogError>>>,
}

/// A deletion request: one user's events, of one source or of all.
struct Forget {
    user_id: String,
    source: Option<String>,
    reply: oneshot::Sender<Result<Erasure, Arc<LogError>>>,
}

/// What the writer thread is asked to do.
enum Work {
    Append(Job),
    Forget(Forget),
}

/// Handle to the writer thread; cloning it is cheap.
#[derive(Debug, Clone)]
pub struct LogWriter {
    jobs: mpsc::Sender<Work>,
    /// Cleared when the thread ends, however it ends (a panic included).
    running: Arc<AtomicBool>,
}

/// Clears the running flag when the writer thread ends, also by unwinding.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("events", &self.events.len())
            .finish()
    }
}

impl LogWriter {
    /// Starts the writer thread. It stops once every handle is dropped and the queue is empty.
    pub fn spawn(log: EventLog) -> (Self, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel::<Work>();
        let running = Arc::new(AtomicBool::new(true));
        let flag = Running(running.clone());
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let _flag = flag;
                run(log, queue);
            })
            .expect("the writer thread starts");
        (Self { jobs, running }, thread)
    }

    /// Whether the writer thread still takes batches.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Stores a validated batch; resolves once it is durable. `None` if the writer has stopped.
    pub async fn append(
        &self,
        events: Vec<TurnEvent>,
    ) -> Option<Result<AppendSummary, Arc<LogError>>> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Work::Append(Job { events, reply })).ok()?;
        answer.await.ok()
    }

    /// Deletes one user's events (of `source` only, when given); resolves once the deletion
    /// is durable and scrubbed from the files. `None` if the writer has stopped.
    pub async fn forget(
        &self,
        user_id: String,
        source: Option<String>,
    ) -> Option<Result<Erasure, Arc<LogError>>> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Work::Forget(Forget {
                user_id,
                source,
                reply,
            }))
            .ok()?;
        answer.await.ok()
    }
}

fn run(mut log: EventLog, queue: mpsc::Receiver<Work>) {
    let mut next = queue.recv().ok();
    while let Some(work) = next.take() {
        let first = match work {
            Work::Forget(forget) => {
                let erased = log.forget(&forget.user_id, forget.source.as_deref());
                if let Err(error) = &erased {
                    tracing::error!(%error, "erasure failed; nothing was deleted");
                }
                let _ = forget.reply.send(erased.map_err(Arc::new));
                next = queue.recv().ok();
                continue;
            }
            Work::Append(job) => job,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(Work::Append(job)) => group.push(job),
                Ok(forget) => {
                    // After this group, in arrival order.
                    next = Some(forget);
                    break;
                }
                Err(_) => break,
            }
        }
        let batches: Vec<&[TurnEvent]> = group.iter().map(|job| job.events.as_slice()).collect();
        let _span = tracing::debug_span!("group_commit", batches = batches.len()).entered();
        match log.append_group(&batches) {
            Ok(summaries) => {
                for (job, summary) in group.into_iter().zip(summaries) {
                    let _ = job.reply.send(summary.map_err(Arc::new));
                }
            }
            Err(error) => fail_group(group, error),
        }
        if next.is_none() {
            next = queue.recv().ok();
        }
    }
}

fn fail_group(group: Vec<Job>, error: LogError) {
    tracing::error!(%error, "group commit failed; no batch of the group was stored");
    let error = Arc::new(error);
    for job in group {
        let _ = job.reply.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_flag_clears_however_the_thread_ends() {
        for panics in [false, true] {
            let running = Arc::new(AtomicBool::new(true));
            let flag = Running(running.clone());
            let ended = std::thread::spawn(move || {
                let _flag = flag;
                assert!(!panics, "a writer thread that panics");
            })
            .join();
            assert_eq!(ended.is_err(), panics);
            assert!(!running.load(Ordering::SeqCst), "panics: {panics}");
        }
    }

    #[test]
    fn a_spawned_writer_runs_until_its_last_handle_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), &Default::default()).unwrap();
        let (writer, thread) = LogWriter::spawn(log);
        assert!(writer.is_running());
        let running = writer.running.clone();
        drop(writer);
        thread.join().unwrap();
        assert!(!running.load(Ordering::SeqCst));
    }
}
