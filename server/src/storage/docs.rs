//! Documents as stored: snapshots, their change rows, scope entries (which documents each
//! sync scope holds, and since which commit), the `tasks` projection, and compaction.
//!
//! [`ServerStore`] and [`DocStore`] are written here once, on [`Db`]. A commit is one write
//! transaction: the document row is read (and on PostgreSQL locked) for the
//! compare-and-swap, a sequence number is drawn, then the snapshot, change rows, scope
//! entries, projection, analytics facts and the outbox rows the commit causes (with any
//! rows the caller adds: [`Db::commit_with`]) are written, so they are visible together
//! or not at all. The steps whose SQL differs ([`CommitSteps`]: drawing the number, which is
//! where each backend keeps cursors safe; rows for several changes or scopes at once) are
//! in `postgres.rs` and `sqlite.rs`.

use super::facts::Fact;
use super::outbox::{self, CommitExtra};
use super::{Db, DbError, Tx, classify, on_pool, on_tx};
use crate::base::time::now_millis;
use std::future::Future;
use sync_core::session::{
    Acknowledged, ChangesSince, CommitOutcome, DocCommit, ScopeEntry, ServerStore,
    ServerStoreError, StoredChange, StoredDoc, acknowledged_through,
};
use sync_core::store::IndexEntry;
use sync_core::task::TaskView;
use sync_core::{DeviceId, DocId, Millis, ScopeId};

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

/// The steps of a commit that each backend writes in its own dialect, on the commit's
/// transaction (implemented for `PgConnection` in `postgres.rs` and for
/// `SqliteConnection` in `sqlite.rs`).
pub(crate) trait CommitSteps {
    /// Draws the commit's sequence number such that once a reader sees it in one of the
    /// `touched` scopes, every smaller number of that scope is already visible.
    fn draw_seq(&mut self, touched: &[String])
    -> impl Future<Output = Result<i64, DbError>> + Send;

