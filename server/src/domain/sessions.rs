//! Live sessions on this replica: which sync sockets and console event streams are open
//! for which user and token, and cutting them when their authority ends or changes.
//!
//! A token is checked when a socket or stream opens, and tokens live for weeks, so
//! revocation has to reach what is already open (issue 16, point 7):
//! - every live socket and stream holds a [`SessionGuard`], registered under its user and
//!   token hash before its identity is read a second time (so a cut committed after that
//!   read always finds the guard);
//! - every change that ends or narrows a user's authority writes a cut row in its own
//!   transaction (`storage::sessions`: logout, `user revoke-tokens`, disabling, new
//!   districts, a crew move, a crew's new district);
//! - each replica applies the log in `seq` order ([`LiveSessions::catch_up`]): at once on
//!   the replica that made the change, on PostgreSQL on hearing `NOTIFY tarmim_sessions`
//!   (the hub's one listening connection, so a cut is applied before any later commit's
//!   wake-up), on SQLite by polling every [`POLL`] (the CLI is another process);
//! - a cut guard resolves [`SessionGuard::cut`]; the socket loop checks it before sending
//!   anything, so nothing queued is sent after the cut, and closes with
//!   [`CLOSE_REVOKED`] or [`CLOSE_RESCOPED`]. A revoked sync socket first asks whether its
//!   user was disabled (`identity::account_disabled`): if so its device is told, in the
//!   protocol, that it has no scope left (so it drops the user's tasks) before the close.

use crate::storage::sessions::{self, Cut};
use crate::storage::{Db, DbError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

pub use crate::storage::sessions::CutKind;

/// The WebSocket close code of a revoked token or a disabled user: do not reconnect with
/// this token.
pub const CLOSE_REVOKED: u16 = 4401;
/// The WebSocket close code of a scope change: reconnect (authenticate again) to follow
/// the new scopes.
pub const CLOSE_RESCOPED: u16 = 4409;

/// How often a SQLite server reads the log (another process, the CLI, may write to it).
pub const POLL: Duration = Duration::from_secs(1);

/// Cuts read per query while catching up.
const PAGE: i64 = 500;

/// The close code and reason of a cut.
pub fn close_of(kind: CutKind) -> (u16, &'static str) {
    match kind {
        CutKind::Revoked => (CLOSE_REVOKED, "token revoked"),
        CutKind::Rescoped => (CLOSE_RESCOPED, "scopes changed; reconnect"),
    }
}

/// The registry. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct LiveSessions {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    users: Mutex<HashMap<String, HashMap<u64, Arc<Entry>>>>,
    next_id: AtomicU64,
    /// The last cut applied; `None` until [`LiveSessions::start`] (or the first
    /// [`LiveSessions::catch_up`] if that failed).
    seen: tokio::sync::Mutex<Option<i64>>,
}

struct Entry {
    token_hash: [u8; 32],
    cut: watch::Sender<Option<CutKind>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain inserts and removals: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for LiveSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSessions")
            .field("users", &lock(&self.inner.users).len())
            .finish()
    }
}

impl LiveSessions {
    /// An empty registry.
    pub fn new() -> LiveSessions {
        LiveSessions::default()
    }

    /// Starts following the log from its end: earlier cuts concern no session of this
    /// process. Call before the first session opens.
    pub async fn start(&self, db: &Db) -> Result<(), DbError> {
        let last = sessions::last_seq(db).await?;
        let mut seen = self.inner.seen.lock().await;
        if seen.is_none() {
            *seen = Some(last);
        }
        Ok(())
    }

