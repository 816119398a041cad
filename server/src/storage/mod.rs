//! The server's storage: one set of traits, two backends.
//!
//! - [`sqlite`]: an embedded SQLite file (the zero-configuration default). One writer at a
//!   time (`BEGIN IMMEDIATE`), districts looked up in an in-memory R-tree.
//! - [`postgres`]: PostgreSQL + PostGIS for several replicas. Commits lock the touched
//!   scopes' head rows in scope order before drawing a sequence number, which is what makes
//!   per-scope cursors safe; districts are looked up with `ST_Covers`.
//!
//! Both implement [`sync_core::session::ServerStore`] (documents, changes, scope entries,
//! the relational projection of each task, written in the commit's transaction) and the
//! traits below. [`Db`] picks one at run time; everything above this module talks to it.
//! The shared test-suite (`server/tests/storage.rs`) runs every check against both.

pub mod dispatch;
pub mod districts;
pub mod facts;
pub mod gis;
pub mod identity;
pub mod integrity;
pub mod photos;
pub mod postgres;
pub mod sqlite;

use crate::base::time::now_millis;
use crate::storage::districts::District;
use crate::storage::identity::UserRole;
use geo_types::MultiPolygon;
use std::future::Future;
use sync_core::session::{
    ChangesSince, CommitOutcome, DocCommit, ScopeEntry, ServerStore, ServerStoreError, StoredDoc,
};
use sync_core::store::IndexEntry;
use sync_core::task::{Priority, TaskView};
use sync_core::{DeviceId, DocId, Millis, ScopeId};

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

/// Which backend a [`Db`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL + PostGIS.
    Postgres,
}

/// The relational projection of one task, kept beside its document for queries.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// Task id.
    pub id: DocId,
    /// Sequence number of the commit that wrote this row.
    pub seq: u64,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// District code.
    pub district: Option<String>,
    /// Derived status (wire name).
    pub status: String,
    /// Priority (wire name).
    pub priority: String,
    /// Crew holding the task.
    pub assignee: Option<String>,
    /// Open311 service code.
    pub category: String,
    /// Title.
    pub title: String,
    /// When created.
    pub created_at: Millis,
    /// When last committed.
    pub updated_at: Millis,
    /// Acknowledge-by time.
    pub ack_due: Option<Millis>,
    /// Complete-by time.
    pub complete_due: Option<Millis>,
    /// When completed.
    pub completed_at: Option<Millis>,
}

/// What [`DocStore::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactOutcome {
    /// Change rows dropped.
    pub dropped: u64,
    /// The document's marker afterwards: readers with a cursor before it get
    /// [`ChangesSince::Compacted`].
    pub compacted_before: u64,
}

/// A field crew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crew {
    /// Crew id (also used in `crew:<id>` scopes and `Assigned` events).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home district code.
    pub district: String,
    /// Open311 service codes the crew can handle.
    pub skills: Vec<String>,
    /// The contractor company, if not city staff.
    pub contractor: Option<String>,
    /// Whether the crew is on duty now.
    pub on_duty: bool,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Stable id (appears in documents as the actor).
    pub id: String,
    /// Login name.
    pub login: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// Crew, for crew members.
    pub crew: Option<String>,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id.
    pub id: String,
    /// Login name.
    pub login: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// Crew, for crew members.
    pub crew: Option<String>,
    /// The crew's home district, for crew members.
    pub crew_district: Option<String>,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
    /// A disabled user cannot log in and its tokens stop working.
    pub disabled: bool,
}

/// A login token as stored (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The user the token belongs to.
    pub user: UserRecord,
    /// The device it was issued to.
    pub device: DeviceId,
    /// When it expires.
    pub expires_at: Millis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
}

/// An Open311 service (category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `service_code`.
    pub code: String,
    /// `service_name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `group`.
    pub group: String,
    /// Priority new requests get.
    pub default_priority: Priority,
    /// Minutes to acknowledge.
    pub ack_minutes: Option<i64>,
    /// Minutes to complete.
    pub complete_minutes: Option<i64>,
}

/// A district as listed (with its geometry).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDistrict {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Region.
    pub region: Option<String>,
    /// Boundary (WGS84).
    pub geometry: MultiPolygon<f64>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Districts inserted or replaced.
    pub districts: usize,
    /// Adjacent pairs recorded after the import (all districts).
    pub adjacent_pairs: usize,
}

/// Documents beyond what the sync session needs: compaction and the projection.
pub trait DocStore: ServerStore {
    /// Drops the change rows of all but the newest `keep_commits` commits of a document
    /// and moves its `compacted_before` marker; the snapshot keeps everything.
    fn compact(
        &self,
        doc: &DocId,
        keep_commits: usize,
    ) -> impl Future<Output = Result<CompactOutcome, DbError>> + Send;

