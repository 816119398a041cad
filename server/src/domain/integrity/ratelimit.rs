//! Rate limiting without keeping addresses.
//!
//! A client is counted under HMAC-SHA256(window key, address) cut to 16 bytes, where the
//! window key is random, lives only in memory and is replaced — with every count — when
//! the window ends. The address itself is never kept, and after a window no count can be
//! linked to an address, even by someone who reads the process's memory later. IPv6
//! clients are counted by their /64 (one host usually holds a whole /64). Fixed windows:
//! a client can reach twice its limit across a window boundary; that is accepted for not
//! keeping anything longer.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most distinct clients counted in one window; beyond it every new client is refused
/// until the window ends (memory stays bounded under a flood of addresses).
const MAX_CLIENTS: usize = 100_000;

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Making a report.
    Report,
    /// Using a receipt code (reading or writing back).
    FollowUp,
}

/// The per-window limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Window length.
    pub window: Duration,
    /// Reports per client per window.
    pub reports_per_client: u32,
    /// Reports per window in total.
    pub reports_per_window: u32,
    /// Follow-ups per client per window.
    pub follow_ups_per_client: u32,
}

/// A refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// This client used its share.
    #[error("too many requests from here; try again in {retry_after_secs} s")]
    Client {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
    /// The server as a whole is at its limit.
    #[error("too many reports at the moment; try again in {retry_after_secs} s")]
    Global {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
}

struct Window {
    key: [u8; 32],
    started: Instant,
    clients: HashMap<([u8; 16], Action), u32>,
    reports: u32,
}

impl Window {
    fn fresh(now: Instant) -> Window {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        Window {
            key,
            started: now,
            clients: HashMap::new(),
            reports: 0,
        }
    }
}

/// A client as the limiter alone reads it: the address it is counted by (none when
/// unknown). Nothing else can read the address back, and it is never printed, so a
/// `Client` handed through the channel's code cannot end up in a log.
pub struct Client(Option<IpAddr>);

impl Client {
    /// The client at `addr`.
    pub fn at(addr: Option<IpAddr>) -> Client {
        Client(addr)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client(..)")
    }
}

/// The limiter. One per process.
pub struct RateLimiter {
    limits: Limits,
    window: Mutex<Window>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The part of an address a client is counted by.
fn client_bytes(addr: Option<IpAddr>) -> Vec<u8> {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(a)) => a.octets().to_vec(),
        Some(IpAddr::V6(a)) => a.octets()[..8].to_vec(),
        None => b"unknown".to_vec(),
    }
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            window: Mutex::new(Window::fresh(Instant::now())),
        }
    }

    /// Counts one `action` by `client` (an unknown address is one shared client); refuses
    /// it over the limit.
    pub fn check(&self, client: &Client, action: Action) -> Result<(), Limited> {
        self.check_at(client.0, action, Instant::now())
    }

    /// [`RateLimiter::check`] at a given instant (tests).
    pub fn check_at(
        &self,
        addr: Option<IpAddr>,
        action: Action,
        now: Instant,
    ) -> Result<(), Limited> {
        let mut w = match self.window.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if now.saturating_duration_since(w.started) >= self.limits.window {
            // New key, all counts forgotten: nothing links the next window to this one.
            *w = Window::fresh(now);
        }
        let retry_after_secs = self
            .limits
            .window
            .saturating_sub(now.saturating_duration_since(w.started))
            .as_secs()
            .max(1);
        let tag = {
            let mut mac = match Hmac::<Sha256>::new_from_slice(&w.key) {
                Ok(m) => m,
                Err(_) => unreachable!("HMAC takes keys of any length"),
            };
            mac.update(&client_bytes(addr));
            let full = mac.finalize().into_bytes();
            let mut tag = [0u8; 16];
            tag.copy_from_slice(&full[..16]);
            tag
        };
        let limit = match action {
            Action::Report => self.limits.reports_per_client,
            Action::FollowUp => self.limits.follow_ups_per_client,
        };
        if action == Action::Report && w.reports >= self.limits.reports_per_window {
            return Err(Limited::Global { retry_after_secs });
        }
        let known = w.clients.contains_key(&(tag, action));
        if !known && w.clients.len() >= MAX_CLIENTS {
            return Err(Limited::Client { retry_after_secs });
        }
        let count = w.clients.entry((tag, action)).or_insert(0);
        if *count >= limit {
            return Err(Limited::Client { retry_after_secs });
        }
        *count += 1;
        if action == Action::Report {
            w.reports += 1;
        }
        Ok(())
    }

    /// Clients counted in the current window (tests).
    pub fn clients_counted(&self) -> usize {
        match self.window.lock() {
            Ok(g) => g.clients.len(),
            Err(p) => p.into_inner().clients.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(Limits {
            window: Duration::from_secs(60),
            reports_per_client: 2,
            reports_per_window: 3,
            follow_ups_per_client: 1,
        })
    }

    #[test]
    fn limits_per_client_global_and_window() {
        let l = limiter();
        let t0 = Instant::now();
        let a: IpAddr = "203.0.113.5".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::7".parse().unwrap();
        let b2: IpAddr = "2001:db8:1:2::8".parse().unwrap();
        assert!(l.check_at(Some(a), Action::Report, t0).is_ok());
        assert!(l.check_at(Some(a), Action::Report, t0).is_ok());
        assert!(matches!(
            l.check_at(Some(a), Action::Report, t0),
            Err(Limited::Client { .. })
        ));
        assert!(l.check_at(Some(a), Action::FollowUp, t0).is_ok());
        assert!(l.check_at(Some(b), Action::Report, t0).is_ok());
        // Same /64: the same client.
        assert!(l.check_at(Some(b2), Action::FollowUp, t0).is_ok());
        assert!(l.check_at(Some(b), Action::FollowUp, t0).is_err());
        // Global ceiling (3 reports this window).
        assert!(matches!(
            l.check_at(None, Action::Report, t0),
            Err(Limited::Global { .. })
        ));
        // A new window forgets everything.
        let t1 = t0 + Duration::from_secs(61);
        assert!(l.check_at(Some(a), Action::Report, t1).is_ok());
        assert_eq!(l.clients_counted(), 1);
    }
}
