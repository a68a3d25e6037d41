//! Independent jobs on all cores: the A/B's arms and seeds share nothing while they run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` over `jobs` on up to `threads` threads (at least one), results in the order of `jobs`.
/// Threads take the next job as they finish one, so long and short jobs even out.
pub fn map<T: Sync, R: Send>(jobs: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let result = f(job);
                    results
                        .lock()
                        .expect("no job panics while holding the lock")[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no job panics while holding the lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_jobs_whatever_the_threads() {
        let jobs: Vec<u64> = (0..50).collect();
        for threads in [0, 1, 3, 64] {
            let out = map(&jobs, threads, |&j| {
                // Early jobs take longest, so they finish last.
                std::thread::sleep(std::time::Duration::from_micros(50 * (50 - j)));
                j * j
            });
            assert_eq!(out, jobs.iter().map(|j| j * j).collect::<Vec<_>>());
        }
        assert!(map(&Vec::<u8>::new(), 2, |_| 1).is_empty());
    }
}
