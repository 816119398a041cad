//! The bounded pool CPU-heavy sync work runs on (issue 16, point 2).
//!
//! Handling a pushed change decodes and inflates it, applies it to a copy of the
//! document, parses, validates and folds the result and saves it: milliseconds to
//! seconds of CPU for a hostile push, which on a tokio worker would stall every other
//! connection that worker serves. A push's whole handling (its storage calls included:
//! they interleave with the CPU steps inside sync-core's session) runs on a blocking
//! thread instead, and a semaphore bounds how many run at once; pushes beyond it wait
//! their turn without holding a thread.
//!
//! Catch-up pages (issue 21 §4, the morning reconnect storm) take a turn too, from a
//! semaphore of their own ([`CatchUpTurns`]): thousands of phones catching up at once
//! would otherwise fill the async workers' queues, and a live pull — an urgent job
//! reaching a phone already connected — would wait behind every one of them. Live pulls
//! take no turn, so they go first.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The work did not finish: it panicked (a bug, or automerge giving up outside
/// `catch_unwind`) or the runtime is shutting down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync work did not finish: {0}")]
pub struct WorkLost(String);

/// A bounded set of blocking threads for sync work.
#[derive(Debug, Clone)]
pub struct SyncWork {
    slots: Arc<Semaphore>,
    threads: usize,
}

impl SyncWork {
    /// A pool of `threads` (0: one per CPU core).
    pub fn new(threads: usize) -> SyncWork {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            threads
        };
        SyncWork {
            slots: Arc::new(Semaphore::new(threads)),
            threads,
        }
    }

    /// How many run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` to completion on a blocking thread once a slot is free; its I/O is
    /// still driven by the runtime's reactor.
    pub async fn run<T, F>(&self, work: F) -> Result<T, WorkLost>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| WorkLost(e.to_string()))?;
        let handle = tokio::runtime::Handle::current();
        metrics::gauge!("tarmim_sync_work_running").increment(1.0);
        let done = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            handle.block_on(work)
        })
        .await;
        metrics::gauge!("tarmim_sync_work_running").decrement(1.0);
        done.map_err(|e| WorkLost(e.to_string()))
    }
}

/// Turns for building catch-up pages: at most so many at once on this replica.
#[derive(Debug, Clone)]
pub struct CatchUpTurns {
    slots: Arc<Semaphore>,
}

impl CatchUpTurns {
    /// `n` pages at once (0: one per CPU core).
    pub fn new(n: usize) -> CatchUpTurns {
        let n = if n == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            n
        };
        CatchUpTurns {
            slots: Arc::new(Semaphore::new(n)),
        }
    }

    /// Waits for a turn; the page is built while the permit is held. `None` only if the
    /// semaphore was closed, which never happens: the page is then built without a turn.
    pub async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.slots).acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_n_run_at_once_and_their_io_still_works() {
        let pool = SyncWork::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut all = Vec::new();
        for _ in 0..8 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            all.push(tokio::spawn(async move {
                pool.run(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // I/O still works (the reactor drives it) while the thread blocks.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for a in all {
            a.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panic_is_reported_not_propagated() {
        let pool = SyncWork::new(1);
        let lost = pool.run(async { panic!("boom") }).await;
        assert!(lost.is_err());
        assert_eq!(pool.run(async { 7 }).await, Ok(7));
    }
}