    /// Registers a live session of `user_id` opened with the token hashed `token_hash`.
    pub fn register(&self, user_id: &str, token_hash: [u8; 32]) -> SessionGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        lock(&self.inner.users)
            .entry(user_id.to_owned())
            .or_default()
            .insert(
                id,
                Arc::new(Entry {
                    token_hash,
                    cut: tx,
                }),
            );
        SessionGuard {
            live: self.clone(),
            user: user_id.to_owned(),
            id,
            token_hash,
            rx,
        }
    }

    /// Live sessions of `user_id` on this replica.
    pub fn count(&self, user_id: &str) -> usize {
        lock(&self.inner.users).get(user_id).map_or(0, HashMap::len)
    }

    /// Cuts the sessions `cut` names; how many.
    fn apply(&self, cut: &Cut) -> usize {
        let users = lock(&self.inner.users);
        let Some(entries) = users.get(&cut.user_id) else {
            return 0;
        };
        let mut n = 0;
        for e in entries.values() {
            let named = match (&cut.token_hash, cut.kind) {
                // A scope change concerns every session of the user.
                (_, CutKind::Rescoped) | (None, _) => true,
                (Some(h), CutKind::Revoked) => h.as_slice() == e.token_hash.as_slice(),
            };
            if named {
                // A revocation outranks a scope change already signalled.
                e.cut.send_if_modified(|k| {
                    let next = match (*k, cut.kind) {
                        (Some(CutKind::Revoked), _) => return false,
                        (_, kind) => Some(kind),
                    };
                    let changed = *k != next;
                    *k = next;
                    changed
                });
                n += 1;
            }
        }
        n
    }

    /// Applies every cut written since the last one applied, in order. Idempotent; called
    /// by the replica that wrote a cut, by the PostgreSQL listener, by the SQLite poll.
    pub async fn catch_up(&self, db: &Db) -> Result<usize, DbError> {
        let mut seen = self.inner.seen.lock().await;
        let Some(mut from) = *seen else {
            // `start` failed (the database was away): follow from the end now rather than
            // never; a cut written just before is missed (logged at start).
            *seen = Some(sessions::last_seq(db).await?);
            return Ok(0);
        };
        let mut cut = 0;
        loop {
            let page = sessions::after(db, from, PAGE).await?;
            for c in &page {
                let n = self.apply(c);
                if n > 0 {
                    tracing::info!(user = %c.user_id, kind = c.kind.as_str(), sessions = n,
                        "live sessions cut");
                    metrics::counter!("tarmim_sessions_cut_total", "kind" => c.kind.as_str())
                        .increment(n as u64);
                }
                cut += n;
                from = c.seq;
            }
            *seen = Some(from);
            if page.len() < PAGE as usize {
                return Ok(cut);
            }
        }
    }

    /// Polls the log every `every` until the task is aborted (SQLite: the CLI writes cuts
    /// from another process, and there is no notification between processes).
    pub fn poll(&self, db: Db, every: Duration) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = live.catch_up(&db).await {
                    tracing::warn!(error = %e, "cannot read the session cuts");
                }
            }
        })
    }

    fn unregister(&self, user: &str, id: u64) {
        let mut users = lock(&self.inner.users);
        if let Some(entries) = users.get_mut(user) {
            entries.remove(&id);
            if entries.is_empty() {
                users.remove(user);
            }
        }
    }
}

/// One live session's registration; unregisters when dropped.
pub struct SessionGuard {
    live: LiveSessions,
    user: String,
    id: u64,
    token_hash: [u8; 32],
    rx: watch::Receiver<Option<CutKind>>,
}

impl SessionGuard {
    /// The hash of the token the session was opened with (to ask why it was revoked).
    pub fn token_hash(&self) -> &[u8; 32] {
        &self.token_hash
    }

    /// The cut, if the session was cut. Check it before sending anything.
    pub fn is_cut(&self) -> Option<CutKind> {
        *self.rx.borrow()
    }

    /// Resolves when the session is cut. Cancel-safe.
    pub async fn cut(&mut self) -> CutKind {
        let cut = match self.rx.wait_for(Option::is_some).await {
            Ok(k) => *k,
            // The entry is gone only once this guard is dropped: never here.
            Err(_) => None,
        };
        match cut {
            Some(kind) => kind,
            None => std::future::pending::<CutKind>().await,
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.live.unregister(&self.user, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(user: &str, token: Option<[u8; 32]>, kind: CutKind) -> Cut {
        Cut {
            seq: 1,
            user_id: user.into(),
            token_hash: token.map(|t| t.to_vec()),
            kind,
        }
    }

    #[tokio::test]
    async fn a_cut_reaches_only_the_sessions_it_names() {
        let live = LiveSessions::new();
        let mut a1 = live.register("u-a", [1; 32]);
        let a2 = live.register("u-a", [2; 32]);
        let b = live.register("u-b", [1; 32]);
        assert_eq!(live.apply(&cut("u-a", Some([1; 32]), CutKind::Revoked)), 1);
        assert_eq!(a1.cut().await, CutKind::Revoked);
        assert_eq!((a2.is_cut(), b.is_cut()), (None, None));
        // A scope change reaches every session of the user, but never downgrades a
        // revocation.
        assert_eq!(live.apply(&cut("u-a", Some([9; 32]), CutKind::Rescoped)), 2);
        assert_eq!(a1.is_cut(), Some(CutKind::Revoked));
        assert_eq!(a2.is_cut(), Some(CutKind::Rescoped));
        assert_eq!(live.apply(&cut("u-b", None, CutKind::Revoked)), 1);
        assert_eq!(b.is_cut(), Some(CutKind::Revoked));
        assert_eq!(live.count("u-a"), 2);
        drop((a1, a2, b));
        assert_eq!(live.count("u-a"), 0);
        assert!(lock(&live.inner.users).is_empty());
    }
}
