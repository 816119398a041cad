//! Reconnect back-off: exponential with full jitter, so that many phones coming back into
//! coverage at once (after a server restart) do not reconnect in lockstep.

use std::time::Duration;

/// The delays between attempts: random in `[base, min(cap, base · 2ⁿ)]` for the n-th
/// failure in a row.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// Starts at `base` and never waits longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// A connection worked: start from `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let lo = self.base.as_millis() as u64;
        let hi = (ceiling.as_millis() as u64).max(lo);
        Duration::from_millis(rand::random_range(lo..=hi))
    }

    /// The delay to use when the server said how long to wait.
    pub fn at_least(&mut self, server_says: Option<Duration>) -> Duration {
        let own = self.next_delay();
        server_says.map_or(own, |s| s.max(own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_stays_under_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(100) && d <= Duration::from_secs(2),
                "{d:?}"
            );
            ceilings.push(d);
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        let waited = b.at_least(Some(Duration::from_secs(5)));
        assert!(waited >= Duration::from_secs(5));
    }
}
