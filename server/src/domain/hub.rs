//! The sync hub: which live connections follow which scopes, and the announcement of
//! commits to them — in this process, and across replicas through PostgreSQL
//! `LISTEN/NOTIFY`.
//!
//! - Each sync connection holds a [`Subscription`] for its scopes. It owns a small set of
//!   *pending scopes* and a wake-up; [`Hub::publish`] adds the touched scope to the set of
//!   every subscriber of that scope and wakes it. Several commits to one scope before the
//!   connection gets round to it leave one entry: one `on_notify` suffices (coalescing).
//!   Memory per connection is bounded by its number of scopes.
//! - Work per publish is proportional to the subscribers of the touched scopes: the map is
//!   keyed by scope, never scanned whole. The map's lock is a plain mutex held only for
//!   the insertions, never across an `.await`.
//! - On PostgreSQL, [`Hub::publish`] also sends `NOTIFY tarmim_scopes, '<s1>,<s2>,…'`
//!   (payloads kept under PostgreSQL's 8000-byte limit), and [`Hub::listen_postgres`] runs
//!   a `LISTEN tarmim_scopes` task (the statements are in [`crate::storage::notify`]) that republishes what other replicas (and this one)
//!   announce into the local hub. `on_notify` is an idempotent cursor-based pull, so
//!   hearing one's own announcements is harmless. After the listener's connection is lost
//!   and re-established, every locally followed scope is republished, so nothing announced
//!   during the gap is missed.
//! - The same listening connection hears session cuts (`tarmim_sessions`) and applies them
//!   to [`Hub::sessions`] before the next notification, so a commit made after a
//!   revocation never wakes the revoked socket first (`domain::sessions`).

use crate::domain::sessions::LiveSessions;
use crate::storage::notify::{self, CHANNEL, Heard, Listener};
use crate::storage::{Db, DbError};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use sync_core::ScopeId;
use tokio::sync::{Notify, watch};

/// Failures of the hub's PostgreSQL side.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// `NOTIFY` or `LISTEN` failed.
    #[error("PostgreSQL notification failed: {0}")]
    Postgres(#[from] DbError),
}

/// The hub. Cheap to clone (shared).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    subs: Mutex<HashMap<ScopeId, HashMap<u64, Arc<Pending>>>>,
    next_id: AtomicU64,
    pg: Option<PgPool>,
    shutdown: watch::Sender<bool>,
    /// Connections (subscriptions) alive, to wait for at shutdown.
    live: watch::Sender<usize>,
    /// Devices with a live sync connection on this replica, and how many each has: a
    /// connected device needs no push wake-up (`domain::push`).
    devices: Mutex<HashMap<String, usize>>,
    /// Live sessions by user and token, cut on revocation or a scope change.
    sessions: LiveSessions,
}

/// The scopes waiting to be pulled by one connection, and its wake-up.
#[derive(Default)]
struct Pending {
    scopes: Mutex<BTreeSet<ScopeId>>,
    wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data inconsistent (plain inserts
    // and removals), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("scopes", &lock(&self.inner.subs).len())
            .field("postgres", &self.inner.pg.is_some())
            .finish()
    }
}

