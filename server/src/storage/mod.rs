//! The server's storage: one handle, [`Db`], over two backends, with its SQL grouped by what
//! it stores.
//!
//! - [`docs`]: documents, their changes and scope entries, the `tasks` projection written in
//!   the commit's transaction, compaction ([`ServerStore`], [`DocStore`]).
//! - [`identity`]: users, crews, devices, tokens, services ([`IdentityStore`]).
//! - [`districts`]: boundaries, point lookup, adjacency ([`DistrictStore`]).
//! - [`notify`]: announcing commits to other replicas (PostgreSQL `LISTEN/NOTIFY`).
//! - [`sessions`]: the log of cut sessions (revocations, scope changes) every replica
//!   follows to close live sync sockets and console streams.
//! - [`queue`]: the console's paged queue; [`audit`]: the hash-chained staff audit log.
//! - [`outbox`]: work a commit causes (routing a phone's task, telling a citizen), written
//!   in the commit's transaction, claimed by every replica.
//! - [`dispatch`], [`photos`], [`gis`], [`integrity`], [`facts`], [`places`]: the tables of
//!   those features.
//!
//! Each statement is written once, on [`Db`]: both databases accept `$n` parameters,
//! `TRUE`/`FALSE`, `WHERE present` and `ON CONFLICT … DO UPDATE`, so a statement runs on
//! whichever pool through [`on_pool!`], or in a write transaction ([`Tx`]) through
//! [`on_tx!`]. Where the dialects really differ, the code matches on the backend and calls
//! that backend's piece, or splices in a fragment of its [`Dialect`]:
//! - [`sqlite`]: an embedded SQLite file (the zero-configuration default). One writer at a
//!   time (`BEGIN IMMEDIATE`), a counter row for the commit sequence, districts looked up
//!   in an in-memory R-tree.
//! - [`postgres`]: PostgreSQL + PostGIS for several replicas. Commits lock the touched
//!   scopes' head rows in scope order before drawing a sequence number, which is what makes
//!   per-scope cursors safe; districts are looked up with `ST_Covers`.
//!
//! The shared test-suite (`server/tests/it/storage.rs`) runs every check against both.

pub mod admin;
pub mod analytics;
pub mod audit;
pub mod callcentre;
pub mod catalogue;
pub mod citizen_push;
pub mod citizens;
pub mod dispatch;
pub mod districts;
pub mod docs;
pub mod facts;
pub mod gis;
pub mod identity;
pub mod integrity;
pub mod messages;
pub mod notify;
pub mod open311;
pub mod outbox;
pub mod penalties;
pub mod photos;
pub mod places;
pub mod postgres;
pub mod push;
pub mod queue;
pub mod roster;
pub mod sessions;
pub mod sqlite;

pub use districts::{DistrictStore, ImportOutcome, StoredDistrict};
pub(crate) use docs::seq_u64;
pub use docs::{CompactOutcome, DocStore, TaskRow};
pub use identity::{Crew, IdentityStore, NewUser, Service, TokenRecord, UserRecord, check_code};

use std::future::Future;
use sync_core::session::ServerStoreError;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A document moved on concurrently (compare-and-swap failed).
    #[error("the document changed concurrently")]
    Conflict,
    /// A row that must be unique already exists.
    #[error("already exists: {0}")]
    Duplicate(String),
    /// A referenced row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Input the database refuses (a check constraint, a bad value).
    #[error("invalid data: {0}")]
    Invalid(String),
    /// Stored data does not read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Maps to the sync session's error, logging what the session cannot act on.
    pub fn into_store_error(self) -> ServerStoreError {
        match self {
            DbError::Conflict | DbError::Duplicate(_) => ServerStoreError::Conflict,
            DbError::Corrupt(m) => ServerStoreError::Corrupt(m),
            other => {
                tracing::error!(error = %other, "storage failure");
                ServerStoreError::Unavailable(other.to_string())
            }
        }
    }
}

/// Classifies a database error from a write (the same constraint kinds on both backends).
pub(crate) fn classify(e: sqlx::Error, what: &str) -> DbError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return DbError::Duplicate(what.to_owned());
        }
        if d.is_foreign_key_violation() {
            return DbError::NotFound(format!("a row {what} refers to"));
        }
        if d.is_check_violation() {
            return DbError::Invalid(format!("{what}: {}", d.message()));
        }
    }
    DbError::Sqlx(e)
}

/// Which backend a [`Db`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL + PostGIS.
    Postgres,
}

/// Everything the server stores.
pub trait Store: DocStore + DistrictStore + IdentityStore + Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Checks that the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Runs the migrations (also done on open).
    fn migrate(&self) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Closes the pool, waiting for connections to be returned.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// Runs the same sqlx expression against whichever pool the database has: `$pool` is
