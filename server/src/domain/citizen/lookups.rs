//! A small per-address limit on tracking-code requests. Codes carry 60 random bits, so
//! guessing one is hopeless anyway; the limit only keeps a client from hammering the
//! lookup. Fixed one-minute windows, counts kept in memory for the current window only
//! (the map is dropped when the window turns, and bounded within one); IPv6 clients are
//! counted by their /64, like the integrity channel's limiter.

use super::public_view::TrackError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window.
const WINDOW: Duration = Duration::from_secs(60);
/// Most distinct addresses counted in one window; beyond it new ones are refused until
/// the window turns (memory stays bounded under a flood of addresses).
const MAX_CLIENTS: usize = 100_000;

/// Counts per address in the current window.
#[derive(Debug)]
pub struct Lookups {
    inner: Mutex<(Instant, HashMap<IpAddr, u32>)>,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups::new()
    }
}

impl Lookups {
    /// An empty limiter.
    pub fn new() -> Lookups {
        Lookups {
            inner: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Admits one request naming a tracking code from `addr` (none: not counted), or
    /// refuses it with [`TrackError::TooMany`] when it is over `per_minute`. Every
    /// request naming a code is admitted first, before its body is read.
    pub fn admit(&self, addr: Option<IpAddr>, per_minute: u32) -> Result<(), TrackError> {
        self.check(addr, per_minute).map_err(TrackError::TooMany)
    }

    /// Counts one request from `addr` (none: not counted); `Err(seconds until the window
    /// turns)` when it is over `per_minute`.
    pub fn check(&self, addr: Option<IpAddr>, per_minute: u32) -> Result<(), u64> {
        let Some(addr) = addr else { return Ok(()) };
        let key = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-count: keep counting.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (started, counts) = &mut *guard;
        if now.duration_since(*started) >= WINDOW {
            *started = now;
            counts.clear();
        }
        let retry = WINDOW
            .saturating_sub(now.duration_since(*started))
            .as_secs()
            .max(1);
        if !counts.contains_key(&key) && counts.len() >= MAX_CLIENTS {
            return Err(retry);
        }
        let n = counts.entry(key).or_insert(0);
        if *n >= per_minute {
            return Err(retry);
        }
        *n += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_per_64() {
        let l = Lookups::new();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(l.check(Some(a), 3).is_ok());
        }
        assert!(l.check(Some(a), 3).is_err());
        assert!(l.check(Some(b), 3).is_ok());
        let x: IpAddr = "2001:db8::1".parse().unwrap_or(a);
        let y: IpAddr = "2001:db8::2".parse().unwrap_or(a);
        assert!(l.check(Some(x), 1).is_ok());
        assert!(l.check(Some(y), 1).is_err(), "same /64");
        assert!(l.check(None, 0).is_ok());
    }
}