    /// The task's relational projection.
    fn task_row(
        &self,
        doc: &DocId,
    ) -> impl Future<Output = Result<Option<TaskRow>, DbError>> + Send;

    /// How many documents are stored.
    fn count_docs(&self) -> impl Future<Output = Result<u64, DbError>> + Send;
}

/// Districts: import, point lookup, adjacency.
pub trait DistrictStore {
    /// Inserts or replaces districts (by code) and recomputes adjacency.
    fn import_districts(
        &self,
        districts: &[District],
    ) -> impl Future<Output = Result<ImportOutcome, DbError>> + Send;

    /// All districts, by code.
    fn districts(&self) -> impl Future<Output = Result<Vec<StoredDistrict>, DbError>> + Send;

    /// The district covering a point (boundary included); on a shared border the lowest
    /// code, so every backend gives the same answer.
    fn district_covering(
        &self,
        lat: f64,
        lon: f64,
    ) -> impl Future<Output = Result<Option<String>, DbError>> + Send;

    /// Districts that touch or overlap `code`, by code.
    fn neighbours(&self, code: &str) -> impl Future<Output = Result<Vec<String>, DbError>> + Send;
}

/// Users, crews, devices, tokens and services.
pub trait IdentityStore {
    /// Creates or replaces a crew.
    fn upsert_crew(&self, crew: &Crew) -> impl Future<Output = Result<(), DbError>> + Send;
    /// One crew.
    fn crew(&self, id: &str) -> impl Future<Output = Result<Option<Crew>, DbError>> + Send;
    /// All crews, by id.
    fn crews(&self) -> impl Future<Output = Result<Vec<Crew>, DbError>> + Send;
    /// Creates a user; [`DbError::Duplicate`] if the login is taken.
    fn create_user(&self, user: &NewUser) -> impl Future<Output = Result<(), DbError>> + Send;
    /// A user by login.
    fn user_by_login(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Option<UserRecord>, DbError>> + Send;
    /// How many users exist.
    fn count_users(&self) -> impl Future<Output = Result<u64, DbError>> + Send;
    /// Records that a device is used by a user (first registration or a new login).
    fn register_device(
        &self,
        device: &DeviceId,
        user_id: &str,
        at: Millis,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Stores a token's hash.
    fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        device: &DeviceId,
        created_at: Millis,
        expires_at: Millis,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// The token with this hash, with its user.
    fn token(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<TokenRecord>, DbError>> + Send;
    /// Revokes one token; false if there is no such live token.
    fn revoke_token(
        &self,
        token_hash: &[u8],
        at: Millis,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// Revokes every live token of a user; returns how many.
    fn revoke_user_tokens(
        &self,
        user_id: &str,
        at: Millis,
    ) -> impl Future<Output = Result<u64, DbError>> + Send;
    /// Creates or replaces a service.
    fn upsert_service(&self, service: &Service)
    -> impl Future<Output = Result<(), DbError>> + Send;
    /// All services, by code.
    fn services(&self) -> impl Future<Output = Result<Vec<Service>, DbError>> + Send;
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

/// The configured backend, chosen at run time.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL + PostGIS.
    Postgres(postgres::PgStore),
}

impl Db {
    /// Opens the database the configuration names and runs its migrations; `facts` is
    /// the commit hook that derives a task's analytics facts (`domain::open_store` gives
    /// the domain's).
    pub async fn open(
        config: &crate::base::config::Config,
        facts: facts::DeriveFacts,
    ) -> Result<Db, DbError> {
        if config.uses_postgres() {
            let url = config.database_url.as_deref().unwrap_or_default();
            Ok(Db::Postgres(postgres::PgStore::connect(url, facts).await?))
        } else {
            let path = config.sqlite_path();
            Ok(Db::Sqlite(sqlite::SqliteStore::open(&path, facts).await?))
        }
    }
}

macro_rules! on_backend {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Db::Sqlite($s) => $e,
            Db::Postgres($s) => $e,
        }
    };
}

impl ServerStore for Db {
    async fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, ServerStoreError> {
        on_backend!(self, s => s.load(doc).await)
    }
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, StoredDoc)>, ServerStoreError> {
        on_backend!(self, s => s.load_many(docs).await)
    }
    async fn load_many_indexed(
        &self,
        docs: &[DocId],
    ) -> Result<Vec<(DocId, StoredDoc, Option<IndexEntry>)>, ServerStoreError> {
        on_backend!(self, s => s.load_many_indexed(docs).await)
    }
    async fn commit(&self, commit: DocCommit) -> Result<CommitOutcome, ServerStoreError> {
        on_backend!(self, s => s.commit(commit).await)
    }
    async fn scope_entries(
        &self,
        scope: &ScopeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ScopeEntry>, ServerStoreError> {
        on_backend!(self, s => s.scope_entries(scope, after, limit).await)
    }
    async fn changes_since(
        &self,
        doc: &DocId,
        after: u64,
    ) -> Result<ChangesSince, ServerStoreError> {
        on_backend!(self, s => s.changes_since(doc, after).await)
    }
    async fn doc_scopes(&self, doc: &DocId) -> Result<Vec<ScopeId>, ServerStoreError> {
        on_backend!(self, s => s.doc_scopes(doc).await)
    }
}

impl DocStore for Db {
    async fn compact(&self, doc: &DocId, keep_commits: usize) -> Result<CompactOutcome, DbError> {
        on_backend!(self, s => s.compact(doc, keep_commits).await)
    }
    async fn task_row(&self, doc: &DocId) -> Result<Option<TaskRow>, DbError> {
        on_backend!(self, s => s.task_row(doc).await)
    }
    async fn count_docs(&self) -> Result<u64, DbError> {
        on_backend!(self, s => s.count_docs().await)
    }
}

impl DistrictStore for Db {
    async fn import_districts(&self, districts: &[District]) -> Result<ImportOutcome, DbError> {
        on_backend!(self, s => s.import_districts(districts).await)
    }
    async fn districts(&self) -> Result<Vec<StoredDistrict>, DbError> {
        on_backend!(self, s => s.districts().await)
    }
    async fn district_covering(&self, lat: f64, lon: f64) -> Result<Option<String>, DbError> {
        on_backend!(self, s => s.district_covering(lat, lon).await)
    }
    async fn neighbours(&self, code: &str) -> Result<Vec<String>, DbError> {
        on_backend!(self, s => s.neighbours(code).await)
    }
}

impl IdentityStore for Db {
    async fn upsert_crew(&self, crew: &Crew) -> Result<(), DbError> {
        on_backend!(self, s => s.upsert_crew(crew).await)
    }
    async fn crew(&self, id: &str) -> Result<Option<Crew>, DbError> {
        on_backend!(self, s => s.crew(id).await)
    }
    async fn crews(&self) -> Result<Vec<Crew>, DbError> {
        on_backend!(self, s => s.crews().await)
    }
    async fn create_user(&self, user: &NewUser) -> Result<(), DbError> {
        on_backend!(self, s => s.create_user(user).await)
    }
    async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, DbError> {
        on_backend!(self, s => s.user_by_login(login).await)
    }
    async fn count_users(&self) -> Result<u64, DbError> {
        on_backend!(self, s => s.count_users().await)
    }
    async fn register_device(
        &self,
        device: &DeviceId,
        user_id: &str,
        at: Millis,
    ) -> Result<(), DbError> {
        on_backend!(self, s => s.register_device(device, user_id, at).await)
    }
    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        device: &DeviceId,
        created_at: Millis,
        expires_at: Millis,
    ) -> Result<(), DbError> {
        on_backend!(self, s => s.insert_token(token_hash, user_id, device, created_at, expires_at).await)
    }
    async fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, DbError> {
        on_backend!(self, s => s.token(token_hash).await)
    }
    async fn revoke_token(&self, token_hash: &[u8], at: Millis) -> Result<bool, DbError> {
        on_backend!(self, s => s.revoke_token(token_hash, at).await)
    }
    async fn revoke_user_tokens(&self, user_id: &str, at: Millis) -> Result<u64, DbError> {
        on_backend!(self, s => s.revoke_user_tokens(user_id, at).await)
    }
    async fn upsert_service(&self, service: &Service) -> Result<(), DbError> {
        on_backend!(self, s => s.upsert_service(service).await)
    }
    async fn services(&self) -> Result<Vec<Service>, DbError> {
        on_backend!(self, s => s.services().await)
    }
}

impl Store for Db {
    fn backend(&self) -> Backend {
        on_backend!(self, s => s.backend())
    }
    async fn ping(&self) -> Result<(), DbError> {
        on_backend!(self, s => s.ping().await)
    }
    async fn migrate(&self) -> Result<(), DbError> {
        on_backend!(self, s => s.migrate().await)
    }
    async fn close(&self) {
        on_backend!(self, s => s.close().await)
    }
}

/// The projection columns of a task view, shared by both backends.
pub(crate) struct Projection {
    pub status: &'static str,
    pub priority: &'static str,
    /// The time of the task's latest event: the `updated_at` of a phone's index row
    /// ([`sync_core::session::device::last_event_at`]), column `last_event_at`.
    pub last_event_at: Millis,
}

impl Projection {
    pub(crate) fn of(view: &TaskView) -> Self {
        Projection {
            status: view.derived.status.as_str(),
            priority: view.derived.priority.as_str(),
            last_event_at: sync_core::session::device::last_event_at(view),
        }
    }
}

/// One row of a `load_many_indexed` query: a document and, from a left join on the task
/// projection, the columns of its phone index row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IndexedRow {
    pub id: String,
    pub seq: i64,
    pub snapshot: Vec<u8>,
    pub task_seq: Option<i64>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub district: Option<String>,
    pub assignee: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub last_event_at: Option<i64>,
}

