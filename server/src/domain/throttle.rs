//! Login throttling: what keeps password guessing from costing the server its memory and
//! CPU, or an account its password.
//!
//! - Password hashing (argon2id, 19 MiB and tens of milliseconds each) runs on threads
//!   behind a semaphore of its own, never on the shared blocking pool that photos and the
//!   integrity channel use; a bounded queue waits for a slot and beyond it a login is
//!   refused at once.
//! - Attempts are counted per account and per client address (IPv6: its /64) *before*
//!   any hashing, so a burst of concurrent guesses is counted as it arrives. Over the
//!   allowance, each further attempt is refused for a back-off that doubles from one
//!   second up to a ceiling. A success clears the account's count and gives the address
//!   its attempt back (crews behind one carrier NAT log in often).
//! - [`SocketSlots`] caps open sync WebSockets on the replica and per user.
//! - Both tables are bounded: idle entries are pruned when a table fills, and a table
//!   still full admits without counting (the hashing semaphore still bounds the CPU; see
//!   `docs/security.md` for why failing open was chosen over locking everyone out).

use crate::base::config::limits::LimitsConfig;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Most entries in each table.
const MAX_ENTRIES: usize = 100_000;
/// An entry with no attempt for this long starts again from zero.
const QUIET: Duration = Duration::from_secs(15 * 60);

/// Why a login was refused before its password was checked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Throttled {
    /// Too many attempts on this account or from this address.
    #[error("too many login attempts; retry in {retry_after_secs} s")]
    Attempts {
        /// Seconds until an attempt is admitted again.
        retry_after_secs: u64,
    },
    /// Every hashing slot is taken and the queue is full.
    #[error("too many logins at once; retry in {retry_after_secs} s")]
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

