//! The catalogue cache: what a citizen's report is checked and filed against — the live
//! services, their SLA terms, the Open311 attribute definitions, each district's
//! auto-assignment flag, the live Open311 API keys and (PostgreSQL) the district
//! boundaries — kept in this process's memory, because every Open311 POST reads them
//! and only an administrator changes them (issue 21: they were seven of the POST's
//! database round trips).
//!
//! Only live keys are kept (by hash): a wrong key is looked up every time, so nobody can
//! fill the cache by sending made-up keys. The district boundaries are kept as the same
//! in-memory R-tree SQLite uses ([`super::districts::DistrictIndex`]; SQLite keeps its
//! own, checked against the table's stamp).
//!
//! Invalidation (migrations 0047, 0048), so a change made anywhere is seen everywhere —
//! a revoked key is refused at once by every replica:
//! - a change made through this process's [`super::Db`] drops the cache as soon as its
//!   transaction commits ([`super::Db::catalogue_changed`], called by every storage
//!   function that writes those tables);
//! - PostgreSQL: a statement trigger on each table sends `NOTIFY tarmim_catalogue` with
//!   the change's commit; the hub's one listening connection (`domain::hub`) hears it on
//!   every replica and drops the cache. The cache is used only while that connection is
//!   listening ([`super::Db::catalogue_listening`]): a process without one (the CLI, a
//!   tool), or a replica whose connection was lost, reads the database every time;
//! - SQLite: triggers bump the one-row `catalogue_version` in the change's transaction
//!   (the admin CLI is another process); every cached read compares it first (one
//!   in-process query instead of the catalogue's).
//!
//! A read that raced with an invalidation is not kept: entries are installed only if
//! no invalidation happened since the read began (a generation counter).

use super::districts::DistrictIndex;
use super::identity::Service;
use super::open311::Attribute;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The cache of one database handle. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    inner: Arc<Mutex<State>>,
}

/// What is cached, and since when.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Bumped by every invalidation.
    generation: u64,
    /// PostgreSQL: a listening connection hears the catalogue's changes.
    listening: bool,
    /// SQLite: the `catalogue_version` the entries were read at.
    version: Option<i64>,
    pub(crate) services: Option<Vec<Service>>,
    pub(crate) attributes: HashMap<String, Vec<Attribute>>,
    pub(crate) sla: HashMap<(String, String), (Option<i64>, Option<i64>)>,
    pub(crate) auto_assign: HashMap<String, bool>,
    /// Live Open311 keys: SHA-256 → name.
    pub(crate) keys: HashMap<Vec<u8>, String>,
    /// PostgreSQL: the district boundaries.
    pub(crate) districts: Option<Arc<DistrictIndex>>,
}

impl State {
    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.services = None;
        self.attributes.clear();
        self.sla.clear();
        self.auto_assign.clear();
        self.keys.clear();
        self.districts = None;
    }
}

/// Whether a read may use the cache, and the generation it began at.
pub(crate) enum Lookup<T> {
    /// Cached.
    Hit(T),
    /// Not cached: read the database, then [`Catalogue::install`] at this generation.
    Miss(u64),
    /// The cache cannot be trusted (PostgreSQL without a listening connection): read the
    /// database and keep nothing.
    Bypass,
}

impl Catalogue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain maps: a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every entry.
    pub fn invalidate(&self) {
        self.lock().clear();
    }

    /// PostgreSQL: whether a listening connection now hears the catalogue's changes.
    /// Either way the entries are dropped (changes made while nobody listened are unknown).
    pub fn set_listening(&self, on: bool) {
        let mut s = self.lock();
        s.listening = on;
        s.clear();
    }

    /// Looks an entry up. `version` is SQLite's `catalogue_version` read just before
    /// (none on PostgreSQL, where the listener keeps the cache true).
    pub(crate) fn lookup<T>(
        &self,
        version: Option<i64>,
        get: impl FnOnce(&State) -> Option<T>,
    ) -> Lookup<T> {
        let mut s = self.lock();
        match version {
            Some(v) if s.version != Some(v) => {
                s.clear();
                s.version = Some(v);
            }
            Some(_) => {}
            None if !s.listening => return Lookup::Bypass,
            None => {}
        }
        match get(&s) {
            Some(t) => Lookup::Hit(t),
            None => Lookup::Miss(s.generation),
        }
    }

    /// Keeps what was read at `generation`, unless an invalidation came since.
    pub(crate) fn install(&self, generation: u64, put: impl FnOnce(&mut State)) {
        let mut s = self.lock();
        if s.generation == generation {
            put(&mut s);
        }
    }
}

impl super::Db {
    /// This handle's catalogue cache.
    pub fn catalogue(&self) -> &Catalogue {
        match self {
            super::Db::Sqlite(s) => s.catalogue(),
            super::Db::Postgres(s) => s.catalogue(),
        }
    }

    /// Drops the catalogue cache: a write to it committed.
    pub fn catalogue_changed(&self) {
        self.catalogue().invalidate();
    }

    /// PostgreSQL: whether this process's listening connection now hears the
    /// catalogue's changes (the hub says so when it connects and when it loses it).
    pub fn catalogue_listening(&self, on: bool) {
        self.catalogue().set_listening(on);
    }

    /// A cached read: `get` looks the entry up, `load` reads the database on a miss,
    /// `put` keeps what it read.
    pub(crate) async fn catalogue_cached<T: Clone>(
        &self,
        get: impl FnOnce(&State) -> Option<T>,
        load: impl std::future::Future<Output = Result<T, super::DbError>>,
        put: impl FnOnce(&mut State, T),
    ) -> Result<T, super::DbError> {
        let version = match self {
            super::Db::Sqlite(s) => Some(
                sqlx::query_scalar::<_, i64>("SELECT version FROM catalogue_version WHERE id = 1")
                    .fetch_one(s.pool())
                    .await?,
            ),
            super::Db::Postgres(_) => None,
        };
        match self.catalogue().lookup(version, get) {
            Lookup::Hit(t) => Ok(t),
            Lookup::Bypass => load.await,
            Lookup::Miss(generation) => {
                let t = load.await?;
                let kept = t.clone();
                self.catalogue().install(generation, |s| put(s, kept));
                Ok(t)
            }
        }
    }
}
