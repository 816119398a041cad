//! The `task_facts` table (migration 0009): one row of analytics facts per task, written
//! in the same transaction as the task's projection on every commit. What a task's facts
//! are is the domain's rule (`domain::analytics::facts`): the store is opened with it as
//! its [`DeriveFacts`] hook and calls it inside each commit.

use super::sqlite::classify;
use super::{Db, DbError, on_pool};
use sync_core::Millis;
use sync_core::task::TaskView;

/// Derives a task's facts from its view (the domain's rule, given when the store opens).
pub type DeriveFacts = fn(&TaskView) -> Fact;

/// What analytics keeps of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Task id.
    pub id: String,
    /// District code.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
    /// Where the task came from (`citizen`, `call_centre`, `crew`, `dispatcher`).
    pub source: &'static str,
    /// Current priority.
    pub priority: &'static str,
    /// Current status.
    pub status: &'static str,
    /// Crew the task is attributed to (completion's crew, else the holder).
    pub crew: Option<String>,
    /// Crew that first acknowledged (else `crew`).
    pub ack_crew: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// First acknowledgement.
    pub acknowledged_at: Option<Millis>,
    /// The task's completion (cleared by a reopening).
    pub completed_at: Option<Millis>,
    /// When it was closed (completed, cancelled, duplicate); none while open.
    pub closed_at: Option<Millis>,
    /// Acknowledgement due time.
    pub ack_due: Option<Millis>,
    /// Completion due time.
    pub complete_due: Option<Millis>,
    /// Times the citizen reopened it.
    pub reopen_count: u32,
    /// Times a dispatcher rejected its completion.
    pub reject_count: u32,
    /// The citizen's rating.
    pub rating: Option<u8>,
    /// First before photo (by time added, then hash).
    pub before_photo: Option<String>,
    /// The completion's after photo.
    pub after_photo: Option<String>,
}

impl Fact {
    /// Time to the first acknowledgement.
    pub fn ack_ms(&self) -> Option<i64> {
        self.acknowledged_at
            .map(|a| a.saturating_sub(self.created_at).max(0))
    }

    /// Time to completion.
    pub fn complete_ms(&self) -> Option<i64> {
        self.completed_at
            .map(|a| a.saturating_sub(self.created_at).max(0))
    }
}

/// The upsert both backends run (same text; `$n` parameters work on SQLite too). Region
/// and contractors are looked up in the same statement, inside the commit's transaction.
const UPSERT: &str = "INSERT INTO task_facts (id, district, region, category, priority, status,
        crew, contractor, ack_crew, ack_contractor, created_at, acknowledged_at, completed_at,
        closed_at, ack_due, complete_due, ack_ms, complete_ms, reopen_count, rating,
        before_photo, after_photo, updated_at, source, reject_count)
     VALUES ($1, $2, (SELECT region FROM districts WHERE code = $2), $3, $4, $5,
        $6, (SELECT contractor FROM crews WHERE id = $6),
        $7, (SELECT contractor FROM crews WHERE id = $7),
        $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
     ON CONFLICT (id) DO UPDATE SET
        district = excluded.district, region = excluded.region, category = excluded.category,
        priority = excluded.priority, status = excluded.status, crew = excluded.crew,
        contractor = excluded.contractor, ack_crew = excluded.ack_crew,
        ack_contractor = excluded.ack_contractor, created_at = excluded.created_at,
        acknowledged_at = excluded.acknowledged_at, completed_at = excluded.completed_at,
        closed_at = excluded.closed_at, ack_due = excluded.ack_due,
        complete_due = excluded.complete_due, ack_ms = excluded.ack_ms,
        complete_ms = excluded.complete_ms, reopen_count = excluded.reopen_count,
        rating = excluded.rating, before_photo = excluded.before_photo,
        after_photo = excluded.after_photo, updated_at = excluded.updated_at,
        source = excluded.source, reject_count = excluded.reject_count";

macro_rules! upsert {
    ($f:expr, $now:expr) => {
        sqlx::query(UPSERT)
            .bind(&$f.id)
            .bind($f.district.as_deref())
            .bind(&$f.category)
            .bind($f.priority)
            .bind($f.status)
            .bind($f.crew.as_deref())
            .bind($f.ack_crew.as_deref())
            .bind($f.created_at)
            .bind($f.acknowledged_at)
            .bind($f.completed_at)
            .bind($f.closed_at)
            .bind($f.ack_due)
            .bind($f.complete_due)
            .bind($f.ack_ms())
            .bind($f.complete_ms())
            .bind(i32::try_from($f.reopen_count).unwrap_or(i32::MAX))
            .bind($f.rating.map(i16::from))
            .bind($f.before_photo.as_deref())
            .bind($f.after_photo.as_deref())
            .bind($now)
            .bind($f.source)
            .bind(i32::try_from($f.reject_count).unwrap_or(i32::MAX))
    };
}

/// Writes a task's facts inside a SQLite commit transaction.
pub(crate) async fn write_sqlite(
    conn: &mut sqlx::SqliteConnection,
    f: &Fact,
    now: Millis,
) -> Result<(), sqlx::Error> {
    upsert!(f, now).execute(conn).await?;
    Ok(())
}

/// Writes a task's facts inside a PostgreSQL commit transaction.
pub(crate) async fn write_postgres(
    conn: &mut sqlx::PgConnection,
    f: &Fact,
    now: Millis,
) -> Result<(), sqlx::Error> {
    upsert!(f, now).execute(conn).await?;
    Ok(())
}

/// Writes one task's facts outside a commit (the start-up backfill).
pub async fn write(db: &Db, f: &Fact, now: Millis) -> Result<(), DbError> {
    match db {
        Db::Sqlite(s) => {
            let mut c = s.pool().acquire().await?;
            write_sqlite(&mut c, f, now).await
        }
        Db::Postgres(s) => {
            let mut c = s.pool().acquire().await?;
            write_postgres(&mut c, f, now).await
        }
    }
    .map_err(|e| classify(e, "task facts"))
}

/// Tasks with a document but no facts row (committed before migration 0009).
pub async fn missing(db: &Db) -> Result<Vec<String>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_scalar(
        "SELECT d.id FROM docs d WHERE NOT EXISTS (SELECT 1 FROM task_facts f WHERE f.id = d.id)"
    )
    .fetch_all(pool)
    .await)?)
}

/// A document's saved bytes.
pub async fn snapshot(db: &Db, id: &str) -> Result<Option<Vec<u8>>, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query_scalar("SELECT snapshot FROM docs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await)?,
    )
}