/// bound to the backend's pool. Domain modules whose SQL both backends accept (`$n`
/// parameters work on SQLite too) use it instead of matching on [`Db`] themselves.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $e:expr) => {
        match $db {
            $crate::storage::Db::Sqlite(s) => {
                let $pool = s.pool();
                $e
            }
            $crate::storage::Db::Postgres(s) => {
                let $pool = s.pool();
                $e
            }
        }
    };
}
pub(crate) use on_pool;

/// Runs the same sqlx expression on a write transaction's connection, whichever backend:
/// `$conn` is bound to the `&mut` connection (`on_tx!(&mut tx, c => q.execute(c).await)`).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $e:expr) => {
        match $tx {
            $crate::storage::Tx::Sqlite(t, _) => {
                let $conn = &mut **t;
                $e
            }
            $crate::storage::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $e
            }
        }
    };
}
pub(crate) use on_tx;

/// A write transaction, from [`Db::begin_write`]. On SQLite it also holds the process's
/// writer lock, taken before `BEGIN IMMEDIATE` and released only after the transaction
/// ends (the fields drop in order: the transaction, then the lock).
pub(crate) enum Tx {
    /// SQLite, with the writer lock.
    Sqlite(
        sqlx::Transaction<'static, sqlx::Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// Commits, then (on SQLite) releases the writer lock.
    pub(crate) async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(tx, _writer) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// The SQL fragments in which the backends differ, spliced into statements written once.
/// Each backend file defines its own (`DIALECT`), with the reasons.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Appended to a `SELECT` of a row the transaction goes on to write.
    pub row_lock: &'static str,
    /// The `tasks` columns that hold a task's point.
    pub point_columns: &'static str,
    /// Their values, from parameters `$3` (latitude) and `$4` (longitude).
    pub point_values: &'static str,
    /// Their `ON CONFLICT … DO UPDATE` assignments.
    pub point_update: &'static str,
    /// The point read back as columns `lat, lon` of the `tasks` row aliased `t`.
    pub point_select: &'static str,
    /// A district's boundary read back as WKB.
    pub district_wkb: &'static str,
}

/// The configured backend, chosen at run time.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL + PostGIS.
    Postgres(postgres::PgStore),
}

impl Db {
    /// Opens the database the configuration names and runs its migrations; `hooks` are
    /// the domain's rules a commit runs (a task's analytics facts, the outbox rows it
    /// causes: `domain::commit_hooks`).
    pub async fn open(
        config: &crate::base::config::Config,
        hooks: outbox::CommitHooks,
    ) -> Result<Db, DbError> {
        if config.uses_postgres() {
            let url = config.database_url.as_deref().unwrap_or_default();
            Ok(Db::Postgres(postgres::PgStore::connect(url, hooks).await?))
        } else {
            let path = config.sqlite_path();
            Ok(Db::Sqlite(sqlite::SqliteStore::open(&path, hooks).await?))
        }
    }

    /// Begins a write transaction: on SQLite the one writer (see [`sqlite`]), on
    /// PostgreSQL a plain transaction whose statements lock what they must.
    pub(crate) async fn begin_write(&self) -> Result<Tx, DbError> {
        match self {
            Db::Sqlite(s) => s.begin_write().await,
            Db::Postgres(s) => Ok(Tx::Postgres(s.pool().begin().await?)),
        }
    }

    /// This backend's SQL fragments.
    pub(crate) fn dialect(&self) -> &'static Dialect {
        match self {
            Db::Sqlite(_) => &sqlite::DIALECT,
            Db::Postgres(_) => &postgres::DIALECT,
        }
    }

    /// The commit hook deriving a task's analytics facts.
    pub(crate) fn derive_facts(&self) -> facts::DeriveFacts {
        match self {
            Db::Sqlite(s) => s.facts(),
            Db::Postgres(s) => s.facts(),
        }
    }

    /// The commit hook deriving the outbox rows a commit causes.
    pub(crate) fn derive_effects(&self) -> outbox::DeriveEffects {
        match self {
            Db::Sqlite(s) => s.hooks().effects,
            Db::Postgres(s) => s.hooks().effects,
        }
    }

    /// The wake-ups' coalescing interval (ms) the commit hooks were opened with.
    pub(crate) fn wake_every_ms(&self) -> sync_core::Millis {
        match self {
            Db::Sqlite(s) => s.hooks().wake_every_ms,
            Db::Postgres(s) => s.hooks().wake_every_ms,
        }
    }

    /// Notified after a commit that wrote a wake-up due now (an urgent job): this
    /// process's outbox loop (`domain::outbox::run_loop`) waits on it as well as on its
    /// tick, so the crew's phone is woken at once, not up to a tick later.
    pub fn outbox_nudge(&self) -> &std::sync::Arc<tokio::sync::Notify> {
        match self {
            Db::Sqlite(s) => s.outbox_nudge(),
            Db::Postgres(s) => s.outbox_nudge(),
        }
    }
}

impl Store for Db {
    fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(s) => sqlite::MIGRATOR.run(s.pool()).await?,
            Db::Postgres(s) => postgres::MIGRATOR.run(s.pool()).await?,
        }
        Ok(())
    }

    async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
