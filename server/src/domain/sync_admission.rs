//! Admission of sync handshakes in turns (issue 21, point 4: the morning reconnect storm).
//!
//! When a shift starts, thousands of phones reconnect within a second. Each handshake
//! (the token read again, the upgrade, `Hello`, the catch-up up to `CaughtUp`) costs
//! database reads and CPU; run all at once they would crowd out live work (an urgent
//! job's push to a phone already connected) and hold every catch-up's page in memory
//! together. So at most `sync_handshakes` run at once on a replica; the others wait for a
//! turn — the server admits in waves, the phones need not.
//!
//! - A socket asks for its turn after authentication and before the upgrade, and waits at
//!   most `sync_handshake_wait_secs`; beyond it the answer is 503 with a `Retry-After` of a
//!   few seconds, spread at random so that the refused do not come back as one wave.
//! - A turn ends when the session's catch-up has ended (`CaughtUp`), and at the latest
//!   `sync_handshake_turn_secs` after it began: a phone that never says `Hello`, or reads its
//!   catch-up slowly, cannot keep a turn from the others (its session goes on, outside
//!   the limit).
//!
//! Metrics: `tarmim_sync_handshakes_waiting` (gauge) and
//! `tarmim_sync_handshakes_refused_total`.

use crate::base::config::limits::LimitsConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The turns of one replica. `None` inside: no limit (`sync_handshakes = 0`).
#[derive(Debug)]
pub struct Handshakes {
    turns: Option<Arc<Semaphore>>,
    wait: Duration,
    turn: Duration,
}

/// A handshake's turn; dropping it lets the next one in.
#[derive(Debug)]
pub struct Turn {
    _permit: Option<OwnedSemaphorePermit>,
    ends: Instant,
}

impl Turn {
    /// When the turn ends at the latest, whatever the session is doing.
    pub fn ends(&self) -> Instant {
        self.ends
    }
}

/// No turn came in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many sync handshakes under way; retry in {retry_after_secs} s")]
pub struct Busy {
    /// Seconds to wait before trying again (a few, at random).
    pub retry_after_secs: u64,
}

/// Decrements the waiting gauge however the wait ends (a turn, a refusal, or the
/// request being dropped).
struct Waiting;

impl Waiting {
    fn start() -> Waiting {
        metrics::gauge!("tarmim_sync_handshakes_waiting").increment(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!("tarmim_sync_handshakes_waiting").decrement(1.0);
    }
}

impl Handshakes {
    /// Turns as `limits` says (`sync_handshakes`, `sync_handshake_wait_secs`,
    /// `sync_handshake_turn_secs`).
    pub fn new(limits: &LimitsConfig) -> Handshakes {
        Handshakes {
            turns: (limits.sync_handshakes > 0)
                .then(|| Arc::new(Semaphore::new(limits.sync_handshakes))),
            wait: Duration::from_secs(limits.sync_handshake_wait_secs.max(1)),
            turn: Duration::from_secs(limits.sync_handshake_turn_secs.max(1)),
        }
    }

    /// Waits for a turn, at most the configured time.
    pub async fn enter(&self) -> Result<Turn, Busy> {
        let Some(turns) = &self.turns else {
            return Ok(Turn {
                _permit: None,
                ends: Instant::now() + self.turn,
            });
        };
        let waiting = Waiting::start();
        let permit = tokio::time::timeout(self.wait, Arc::clone(turns).acquire_owned()).await;
        drop(waiting);
        match permit {
            Ok(Ok(p)) => Ok(Turn {
                _permit: Some(p),
                ends: Instant::now() + self.turn,
            }),
            // Timed out (or closed, which never happens: the semaphore is never closed).
            _ => {
                metrics::counter!("tarmim_sync_handshakes_refused_total").increment(1);
                Err(Busy {
                    retry_after_secs: rand::random_range(2..=10),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(n: usize, wait: u64) -> LimitsConfig {
        LimitsConfig {
            sync_handshakes: n,
            sync_handshake_wait_secs: wait,
            sync_handshake_turn_secs: 7,
            ..LimitsConfig::default()
        }
    }

    #[tokio::test]
    async fn a_turn_is_given_when_one_ends_and_refused_after_the_wait() {
        let h = Handshakes::new(&limits(2, 1));
        let a = h.enter().await.unwrap();
        let _b = h.enter().await.unwrap();
        // Full: the third waits, and is refused once the wait is over.
        let busy = h.enter().await.unwrap_err();
        assert!((2..=10).contains(&busy.retry_after_secs));
        // A turn that ends lets the next in.
        drop(a);
        let c = h.enter().await.unwrap();
        let left = c.ends() - Instant::now();
        assert!(left > Duration::from_secs(6) && left <= Duration::from_secs(7));
    }

    #[tokio::test]
    async fn no_limit_never_refuses() {
        let h = Handshakes::new(&limits(0, 1));
        let mut turns = Vec::new();
        for _ in 0..1000 {
            turns.push(h.enter().await.unwrap());
        }
    }
}
