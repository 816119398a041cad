//! Rate limiting without keeping addresses, and failing safe.
//!
//! A client is counted under HMAC-SHA256(window key, address) cut to 16 bytes, where the
//! window key is random, lives only in memory and is replaced — with every count — when
//! the window ends. The address itself is never kept, and after a window no count can be
//! linked to an address, even by someone who reads the process's memory later. IPv6
//! clients are counted by their /64 (one host usually holds a whole /64). Fixed windows:
//! a client can reach twice its limit across a window boundary; that is accepted for not
//! keeping anything longer.
//!
//! Three limits apply to a report, each per window: the client's own
//! (`reports_per_client`), its network's (`reports_per_prefix`: an IPv6 /48 — what one
//! site is usually given — or an IPv4 /24), and the server's (`reports_per_window`). The
//! network limit is what keeps the global ceiling from being a switch anyone can turn
//! off: one /48 holds 65,536 /64 "clients", but all of them together get only their
//! prefix's share, and the ceiling can only be reached by many networks at once.
//!
//! The table of counts holds at most `table_entries` clients and prefixes. When it is
//! full, the entry seen least recently is forgotten to make room, so a newcomer is never
//! refused for lack of room. Forgetting a count lets that client start over; only a
//! client that has stopped sending for longest is forgotten, and anyone able to fill the
//! table has that many addresses to start over from anyway (`docs/security.md`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Reports per network prefix (IPv6 /48, IPv4 /24) per window.
    pub reports_per_prefix: u32,
    /// Reports per window in total.
    pub reports_per_window: u32,
    /// Follow-ups per client per window.
    pub follow_ups_per_client: u32,
    /// Most entries (clients and prefixes) counted at once.
    pub table_entries: usize,
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
    /// This client's network used its share.
    #[error("too many reports from your network; try again in {retry_after_secs} s")]
    Network {
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

impl Limited {
    /// Seconds until the window ends.
    pub fn retry_after_secs(&self) -> u64 {
        match *self {
            Limited::Client { retry_after_secs }
            | Limited::Network { retry_after_secs }
            | Limited::Global { retry_after_secs } => retry_after_secs,
        }
    }
}

/// A counted thing: a client doing one action, or a network prefix making reports.
type Tag = [u8; 16];

struct Entry {
    count: u32,
    /// When it was last seen, in the window's own ticks (the key of `recency`).
    seen: u64,
}

struct Window {
    key: [u8; 32],
    started: Instant,
    entries: HashMap<Tag, Entry>,
    /// Entries by when they were last seen, oldest first.
    recency: BTreeMap<u64, Tag>,
    tick: u64,
    reports: u32,
}

impl Window {
    fn fresh(now: Instant) -> Window {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        Window {
            key,
            started: now,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
            reports: 0,
        }
    }

    fn tag(&self, parts: &[&[u8]]) -> Tag {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        for p in parts {
            mac.update(p);
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// The count of `tag`, marking it seen now; a new entry starts at 0 and, with the
    /// table full, takes the place of the least recently seen one.
    fn touch(&mut self, tag: Tag, cap: usize) -> u32 {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.entries.get_mut(&tag) {
            self.recency.remove(&e.seen);
            e.seen = tick;
            self.recency.insert(tick, tag);
            return e.count;
        }
        while self.entries.len() >= cap {
            let Some((_, old)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&old);
        }
        self.entries.insert(
            tag,
            Entry {
                count: 0,
                seen: tick,
            },
        );
        self.recency.insert(tick, tag);
        0
    }

    fn count_one(&mut self, tag: &Tag) {
        if let Some(e) = self.entries.get_mut(tag) {
            e.count = e.count.saturating_add(1);
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

/// The part of an address its network is counted by: an IPv4 /24, an IPv6 /48.
fn prefix_bytes(addr: Option<IpAddr>) -> Vec<u8> {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(a)) => a.octets()[..3].to_vec(),
        Some(IpAddr::V6(a)) => a.octets()[..6].to_vec(),
        None => b"unknown".to_vec(),
    }
}

fn action_byte(action: Action) -> u8 {
    match action {
        Action::Report => b'r',
        Action::FollowUp => b'f',
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
        // Room for a client and its prefix at least.
        let cap = self.limits.table_entries.max(2);
        let client = w.tag(&[b"c", &[action_byte(action)], &client_bytes(addr)]);
        // Touched even when refused: a client that keeps knocking stays counted.
        let count = w.touch(client, cap);
        let limit = match action {
            Action::Report => self.limits.reports_per_client,
            Action::FollowUp => self.limits.follow_ups_per_client,
        };
        if count >= limit {
            return Err(Limited::Client { retry_after_secs });
        }
        if action == Action::FollowUp {
            w.count_one(&client);
            return Ok(());
        }
        let prefix = w.tag(&[b"p", &prefix_bytes(addr)]);
        let in_prefix = w.touch(prefix, cap);
        if in_prefix >= self.limits.reports_per_prefix {
            return Err(Limited::Network { retry_after_secs });
        }
        if w.reports >= self.limits.reports_per_window {
            return Err(Limited::Global { retry_after_secs });
        }
        // Touching the prefix may have pushed the client out of a tiny table: count it
        // again if so (it starts over, as any forgotten entry does).
        if !w.entries.contains_key(&client) {
            w.touch(client, cap);
        }
        w.count_one(&client);
        w.count_one(&prefix);
        w.reports += 1;
        Ok(())
    }

    /// Entries (clients and prefixes) counted in the current window (tests).
    pub fn clients_counted(&self) -> usize {
        match self.window.lock() {
            Ok(g) => g.entries.len(),
            Err(p) => p.into_inner().entries.len(),
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
            reports_per_prefix: 3,
            reports_per_window: 3,
            follow_ups_per_client: 1,
            table_entries: 100,
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
        assert_eq!(l.clients_counted(), 2, "the client and its prefix");
    }

    #[test]
    fn one_network_cannot_use_up_the_ceiling() {
        let l = RateLimiter::new(Limits {
            window: Duration::from_secs(60),
            reports_per_client: 1,
            reports_per_prefix: 3,
            reports_per_window: 10,
            follow_ups_per_client: 1,
            table_entries: 1000,
        });
        let t0 = Instant::now();
        // Every /64 of one /48 is its own client, but the /48 gets 3 reports in all.
        let ok = (0..50u16)
            .filter(|i| {
                let ip: IpAddr = format!("2001:db8:7:{i:x}::1").parse().unwrap();
                l.check_at(Some(ip), Action::Report, t0).is_ok()
            })
            .count();
        assert_eq!(ok, 3);
        assert!(matches!(
            l.check_at(
                Some("2001:db8:7:ff::1".parse().unwrap()),
                Action::Report,
                t0
            ),
            Err(Limited::Network { .. })
        ));
        // The same for an IPv4 /24.
        let v4 = (1..50u8)
            .filter(|i| {
                let ip: IpAddr = format!("198.51.100.{i}").parse().unwrap();
                l.check_at(Some(ip), Action::Report, t0).is_ok()
            })
            .count();
        assert_eq!(v4, 3);
        // Another network still gets in.
        assert!(
            l.check_at(Some("2001:db8:8::1".parse().unwrap()), Action::Report, t0)
                .is_ok()
        );
    }

    #[test]
    fn a_full_table_forgets_the_least_recent_and_admits_newcomers() {
        let l = RateLimiter::new(Limits {
            window: Duration::from_secs(60),
            reports_per_client: 1,
            reports_per_prefix: 1000,
            reports_per_window: 1000,
            follow_ups_per_client: 2,
            table_entries: 10,
        });
        let t0 = Instant::now();
        let ip = |i: u8| -> IpAddr { format!("192.0.2.{i}").parse().unwrap() };
        // A knocking client (refused, but kept as recently seen).
        assert!(l.check_at(Some(ip(1)), Action::Report, t0).is_ok());
        for i in 2..60u8 {
            assert!(
                l.check_at(Some(ip(i)), Action::FollowUp, t0).is_ok(),
                "newcomer {i} admitted"
            );
            assert!(l.check_at(Some(ip(1)), Action::Report, t0).is_err());
            assert!(l.clients_counted() <= 10);
        }
    }
}