impl Hub {
    /// A hub for one process; with a pool, commits are also announced to other replicas.
    pub fn new(pg: Option<PgPool>) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                subs: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                pg,
                shutdown: watch::channel(false).0,
                live: watch::channel(0).0,
                devices: Mutex::new(HashMap::new()),
                sessions: LiveSessions::new(),
            }),
        }
    }

    /// The live sessions (sockets, event streams) of this replica, by user and token.
    pub fn sessions(&self) -> &LiveSessions {
        &self.inner.sessions
    }

    /// Follows `scopes` until the subscription is dropped.
    pub fn subscribe(&self, scopes: &[ScopeId]) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let pending = Arc::new(Pending::default());
        {
            let mut subs = lock(&self.inner.subs);
            for s in scopes {
                subs.entry(s.clone())
                    .or_default()
                    .insert(id, Arc::clone(&pending));
            }
        }
        self.inner.live.send_modify(|n| *n += 1);
        Subscription {
            hub: self.clone(),
            id,
            scopes: scopes.to_vec(),
            pending,
            device: None,
        }
    }

    /// [`Hub::subscribe`] for a device's sync connection: the device counts as connected
    /// to this replica ([`Hub::is_connected`]) until the subscription is dropped.
    pub fn subscribe_device(&self, scopes: &[ScopeId], device: &str) -> Subscription {
        let mut sub = self.subscribe(scopes);
        *lock(&self.inner.devices)
            .entry(device.to_owned())
            .or_default() += 1;
        sub.device = Some(device.to_owned());
        sub
    }

    /// True while `device` has a sync connection open on this replica.
    pub fn is_connected(&self, device: &str) -> bool {
        lock(&self.inner.devices).contains_key(device)
    }

    /// Wakes the local subscribers of `scopes`, then announces them to other replicas (on
    /// PostgreSQL). Call after every durable commit, with the commit's touched scopes.
    pub async fn publish(&self, scopes: &[ScopeId]) {
        self.publish_local(scopes);
        self.announce(scopes).await;
    }

    /// Announces `scopes` to other replicas (PostgreSQL `NOTIFY`); nothing on SQLite.
    pub async fn announce(&self, scopes: &[ScopeId]) {
        if scopes.is_empty() {
            return;
        }
        if let Some(pool) = &self.inner.pg
            && let Err(e) = notify::notify(pool, &payloads(scopes)).await
        {
            // The local subscribers were woken; other replicas' devices catch up on
            // their next notification or reconnect.
            tracing::warn!(error = %e, "cannot announce a commit to other replicas");
            metrics::counter!("tarmim_sync_notify_failures_total").increment(1);
        }
    }

    /// Wakes the subscribers of `scopes` in this process only.
    pub fn publish_local(&self, scopes: &[ScopeId]) {
        let mut woken = Vec::new();
        {
            let subs = lock(&self.inner.subs);
            for s in scopes {
                let Some(conns) = subs.get(s) else { continue };
                for p in conns.values() {
                    if lock(&p.scopes).insert(s.clone()) {
                        woken.push(Arc::clone(p));
                    }
                }
            }
        }
        for p in woken {
            p.wake.notify_one();
        }
    }

    /// Wakes every local subscriber of every scope (after a gap in cross-replica news).
    fn publish_all_local(&self) {
        let scopes: Vec<ScopeId> = lock(&self.inner.subs).keys().cloned().collect();
        self.publish_local(&scopes);
    }

    /// Live subscriptions in this process.
    pub fn connections(&self) -> usize {
        *self.inner.live.borrow()
    }

    /// A receiver that turns `true` when the server is shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Asks every connection to finish what it is doing and close.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Waits until every subscription is gone, at most `limit`.
    pub async fn drained(&self, limit: Duration) -> bool {
        let mut rx = self.inner.live.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn unsubscribe(&self, id: u64, scopes: &[ScopeId]) {
        {
            let mut subs = lock(&self.inner.subs);
            for s in scopes {
                if let Some(conns) = subs.get_mut(s) {
                    conns.remove(&id);
                    if conns.is_empty() {
                        subs.remove(s);
                    }
                }
            }
        }
        self.inner.live.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Runs `LISTEN tarmim_scopes` (and `tarmim_sessions`, `tarmim_catalogue`) on `db`'s
    /// PostgreSQL pool and republishes what arrives into this hub (session cuts into
    /// [`Hub::sessions`]; a catalogue change drops `db`'s catalogue cache, which is used
    /// only while this listens), until the task is aborted. Reconnects after a lost
    /// connection. Nothing on SQLite.
    pub fn listen_postgres(&self, db: Db) -> Option<tokio::task::JoinHandle<()>> {
        let Db::Postgres(p) = &db else {
            return None;
        };
        let pool = p.pool().clone();
        let hub = self.clone();
        Some(tokio::spawn(async move {
            // When the task ends (aborted at shutdown), nobody hears the catalogue's
            // changes any more: its cache is off.
            let _off = CatalogueOff(db.clone());
            loop {
                match hub.listen_once(&pool, &db).await {
                    Ok(()) => {}
                    Err(e) => tracing::warn!(error = %e, "LISTEN {CHANNEL} failed; retrying"),
                }
                // Nobody hears the catalogue's changes until the next connection.
                db.catalogue_listening(false);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }))
    }

    /// Applies the session cuts written since the last one applied; a failure is logged
    /// (the next cut, gap or reconnect reads them again).
    async fn catch_up_sessions(&self, db: &Db) {
        if let Err(e) = self.inner.sessions.catch_up(db).await {
            tracing::warn!(error = %e, "cannot read the session cuts");
        }
    }

    async fn listen_once(&self, pool: &PgPool, db: &Db) -> Result<(), HubError> {
        let mut listener = Listener::connect(pool).await?;
        tracing::debug!("listening on {CHANNEL}");
        // From here every change to the catalogue is heard: its cache may be used.
        db.catalogue_listening(true);
        // Whatever was cut or announced before we listened (or during a gap) is applied
        // and pulled now: cuts first, so that no cut session is woken.
        self.catch_up_sessions(db).await;
        self.publish_all_local();
        loop {
            match listener.recv().await? {
                // Awaited here, before the next notification: a commit made after a cut
                // wakes its subscribers only once the cut is applied.
                Some(Heard::SessionCut) => self.catch_up_sessions(db).await,
                Some(Heard::Scopes(payload)) => {
                    let scopes: Vec<ScopeId> = payload
                        .split(',')
                        .filter_map(|s| ScopeId::new(s).ok())
                        .collect();
                    self.publish_local(&scopes);
                }
                Some(Heard::Catalogue) => db.catalogue_changed(),
                None => {
                    // The connection was lost. Notifications in between are lost: a new
                    // connection listens again, then pulls everything (above); the
                    // catalogue's cache is off until then.
                    tracing::warn!("LISTEN connection lost; reconnecting");
                    metrics::counter!("tarmim_sync_listen_reconnects_total").increment(1);
                    return Ok(());
                }
            }
        }
    }
}

/// Turns the catalogue's cache off when dropped (the listening task ended).
struct CatalogueOff(Db);

impl Drop for CatalogueOff {
    fn drop(&mut self) {
        self.0.catalogue_listening(false);
    }
}

/// The scopes as comma-joined payloads under the size limit.
fn payloads(scopes: &[ScopeId]) -> Vec<String> {
    let names: Vec<&str> = scopes.iter().map(ScopeId::as_str).collect();
    notify::payloads(&names)
}

/// One connection's interest in its scopes; unsubscribes when dropped.
pub struct Subscription {
    hub: Hub,
    id: u64,
    scopes: Vec<ScopeId>,
    pending: Arc<Pending>,
    /// The device whose connection this is, if one.
    device: Option<String>,
}

impl Subscription {
    /// Waits until a followed scope was touched, and takes every pending scope.
    /// Cancel-safe: nothing is taken until it returns.
    pub async fn next(&self) -> Vec<ScopeId> {
        loop {
            {
                let mut p = lock(&self.pending.scopes);
                if !p.is_empty() {
                    return std::mem::take(&mut *p).into_iter().collect();
                }
            }
            self.pending.wake.notified().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id, &self.scopes);
        if let Some(device) = &self.device {
            let mut devices = lock(&self.hub.inner.devices);
            if let Some(n) = devices.get_mut(device) {
                *n -= 1;
                if *n == 0 {
                    devices.remove(device);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> ScopeId {
        ScopeId::new(x).unwrap()
    }

    #[test]
    fn a_device_is_connected_while_any_of_its_subscriptions_lives() {
        let hub = Hub::new(None);
        assert!(!hub.is_connected("phone-1"));
        let a = hub.subscribe_device(&[s("crew:C1")], "phone-1");
        let b = hub.subscribe_device(&[s("crew:C1")], "phone-1");
        let other = hub.subscribe(&[s("crew:C1")]);
        assert!(hub.is_connected("phone-1"));
        assert!(!hub.is_connected("phone-2"));
        drop(a);
        assert!(
            hub.is_connected("phone-1"),
            "its second connection is still open"
        );
        drop(b);
        assert!(!hub.is_connected("phone-1"));
        drop(other);
    }

    #[tokio::test]
    async fn publish_reaches_only_subscribers_and_coalesces() {
        let hub = Hub::new(None);
        let a = hub.subscribe(&[s("crew:C1"), s("open:D1")]);
        let b = hub.subscribe(&[s("crew:C2")]);
        assert_eq!(hub.connections(), 2);
        for _ in 0..5 {
            hub.publish(&[s("crew:C1")]).await;
        }
        hub.publish(&[s("open:D1"), s("district:D1")]).await;
        let got = tokio::time::timeout(Duration::from_secs(1), a.next())
            .await
            .unwrap();
        assert_eq!(got, vec![s("crew:C1"), s("open:D1")]);
        // Nothing for b.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), b.next())
                .await
                .is_err()
        );
        drop(a);
        drop(b);
        assert_eq!(hub.connections(), 0);
        assert!(lock(&hub.inner.subs).is_empty());
        assert!(hub.drained(Duration::from_millis(10)).await);
    }

    #[test]
    fn payloads_stay_under_the_limit() {
        let scopes: Vec<ScopeId> = (0..2000).map(|i| s(&format!("crew:C{i:05}"))).collect();
        let p = payloads(&scopes);
        assert!(p.len() > 1);
        assert!(p.iter().all(|x| x.len() <= notify::MAX_PAYLOAD));
        let back: Vec<&str> = p.iter().flat_map(|x| x.split(',')).collect();
        assert_eq!(back.len(), 2000);
        assert!(payloads(&[]).is_empty());
    }
}