    /// Writes the commit's change rows (`idx` numbering them in order) and its scope
    /// entries: the document enters (or stays in) `rows.new` ([`enter_scopes_sql`]) and
    /// leaves `rows.left`, whose entries stay, marked absent at this commit.
    fn write_rows(
        &mut self,
        rows: &CommitRows<'_>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Writes the task's analytics facts.
    fn write_facts(
        &mut self,
        fact: &Fact,
        now: Millis,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// What a commit writes besides the snapshot and the projection.
pub(crate) struct CommitRows<'a> {
    /// The document.
    pub doc: &'a str,
    /// The commit's sequence number.
    pub seq: i64,
    /// The device the changes come from.
    pub origin: &'a str,
    /// The raw changes, in order.
    pub changes: &'a [Vec<u8>],
    /// The scopes the document is in after the commit, sorted.
    pub new: &'a [String],
    /// The scopes it left, sorted.
    pub left: &'a [String],
}

/// The upsert by which a document enters a scope, with the rows' source (`scope` from
/// `$1`, the document `$2`, the sequence number `$3`) given by the backend. Re-entering
/// after leaving starts a new `entered_seq`; staying keeps it.
pub(crate) fn enter_scopes_sql(rows: &str) -> String {
    format!(
        "INSERT INTO scope_entries (scope, doc, seq, entered_seq, present) {rows}
         ON CONFLICT (scope, doc) DO UPDATE SET
           seq = excluded.seq,
           entered_seq = CASE WHEN scope_entries.present
                              THEN scope_entries.entered_seq ELSE excluded.entered_seq END,
           present = TRUE"
    )
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

/// One `tasks` row as read.
#[derive(sqlx::FromRow)]
struct TaskRecord {
    id: String,
    seq: i64,
    lat: f64,
    lon: f64,
    district: Option<String>,
    status: String,
    priority: String,
    assignee: Option<String>,
    category: String,
    title: String,
    created_at: Millis,
    updated_at: Millis,
    ack_due: Option<Millis>,
    complete_due: Option<Millis>,
    completed_at: Option<Millis>,
}

impl TryFrom<TaskRecord> for TaskRow {
    type Error = DbError;
    fn try_from(r: TaskRecord) -> Result<TaskRow, DbError> {
        Ok(TaskRow {
            id: doc_id(r.id)?,
            seq: seq_u64(r.seq)?,
            lat: r.lat,
            lon: r.lon,
            district: r.district,
            status: r.status,
            priority: r.priority,
            assignee: r.assignee,
            category: r.category,
            title: r.title,
            created_at: r.created_at,
            updated_at: r.updated_at,
            ack_due: r.ack_due,
            complete_due: r.complete_due,
            completed_at: r.completed_at,
        })
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

/// Converts a stored sequence number (or count).
pub(crate) fn seq_u64(v: i64) -> Result<u64, DbError> {
    u64::try_from(v).map_err(|_| DbError::Corrupt(format!("negative sequence number {v}")))
}

/// Converts a sequence number for storage.
pub(crate) fn seq_i64(v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::Invalid(format!("sequence number {v} out of range")))
}

/// Converts a count or index for a `LIMIT`, `OFFSET` or `idx` parameter.
pub(crate) fn count_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

/// Builds a [`ChangesSince`] from the rows of a `changes_since` query (no rows: unknown
/// document, nothing to send).
fn changes_from_rows(after: u64, rows: Vec<ChangeRow>) -> Result<ChangesSince, DbError> {
    let Some(first) = rows.first() else {
        return Ok(ChangesSince::Changes(Vec::new()));
    };
    if after < seq_u64(first.0)? {
        return Ok(ChangesSince::Compacted);
    }
    let mut out = Vec::with_capacity(rows.len());
    for (_, seq, origin, bytes) in rows {
        if let (Some(seq), Some(origin), Some(bytes)) = (seq, origin, bytes) {
            out.push(StoredChange {
                seq: seq_u64(seq)?,
                origin: DeviceId::new(origin).map_err(|e| DbError::Corrupt(e.to_string()))?,
                bytes,
            });
        }
    }
    Ok(ChangesSince::Changes(out))
}

/// The session sees storage failures as [`ServerStoreError`]s.
fn for_session<T>(r: Result<T, DbError>) -> Result<T, ServerStoreError> {
    r.map_err(DbError::into_store_error)
}

impl Db {
    /// The rows of `select`, a query ending in `WHERE <id column>`, for the documents
    /// `ids` (missing ones have no row): one array parameter on PostgreSQL, `IN` lists on
    /// SQLite.
    async fn fetch_by_ids<T>(&self, select: &str, ids: &[DocId]) -> Result<Vec<T>, DbError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        match self {
            Db::Sqlite(s) => super::sqlite::fetch_by_ids(s.pool(), select, ids).await,
            Db::Postgres(s) => super::postgres::fetch_by_ids(s.pool(), select, ids).await,
        }
    }

    /// Commits a task document like [`ServerStore::commit`], storing `extra`'s rows in
    /// the same transaction: all of it is durable together, or nothing is. On
    /// PostgreSQL the touched scopes are announced to the other replicas (`NOTIFY`) in
    /// the same transaction, delivered when it commits: the caller wakes only this
    /// process's subscribers (`Hub::publish_local`), one round trip and one WAL flush
    /// fewer than announcing after the commit.
    pub async fn commit_with(
        &self,
        c: &DocCommit,
        extra: &CommitExtra,
    ) -> Result<CommitOutcome, DbError> {
        self.commit_tx(c, extra, true).await
    }

    async fn commit_tx(
        &self,
        c: &DocCommit,
        extra: &CommitExtra,
        announce: bool,
    ) -> Result<CommitOutcome, DbError> {
        if c.view.id != c.doc {
            return Err(DbError::Invalid(format!(
                "the view is of task {}, not {}",
                c.view.id, c.doc
            )));
        }
        let id = c.doc.as_str();
        let mut tx = self.begin_write().await?;
        // The document row (locked on PostgreSQL) and the compare-and-swap.
        let lock = format!(
            "SELECT seq FROM docs WHERE id = $1{}",
            self.dialect().row_lock
        );
        // A creation (no base) needs no read: the document's insert below fails on an
        // existing id, which is the same conflict.
        let current: Option<i64> = match c.base_seq {
            None => None,
            Some(_) => on_tx!(&mut tx, conn => sqlx::query_scalar(&lock)
                .bind(id)
                .fetch_optional(conn)
                .await)?,
        };
        match (current, c.base_seq) {
            (None, None) => {}
            (Some(cur), Some(base)) if seq_u64(cur)? == base => {}
            _ => return Err(DbError::Conflict),
        }
        // A new document is in no scope yet and has no projection row: two round trips
        // fewer for every task created (issue 21).
        let old: Vec<String> = if current.is_none() {
            Vec::new()
        } else {
            on_tx!(&mut tx, conn => sqlx::query_scalar(
                "SELECT scope FROM scope_entries WHERE doc = $1 AND present",
            )
            .bind(id)
            .fetch_all(conn)
            .await)?
        };
        let (new, left, touched) = touched_scopes(&old, &c.scopes);
        let seq = on_tx!(&mut tx, conn => conn.draw_seq(&touched).await)?;
        let now = now_millis();
        if current.is_some() {
            on_tx!(&mut tx, conn => sqlx::query(
                "UPDATE docs SET seq = $2, snapshot = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(seq)
            .bind(&c.snapshot)
            .bind(now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        } else {
            on_tx!(&mut tx, conn => sqlx::query(
                "INSERT INTO docs (id, seq, snapshot, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id)
            .bind(seq)
            .bind(&c.snapshot)
            .bind(now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| match classify(e, "document") {
                // Created concurrently by another commit: the session reloads and retries.
                DbError::Duplicate(_) => DbError::Conflict,
                other => other,
            })?;
        }
        let rows = CommitRows {
            doc: id,
            seq,
            origin: c.origin.as_str(),
            changes: &c.changes,
            new: &new,
            left: &left,
        };
        on_tx!(&mut tx, conn => conn.write_rows(&rows).await)?;
        let prior = if current.is_none() {
            None
        } else {
            outbox::prior(&mut tx, id).await?
        };
        self.write_projection(&mut tx, &c.view, seq, now).await?;
        let fact = (self.derive_facts())(&c.view);
        on_tx!(&mut tx, conn => conn.write_facts(&fact, now).await)
            .map_err(|e| classify(e, "task facts"))?;
        // The caller's rows first: a contact stored with the task hears of its receipt.
        outbox::write_extra(&mut tx, id, extra, now).await?;
        let effects = (self.derive_effects())(prior.as_ref(), &c.view);
        outbox::write_effects(&mut tx, id, seq, &effects, self.wake_every_ms(), now).await?;
        if announce && let Tx::Postgres(t) = &mut tx {
            for payload in super::notify::payloads(&touched) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::notify::CHANNEL)
                    .bind(payload)
                    .execute(&mut **t)
                    .await?;
            }
        }
        tx.commit().await?;
        if effects
            .iter()
            .any(|e| matches!(e, outbox::Effect::Wake { urgent: true, .. }))
        {
            self.outbox_nudge().notify_one();
        }
        Ok(CommitOutcome {
            seq: seq_u64(seq)?,
            touched: scope_ids(touched)?,
        })
    }

    /// Writes the task's projection row in the commit's transaction.
    async fn write_projection(
        &self,
        tx: &mut Tx,
        view: &TaskView,
        seq: i64,
        now: Millis,
    ) -> Result<(), DbError> {
        let p = Projection::of(view);
        let d = self.dialect();
        let sql = format!(
            "INSERT INTO tasks (id, seq, {}, district, status, priority, assignee, category,
                                title, created_at, updated_at, ack_due, complete_due,
                                completed_at, last_event_at, address)
             VALUES ($1, $2, {}, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT (id) DO UPDATE SET
               seq = excluded.seq, {},
               district = excluded.district, status = excluded.status,
               priority = excluded.priority, assignee = excluded.assignee,
               category = excluded.category, title = excluded.title,
               created_at = excluded.created_at, updated_at = excluded.updated_at,
               ack_due = excluded.ack_due, complete_due = excluded.complete_due,
               completed_at = excluded.completed_at, last_event_at = excluded.last_event_at,
               address = excluded.address",
            d.point_columns, d.point_values, d.point_update
        );
        on_tx!(tx, conn => sqlx::query(&sql)
            .bind(view.id.as_str())
            .bind(seq)
            .bind(view.point.lat)
            .bind(view.point.lon)
            .bind(view.derived.district.as_deref())
            .bind(p.status)
            .bind(p.priority)
            .bind(view.derived.assignee.as_deref())
            .bind(&view.category)
            .bind(&view.title)
            .bind(view.created_at)
            .bind(now)
            .bind(view.sla.ack_due)
            .bind(view.sla.complete_due)
            .bind(view.derived.completed_at)
            .bind(p.last_event_at)
            .bind(view.address.as_deref())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| classify(e, "task projection"))?;
        Ok(())
    }
}

impl ServerStore for Db {
    async fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, ServerStoreError> {
        for_session(
            async {
                let row: Option<(i64, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(
                    "SELECT seq, snapshot FROM docs WHERE id = $1",
                )
                .bind(doc.as_str())
                .fetch_optional(pool)
                .await)?;
                row.map(|(seq, bytes)| {
                    Ok(StoredDoc {
                        bytes,
                        seq: seq_u64(seq)?,
                    })
                })
                .transpose()
            }
            .await,
        )
    }

    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, StoredDoc)>, ServerStoreError> {
        for_session(
            async {
                let rows: Vec<(String, i64, Vec<u8>)> = self
                    .fetch_by_ids("SELECT id, seq, snapshot FROM docs WHERE id", docs)
                    .await?;
                rows.into_iter()
                    .map(|(id, seq, bytes)| {
                        let seq = seq_u64(seq)?;
                        Ok((doc_id(id)?, StoredDoc { bytes, seq }))
                    })
                    .collect()
            }
            .await,
        )
    }

    /// Documents with their index rows, read from the task projection in the same query.
    async fn load_many_indexed(
        &self,
        docs: &[DocId],
    ) -> Result<Vec<(DocId, StoredDoc, Option<IndexEntry>)>, ServerStoreError> {
        for_session(
            async {
                let select = format!(
                    "SELECT d.id, d.seq, d.snapshot, t.seq AS task_seq, t.title, t.status,
                            t.priority, t.category, t.district, t.assignee, {},
                            t.last_event_at
                     FROM docs d LEFT JOIN tasks t ON t.id = d.id WHERE d.id",
                    self.dialect().point_select
                );
                let rows: Vec<IndexedRow> = self.fetch_by_ids(&select, docs).await?;
                rows.into_iter().map(IndexedRow::into_parts).collect()
            }
            .await,
        )
    }

    async fn commit(&self, commit: DocCommit) -> Result<CommitOutcome, ServerStoreError> {
        for_session(self.commit_tx(&commit, &CommitExtra::none(), false).await)
    }

    async fn scope_entries(
        &self,
        scope: &ScopeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ScopeEntry>, ServerStoreError> {
        for_session(
            async {
                let after = seq_i64(after)?;
                let rows: Vec<(String, i64, i64, bool)> = on_pool!(self, pool => sqlx::query_as(
                    "SELECT doc, seq, entered_seq, present FROM scope_entries
                     WHERE scope = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(scope.as_str())
                .bind(after)
                .bind(count_i64(limit))
                .fetch_all(pool)
                .await)?;
                rows.into_iter()
                    .map(|(doc, seq, entered, present)| {
                        Ok(ScopeEntry {
                            doc: doc_id(doc)?,
                            seq: seq_u64(seq)?,
                            entered_seq: seq_u64(entered)?,
                            present,
                        })
                    })
                    .collect()
            }
            .await,
        )
    }

    async fn changes_since(
        &self,
        doc: &DocId,
        after: u64,
    ) -> Result<ChangesSince, ServerStoreError> {
        for_session(
            async {
                let from = seq_i64(after)?;
                let rows: Vec<ChangeRow> = on_pool!(self, pool => sqlx::query_as(
                    "SELECT d.compacted_before, c.seq, c.origin, c.bytes
                     FROM docs d LEFT JOIN doc_changes c ON c.doc = d.id AND c.seq > $1
                     WHERE d.id = $2 ORDER BY c.seq, c.idx",
                )
                .bind(from)
                .bind(doc.as_str())
                .fetch_all(pool)
                .await)?;
                changes_from_rows(after, rows)
            }
            .await,
        )
    }

    async fn doc_scopes(&self, doc: &DocId) -> Result<Vec<ScopeId>, ServerStoreError> {
        for_session(
            async {
                let rows: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(
                    "SELECT scope FROM scope_entries WHERE doc = $1 AND present ORDER BY scope",
                )
                .bind(doc.as_str())
                .fetch_all(pool)
                .await)?;
                scope_ids(rows)
            }
            .await,
        )
    }

    /// One transaction (under the writer lock on SQLite): the contact's time swapped in,
    /// and one upsert per scope that only ever raises the number. A cursor beyond any
    /// sequence number is stored as the largest one (it only limits the device that
    /// claims it).
    async fn record_hello(
        &self,
        device: &DeviceId,
        cursors: &[(ScopeId, u64)],
        now: Millis,
    ) -> Result<Option<Millis>, ServerStoreError> {
        for_session(
            async {
                let mut tx = self.begin_write().await?;
                let previous: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
                    "SELECT at FROM device_contacts WHERE device = $1",
                )
                .bind(device.as_str())
                .fetch_optional(c)
                .await)?;
                on_tx!(&mut tx, c => sqlx::query(
                    "INSERT INTO device_contacts (device, at) VALUES ($1, $2)
                     ON CONFLICT (device) DO UPDATE SET at = excluded.at",
                )
                .bind(device.as_str())
                .bind(now)
                .execute(c)
                .await
                .map(|_| ()))
                .map_err(|e| classify(e, "device contact"))?;
                for (scope, seq) in cursors {
                    let seq = i64::try_from(*seq).unwrap_or(i64::MAX);
                    on_tx!(&mut tx, c => sqlx::query(
                        "INSERT INTO sync_acks (device, scope, seq) VALUES ($1, $2, $3)
                         ON CONFLICT (device, scope) DO UPDATE SET seq = excluded.seq
                         WHERE sync_acks.seq < excluded.seq",
                    )
                    .bind(device.as_str())
                    .bind(scope.as_str())
                    .bind(seq)
                    .execute(c)
                    .await
                    .map(|_| ()))
                    .map_err(|e| classify(e, "sync acknowledgement"))?;
                }
                tx.commit().await?;
                Ok(previous)
            }
            .await,
        )
    }

    /// The device's acknowledged cursors joined to the document's entries in those scopes;
    /// the rule is sync-core's [`acknowledged_through`], the scopes combined with
    /// [`Acknowledged::or`].
    async fn acknowledged_seq(
        &self,
        device: &DeviceId,
        doc: &DocId,
    ) -> Result<Option<Acknowledged>, ServerStoreError> {
        for_session(
            async {
                let rows: Vec<(i64, i64, i64, bool)> = on_pool!(self, pool => sqlx::query_as(
                    "SELECT a.seq, e.seq, e.entered_seq, e.present
                     FROM sync_acks a JOIN scope_entries e ON e.scope = a.scope
                     WHERE a.device = $1 AND e.doc = $2",
                )
                .bind(device.as_str())
                .bind(doc.as_str())
                .fetch_all(pool)
                .await)?;
                let mut best: Option<Acknowledged> = None;
                for (acked, seq, entered, present) in rows {
                    let entry = ScopeEntry {
                        doc: doc.clone(),
                        seq: seq_u64(seq)?,
                        entered_seq: seq_u64(entered)?,
                        present,
                    };
                    if let Some(n) = acknowledged_through(seq_u64(acked)?, &entry) {
                        best = Some(best.map_or(n, |b| b.or(n)));
                    }
                }
                Ok(best)
            }
            .await,
        )
    }
}

impl DocStore for Db {
    async fn compact(&self, doc: &DocId, keep_commits: usize) -> Result<CompactOutcome, DbError> {
        let id = doc.as_str();
        let mut tx = self.begin_write().await?;
        let lock = format!(
            "SELECT compacted_before FROM docs WHERE id = $1{}",
            self.dialect().row_lock
        );
        let marker: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(&lock)
            .bind(id)
            .fetch_optional(conn)
            .await)?
        .ok_or_else(|| DbError::NotFound(format!("document {id}")))?;
        // The newest commit to drop: the one after the `keep_commits` newest.
        let cutoff: Option<i64> = on_tx!(&mut tx, conn => sqlx::query_scalar(
            "SELECT seq FROM (SELECT DISTINCT seq FROM doc_changes WHERE doc = $1) s
             ORDER BY seq DESC LIMIT 1 OFFSET $2",
        )
        .bind(id)
        .bind(count_i64(keep_commits))
        .fetch_optional(conn)
        .await)?;
        let Some(cutoff) = cutoff else {
            return Ok(CompactOutcome {
                dropped: 0,
                compacted_before: seq_u64(marker)?,
            });
        };
        let dropped = on_tx!(&mut tx, conn => sqlx::query(
            "DELETE FROM doc_changes WHERE doc = $1 AND seq <= $2",
        )
        .bind(id)
        .bind(cutoff)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
        let marker = marker.max(cutoff);
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE docs SET compacted_before = $1 WHERE id = $2",
        )
        .bind(marker)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(CompactOutcome {
            dropped,
            compacted_before: seq_u64(marker)?,
        })
    }

    async fn task_row(&self, doc: &DocId) -> Result<Option<TaskRow>, DbError> {
        let sql = format!(
            "SELECT t.id, t.seq, {}, t.district, t.status, t.priority, t.assignee, t.category,
                    t.title, t.created_at, t.updated_at, t.ack_due, t.complete_due,
                    t.completed_at
             FROM tasks t WHERE t.id = $1",
            self.dialect().point_select
        );
        let row: Option<TaskRecord> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(doc.as_str())
            .fetch_optional(pool)
            .await)?;
        row.map(TaskRow::try_from).transpose()
    }

    async fn count_docs(&self) -> Result<u64, DbError> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM docs")
            .fetch_one(pool)
            .await)?;
        seq_u64(n)
    }
}