impl IndexedRow {
    /// The document and its index row. The row is given only when the projection was
    /// written by the same commit as the snapshot (same `seq`) and has every column (rows
    /// from before migration 0002 lack `last_event_at`); otherwise `None`, and the device
    /// reads the document itself.
    pub(crate) fn into_parts(self) -> Result<(DocId, StoredDoc, Option<IndexEntry>), DbError> {
        let id = doc_id(self.id)?;
        let seq = seq_u64(self.seq)?;
        let index = match (
            self.task_seq,
            self.title,
            self.status,
            self.priority,
            self.category,
            self.lat,
            self.lon,
            self.last_event_at,
        ) {
            (
                Some(task_seq),
                Some(title),
                Some(status),
                Some(priority),
                Some(category),
                Some(lat),
                Some(lon),
                Some(updated_at),
            ) if task_seq == self.seq => Some(IndexEntry {
                id: id.clone(),
                title,
                status,
                priority,
                category,
                district: self.district,
                assignee: self.assignee,
                lat,
                lon,
                updated_at,
            }),
            _ => None,
        };
        Ok((
            id,
            StoredDoc {
                bytes: self.snapshot,
                seq,
            },
            index,
        ))
    }
}

/// The scopes a commit touches: the document's new scopes and those it left, sorted.
pub(crate) fn touched_scopes(
    old: &[String],
    new: &[ScopeId],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut new: Vec<String> = new.iter().map(|s| s.as_str().to_owned()).collect();
    new.sort();
    new.dedup();
    let mut left: Vec<String> = old.iter().filter(|s| !new.contains(s)).cloned().collect();
    left.sort();
    left.dedup();
    let mut touched: Vec<String> = new.iter().chain(left.iter()).cloned().collect();
    touched.sort();
    touched.dedup();
    (new, left, touched)
}

