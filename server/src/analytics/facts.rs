//! One row of facts per task (`task_facts`, migration 0009), derived from the task's view
//! and written in the same transaction as its projection on every commit, so the
//! dashboard never decodes automerge documents.
//!
//! Attribution (documented in `server/README.md`, "Analytics"): a task counts for the
//! crew that made its completion (the completion event's actor's crew), so a task
//! reassigned from one contractor's crew to another's counts for the one that did the
//! work; a task not completed counts for the crew holding it now. Acknowledgement
//! measures count for the crew that first acknowledged (else the same crew). The
//! contractor is that crew's `crews.contractor` at the time of the commit, and the region
//! the district's `districts.region`, both looked up inside the commit's transaction.

use sync_core::Millis;
use sync_core::task::{EventKind, Outcome, PhotoKind, Status, TaskView};

/// What analytics keeps of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Task id.
    pub id: String,
    /// District code.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
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
    /// The citizen's rating.
    pub rating: Option<u8>,
    /// First before photo (by time added, then hash).
    pub before_photo: Option<String>,
    /// The completion's after photo.
    pub after_photo: Option<String>,
}

impl Fact {
    /// Derives the facts of a task from its view (pure).
    pub fn of(view: &TaskView) -> Fact {
        let d = &view.derived;
        let applied = || {
            view.timeline
                .iter()
                .filter(|t| t.outcome == Outcome::Applied)
        };
        let first_ack = applied().find(|t| t.event.kind == EventKind::Acknowledged);
        let completion = d
            .completion
            .as_ref()
            .and_then(|id| view.timeline.iter().find(|t| &t.event.id == id));
        let crew = completion
            .and_then(|t| t.event.actor.crew.clone())
            .or_else(|| d.assignee.clone());
        let ack_crew = first_ack
            .and_then(|t| t.event.actor.crew.clone())
            .or_else(|| crew.clone());
        let closed_at = match d.status {
            Status::Completed | Status::Verified => d.completed_at,
            Status::Cancelled | Status::Duplicate => applied()
                .filter(|t| {
                    matches!(
                        t.event.kind,
                        EventKind::Cancelled { .. } | EventKind::MarkedDuplicate { .. }
                    )
                })
                .map(|t| t.event.at)
                .next_back(),
            _ => None,
        };
        let mut befores: Vec<_> = view
            .photos
            .iter()
            .filter(|p| p.kind == PhotoKind::Before)
            .collect();
        befores.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.hash.cmp(&b.hash)));
        let is_after = |h: &String| {
            view.photos
                .iter()
                .any(|p| &p.hash == h && p.kind == PhotoKind::After)
        };
        let after_photo = completion.and_then(|t| match &t.event.kind {
            EventKind::Completed { photos } => photos.iter().find(|h| is_after(h)).cloned(),
            _ => None,
        });
        Fact {
            id: view.id.to_string(),
            district: d.district.clone(),
            category: view.category.clone(),
            priority: d.priority.as_str(),
            status: d.status.as_str(),
            crew,
            ack_crew,
            created_at: view.created_at,
            acknowledged_at: d.acknowledged_at,
            completed_at: d.completed_at,
            closed_at,
            ack_due: view.sla.ack_due,
            complete_due: view.sla.complete_due,
            reopen_count: d.reopen_count,
            rating: d.rating,
            before_photo: befores.first().map(|p| p.hash.clone()),
            after_photo,
        }
    }

    fn ack_ms(&self) -> Option<i64> {
        self.acknowledged_at
            .map(|a| a.saturating_sub(self.created_at).max(0))
    }

    fn complete_ms(&self) -> Option<i64> {
        self.completed_at
            .map(|a| a.saturating_sub(self.created_at).max(0))
    }
}

/// The upsert both backends run (same text; `$n` parameters work on SQLite too). Region
/// and contractors are looked up in the same statement, inside the commit's transaction.
const UPSERT: &str = "INSERT INTO task_facts (id, district, region, category, priority, status,
        crew, contractor, ack_crew, ack_contractor, created_at, acknowledged_at, completed_at,
        closed_at, ack_due, complete_due, ack_ms, complete_ms, reopen_count, rating,
        before_photo, after_photo, updated_at)
     VALUES ($1, $2, (SELECT region FROM districts WHERE code = $2), $3, $4, $5,
        $6, (SELECT contractor FROM crews WHERE id = $6),
        $7, (SELECT contractor FROM crews WHERE id = $7),
        $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
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
        after_photo = excluded.after_photo, updated_at = excluded.updated_at";

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
    };
}

/// Writes a task's facts inside a SQLite commit transaction.
pub(crate) async fn write_sqlite(
    conn: &mut sqlx::SqliteConnection,
    view: &TaskView,
    now: Millis,
) -> Result<(), sqlx::Error> {
    let f = Fact::of(view);
    upsert!(f, now).execute(conn).await?;
    Ok(())
}

/// Writes a task's facts inside a PostgreSQL commit transaction.
pub(crate) async fn write_postgres(
    conn: &mut sqlx::PgConnection,
    view: &TaskView,
    now: Millis,
) -> Result<(), sqlx::Error> {
    let f = Fact::of(view);
    upsert!(f, now).execute(conn).await?;
    Ok(())
}

/// Writes facts for tasks committed before migration 0009 (none on a new database).
/// Runs at start; each document is decoded once.
pub async fn backfill(db: &crate::db::Db) -> Result<usize, crate::db::DbError> {
    use crate::db::on_pool;
    let missing: Vec<String> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT d.id FROM docs d WHERE NOT EXISTS (SELECT 1 FROM task_facts f WHERE f.id = d.id)"
    )
    .fetch_all(pool)
    .await)?;
    let mut n = 0;
    for id in missing {
        let snapshot: Option<Vec<u8>> = on_pool!(db, pool => sqlx::query_scalar(
            "SELECT snapshot FROM docs WHERE id = $1"
        )
        .bind(&id)
        .fetch_optional(pool)
        .await)?;
        let Some(bytes) = snapshot else { continue };
        let view = match sync_core::task::TaskDoc::load(&bytes).and_then(|d| d.view()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "no analytics facts for an unreadable task");
                continue;
            }
        };
        let now = crate::db::now_millis();
        match db {
            crate::db::Db::Sqlite(s) => {
                let mut c = s.pool().acquire().await?;
                write_sqlite(&mut c, &view, now).await?;
            }
            crate::db::Db::Postgres(s) => {
                let mut c = s.pool().acquire().await?;
                write_postgres(&mut c, &view, now).await?;
            }
        }
        n += 1;
    }
    if n > 0 {
        tracing::info!(tasks = n, "analytics facts backfilled");
    }
    Ok(n)
}