impl Throttled {
    /// Seconds the client should wait (`Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Throttled::Attempts { retry_after_secs } | Throttled::Busy { retry_after_secs } => {
                *retry_after_secs
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    attempts: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Attempt counts with back-off, keyed by `K`.
#[derive(Debug)]
struct Backoff<K> {
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    fn new() -> Self {
        Backoff {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt; `Err(seconds)` while `key` is backing off.
    fn admit(&self, key: &K, free: u32, max: Duration, now: Instant) -> Result<(), u64> {
        // A poisoned lock only means a panic mid-count elsewhere: keep counting.
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= MAX_ENTRIES {
            map.retain(|_, e| {
                now.duration_since(e.last) < QUIET || e.locked_until.is_some_and(|t| t > now)
            });
            if map.len() >= MAX_ENTRIES {
                return Ok(());
            }
        }
        let e = map.entry(key.clone()).or_insert(Entry {
            attempts: 0,
            last: now,
            locked_until: None,
        });
        if let Some(until) = e.locked_until.filter(|t| *t > now) {
            return Err(secs_until(until, now));
        }
        if now.duration_since(e.last) >= QUIET {
            e.attempts = 0;
        }
        e.last = now;
        e.attempts = e.attempts.saturating_add(1);
        if e.attempts > free {
            let over = (e.attempts - free - 1).min(30);
            let wait = Duration::from_secs(1u64 << over).min(max);
            e.locked_until = Some(now + wait);
            return Err(wait.as_secs().max(1));
        }
        Ok(())
    }

    /// Forgets `key`.
    fn clear(&self, key: &K) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }

    /// Gives `key` one attempt back.
    fn refund(&self, key: &K) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get_mut(key) {
            e.attempts = e.attempts.saturating_sub(1);
        }
    }
}

fn secs_until(t: Instant, now: Instant) -> u64 {
    t.saturating_duration_since(now)
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

/// The client address as counted: IPv4 as is, IPv6 by its /64 (one subscriber's block).
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The login throttle of one replica.
#[derive(Debug)]
pub struct LoginThrottle {
    limits: LimitsConfig,
    hashing: Arc<Semaphore>,
    waiting: AtomicUsize,
    accounts: Backoff<String>,
    addresses: Backoff<IpAddr>,
}

/// An admitted attempt: report its outcome with [`LoginThrottle::succeeded`].
#[derive(Debug)]
pub struct Attempt {
    account: String,
    address: Option<IpAddr>,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: &LimitsConfig) -> LoginThrottle {
        LoginThrottle {
            hashing: Arc::new(Semaphore::new(limits.login_hash_concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            accounts: Backoff::new(),
            addresses: Backoff::new(),
            limits: limits.clone(),
        }
    }

    /// Counts an attempt on `login` from `address` (none: not counted by address), or
    /// refuses it while either is backing off.
    pub fn admit(&self, login: &str, address: Option<IpAddr>) -> Result<Attempt, Throttled> {
        let now = Instant::now();
        let max = Duration::from_secs(self.limits.login_backoff_max_secs.max(1));
        let address = address.map(address_key);
        if let Some(a) = &address {
            self.addresses
                .admit(a, self.limits.login_address_attempts, max, now)
                .map_err(|retry_after_secs| Throttled::Attempts { retry_after_secs })?;
        }
        let account = login.trim().to_lowercase();
        if let Err(retry_after_secs) =
            self.accounts
                .admit(&account, self.limits.login_account_attempts, max, now)
        {
            if let Some(a) = &address {
                self.addresses.refund(a);
            }
            return Err(Throttled::Attempts { retry_after_secs });
        }
        Ok(Attempt { account, address })
    }

    /// A successful login: the account starts afresh, the address gets its attempt back.
    pub fn succeeded(&self, attempt: &Attempt) {
        self.accounts.clear(&attempt.account);
        if let Some(a) = &attempt.address {
            self.addresses.refund(a);
        }
    }

    /// Runs `f` (a password hash or check) on a thread of its own once a hashing slot is
    /// free; refused at once when the queue for slots is full.
    pub async fn hash<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Throttled> {
        let busy = Throttled::Busy {
            retry_after_secs: 1,
        };
        let permit = match Arc::clone(&self.hashing).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.login_hash_queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy);
                }
                let p = Arc::clone(&self.hashing).acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                p.map_err(|_| busy.clone())?
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A dedicated thread, not `spawn_blocking`: the shared blocking pool (photos,
        // integrity work, SQLite) never waits behind password hashing.
        std::thread::Builder::new()
            .name("tarmim-argon2".into())
            .spawn(move || {
                let out = f();
                drop(permit);
                let _ = tx.send(out);
            })
            .map_err(|_| busy.clone())?;
        rx.await.map_err(|_| busy)
    }
}

/// Caps on open sync WebSockets: on this replica, and per user (one user's devices, or
/// one stolen token opening sockets in a loop).
#[derive(Debug)]
pub struct SocketSlots {
    total: usize,
    per_user: usize,
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// Why a sync socket was refused: which cap is full. Either way the client retries in
/// [`SocketsFull::RETRY_AFTER_SECS`]; the words tell a phone's user (or whoever reads the
/// logs) whether closing their other devices would help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SocketsFull {
    /// The user has `max` sockets open already.
    #[error("too many sync connections of this user (at most {max}); close another one")]
    User {
        /// The per-user cap.
        max: usize,
    },
    /// This server has `max` sockets open already (all users together).
    #[error("this server has its most sync connections open ({max}); retry later")]
    Server {
        /// The server-wide cap.
        max: usize,
    },
}

impl SocketsFull {
    /// Seconds a refused client waits before trying again.
    pub const RETRY_AFTER_SECS: u64 = 5;
}

/// One open socket's place; freed when dropped.
#[derive(Debug)]
pub struct SocketSlot {
    slots: Arc<SocketSlots>,
    user: String,
}

impl SocketSlots {
    /// Slots under these limits.
    pub fn new(limits: &LimitsConfig) -> Arc<SocketSlots> {
        Arc::new(SocketSlots {
            total: limits.sync_max_sockets.max(1),
            per_user: limits.sync_max_sockets_per_user.max(1),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for one more socket of `user`, or which cap refused it (retry in a few
    /// seconds).
    pub fn open(self: &Arc<Self>, user: &str) -> Result<SocketSlot, SocketsFull> {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, users) = &mut *guard;
        if *total >= self.total {
            return Err(SocketsFull::Server { max: self.total });
        }
        let n = users.entry(user.to_owned()).or_insert(0);
        if *n >= self.per_user {
            return Err(SocketsFull::User { max: self.per_user });
        }
        *n += 1;
        *total += 1;
        Ok(SocketSlot {
            slots: Arc::clone(self),
            user: user.to_owned(),
        })
    }

    /// Sockets open now.
    pub fn open_now(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut guard = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, users) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = users.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_success_clears() {
        let limits = LimitsConfig {
            login_account_attempts: 2,
            login_address_attempts: 100,
            ..LimitsConfig::default()
        };
        let t = LoginThrottle::new(&limits);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.admit("Ali", Some(ip)).is_ok());
        let a = t.admit("ali", Some(ip)).unwrap();
        let e = t.admit("ali", Some(ip)).unwrap_err();
        assert_eq!(e.retry_after_secs(), 1);
        // Still backing off.
        assert!(t.admit("ali", Some(ip)).is_err());
        t.succeeded(&a);
        assert!(t.admit("ali", Some(ip)).is_ok());
    }

    #[test]
    fn socket_slots_per_user_and_in_all() {
        let limits = LimitsConfig {
            sync_max_sockets: 3,
            sync_max_sockets_per_user: 2,
            ..LimitsConfig::default()
        };
        let s = SocketSlots::new(&limits);
        let a1 = s.open("a").unwrap();
        let _a2 = s.open("a").unwrap();
        assert_eq!(s.open("a").unwrap_err(), SocketsFull::User { max: 2 });
        let _b1 = s.open("b").unwrap();
        assert_eq!(s.open("c").unwrap_err(), SocketsFull::Server { max: 3 });
        drop(a1);
        let _c = s.open("c").unwrap();
        assert_eq!(s.open_now(), 3);
    }

    #[test]
    fn ipv6_counted_by_its_64() {
        let limits = LimitsConfig {
            login_address_attempts: 1,
            ..LimitsConfig::default()
        };
        let t = LoginThrottle::new(&limits);
        assert!(t.admit("a", Some("2001:db8::1".parse().unwrap())).is_ok());
        assert!(t.admit("b", Some("2001:db8::2".parse().unwrap())).is_err());
        assert!(
            t.admit("c", Some("2001:db8:0:1::1".parse().unwrap()))
                .is_ok()
        );
    }
}