/// Converts a stored sequence number.
pub(crate) fn seq_u64(v: i64) -> Result<u64, DbError> {
    u64::try_from(v).map_err(|_| DbError::Corrupt(format!("negative sequence number {v}")))
}

/// Converts a sequence number for storage.
pub(crate) fn seq_i64(v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::Invalid(format!("sequence number {v} out of range")))
}

/// Parses stored scope ids.
pub(crate) fn scope_ids(v: Vec<String>) -> Result<Vec<ScopeId>, DbError> {
    v.into_iter()
        .map(|s| ScopeId::new(s).map_err(|e| DbError::Corrupt(e.to_string())))
        .collect()
}

/// Parses a stored document id.
pub(crate) fn doc_id(s: String) -> Result<DocId, DbError> {
    DocId::new(s).map_err(|e| DbError::Corrupt(e.to_string()))
}

/// One row of a `changes_since` query: the document's `compacted_before` marker and,
/// from a left join, one change (`seq`, `origin`, `bytes`) if any.
pub(crate) type ChangeRow = (i64, Option<i64>, Option<String>, Option<Vec<u8>>);

/// Checks that a crew id or district code can name a sync scope (`crew:<id>`,
/// `district:<code>`): otherwise its tasks would silently fall out of every scope.
pub fn check_code(kind: &str, code: &str) -> Result<(), DbError> {
    if code.len() > 64 || ScopeId::new(format!("district:{code}")).is_err() {
        return Err(DbError::Invalid(format!(
            "{kind} {code:?} must be 1 to 64 ASCII letters, digits, - _ : or ."
        )));
    }
    Ok(())
}

/// Checks a crew before it is stored.
pub(crate) fn check_crew(crew: &Crew) -> Result<(), DbError> {
    check_code("crew id", &crew.id)?;
    check_code("district code", &crew.district)?;
    if crew.name.trim().is_empty() {
        return Err(DbError::Invalid("a crew needs a name".into()));
    }
    Ok(())
}

/// Checks a user before it is stored.
pub(crate) fn check_user(user: &NewUser) -> Result<(), DbError> {
    if user.login.trim().is_empty()
        || user.login.len() > 128
        || user.login.chars().any(char::is_whitespace)
    {
        return Err(DbError::Invalid(
            "a login is 1 to 128 characters without spaces".into(),
        ));
    }
    if (user.role == UserRole::Crew) != user.crew.is_some() {
        return Err(DbError::Invalid(
            "crew members, and only they, belong to a crew".into(),
        ));
    }
    for d in &user.districts {
        check_code("district code", d)?;
    }
    Ok(())
}
