//! Dispatch's own tables (migration `0004_dispatch.sql`) on either backend: duty,
//! positions, candidates with their load and duty facts, escalation timers, alerts, district settings.
//!
//! The SQL is shared where both backends accept it (`$n` parameters work on SQLite too);
//! the timer claim differs: PostgreSQL takes rows with `FOR UPDATE SKIP LOCKED`, SQLite
//! has a single writer.

use crate::storage::roster::DutyFacts;
use crate::storage::{Db, DbError, IdentityStore, on_pool, on_tx};
use serde::Serialize;
use sync_core::Millis;

/// Statuses in which a task counts towards its crew's load.
pub const OPEN_WORK: &str = "('assigned', 'acknowledged', 'in_progress', 'paused', 'reopened')";

/// Sets a crew's on-duty switch; false if there is no such crew.
pub async fn set_on_duty(db: &Db, crew: &str, on_duty: bool) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => sqlx::query("UPDATE crews SET on_duty = $1 WHERE id = $2")
        .bind(on_duty)
        .bind(crew)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(done > 0)
}

/// A position report as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PositionRow {
    /// Crew.
    pub crew: String,
    /// Reporting device.
    pub device: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Accuracy in metres, if given.
    pub accuracy_m: Option<f64>,
    /// When the phone says it was there.
    #[schema(value_type = i64)]
    pub at: Millis,
    /// When the server received it.
    #[schema(value_type = i64)]
    pub received_at: Millis,
    /// Plausibility flags (empty when plausible).
    pub flags: Vec<String>,
}

type PositionTuple = (String, String, f64, f64, Option<f64>, i64, i64, String);

fn position_of(t: PositionTuple) -> PositionRow {
    let (crew, device, lat, lon, accuracy_m, at, received_at, flags) = t;
    PositionRow {
        crew,
        device,
        lat,
        lon,
        accuracy_m,
        at,
        received_at,
        flags: flags
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// Stores a position report (flagged ones too).
pub async fn insert_position(db: &Db, p: &PositionRow) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO crew_positions (crew, device, lat, lon, accuracy_m, at, received_at, flags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&p.crew)
    .bind(&p.device)
    .bind(p.lat)
    .bind(p.lon)
    .bind(p.accuracy_m)
    .bind(p.at)
    .bind(p.received_at)
    .bind(p.flags.join(","))
    .execute(pool)
    .await
    .map_err(|e| crate::storage::sqlite::classify(e, "position"))?
    .rows_affected());
    Ok(())
}

/// The crew's latest plausible position (by the phone's time), if any.
pub async fn last_plausible_position(db: &Db, crew: &str) -> Result<Option<PositionRow>, DbError> {
    let row: Option<PositionTuple> = on_pool!(db, pool => sqlx::query_as(
        "SELECT crew, device, lat, lon, accuracy_m, at, received_at, flags FROM crew_positions
         WHERE crew = $1 AND flags = '' ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(crew)
    .fetch_optional(pool)
    .await?);
    Ok(row.map(position_of))
}

/// The latest position of a crew whatever its flags (what the console shows).
pub async fn last_position(db: &Db, crew: &str) -> Result<Option<PositionRow>, DbError> {
    let row: Option<PositionTuple> = on_pool!(db, pool => sqlx::query_as(
        "SELECT crew, device, lat, lon, accuracy_m, at, received_at, flags FROM crew_positions
         WHERE crew = $1 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(crew)
    .fetch_optional(pool)
    .await?);
    Ok(row.map(position_of))
}

/// A crew that could take a job: of one of the districts, with the skill; whether it is
/// on duty is the domain's rule over its [`DutyFacts`] (`domain::roster::duty`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Crew id.
    pub crew: String,
    /// Its home district.
    pub district: String,
    /// Its latest plausible position (lat, lon), if any.
    pub position: Option<(f64, f64)>,
    /// Open jobs assigned to it.
    pub load: u32,
    /// Its duty switch and roster at the instant asked about.
    pub duty: DutyFacts,
}

type CandidateTuple = (
    String,
    String,
    Option<f64>,
    Option<f64>,
    i64,
    bool,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
);

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Crews (not retired) of `districts` whose skills include `skill`, with position, load
/// and their duty facts at `now`.
pub async fn candidates(
    db: &Db,
    districts: &[String],
    skill: &str,
    now: Millis,
) -> Result<Vec<Candidate>, DbError> {
    if districts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT c.id, c.district,
            (SELECT p.lat FROM crew_positions p WHERE p.crew = c.id AND p.flags = ''
              ORDER BY p.at DESC, p.id DESC LIMIT 1),
            (SELECT p.lon FROM crew_positions p WHERE p.crew = c.id AND p.flags = ''
              ORDER BY p.at DESC, p.id DESC LIMIT 1),
            (SELECT COUNT(*) FROM tasks t WHERE t.assignee = c.id AND t.status IN {OPEN_WORK}),
            {}
         FROM crews c JOIN crew_skills s ON s.crew = c.id AND s.service_code = $1
         WHERE c.retired_at IS NULL AND c.district IN ({}) ORDER BY c.id",
        super::roster::duty_columns("$2"),
        placeholders(3, districts.len())
    );
    let rows: Vec<CandidateTuple> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(skill).bind(now);
        for d in districts {
            q = q.bind(d);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(crew, district, lat, lon, load, switch, toggled, shifts, covering, boundary)| {
                Candidate {
                    crew,
                    district,
                    position: lat.zip(lon),
                    load: u32::try_from(load).unwrap_or(u32::MAX),
                    duty: super::roster::duty_of((switch, toggled, shifts, covering, boundary)),
                }
            },
        )
        .collect())
}

/// A crew as the console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CrewStatus {
    /// Crew id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Home district.
    pub district: String,
    /// Service codes it handles.
    pub skills: Vec<String>,
    /// On duty now.
    pub on_duty: bool,
    /// Open jobs.
    pub load: u32,
    /// Latest position (any flags), if any.
    pub position: Option<PositionRow>,
}

/// Crews of `districts` with their skills, load and latest position.
pub async fn crews_of(db: &Db, districts: &[String]) -> Result<Vec<CrewStatus>, DbError> {
    let mut out = Vec::new();
    for c in db.crews().await? {
        if !districts.contains(&c.district) {
            continue;
        }
        let load: i64 = on_pool!(db, pool => sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM tasks WHERE assignee = $1 AND status IN {OPEN_WORK}"
        ))
        .bind(&c.id)
        .fetch_one(pool)
        .await?);
        let position = last_position(db, &c.id).await?;
        out.push(CrewStatus {
            id: c.id,
            name: c.name,
            district: c.district,
            skills: c.skills,
            on_duty: c.on_duty,
            load: u32::try_from(load).unwrap_or(u32::MAX),
            position,
        });
    }
    Ok(out)
}

/// What an escalation timer watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// The assigned crew must acknowledge.
    Ack,
    /// The job must be completed.
    Complete,
}

impl TimerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Ack => "ack",
            TimerKind::Complete => "complete",
        }
    }
    fn parse(s: &str) -> Result<TimerKind, DbError> {
        match s {
            "ack" => Ok(TimerKind::Ack),
            "complete" => Ok(TimerKind::Complete),
            other => Err(DbError::Corrupt(format!("timer kind {other:?}"))),
        }
    }
}

/// A timer claimed by this replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The task.
    pub task: String,
    /// What it watches.
    pub kind: TimerKind,
    /// When it fell due.
    pub due_at: Millis,
    /// The crew it was armed for (ack timers).
    pub crew: Option<String>,
}

/// Arms a timer inside a task's commit ([`super::outbox::CommitExtra::timers`]).
pub(crate) async fn arm_timer_tx(
    tx: &mut super::Tx,
    task: &str,
    kind: TimerKind,
    due_at: Millis,
    crew: Option<&str>,
) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query(ARM_TIMER)
        .bind(task)
        .bind(kind.as_str())
        .bind(due_at)
        .bind(crew)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

const ARM_TIMER: &str =
    "INSERT INTO dispatch_timers (task, kind, due_at, crew) VALUES ($1, $2, $3, $4)
     ON CONFLICT (task, kind) DO UPDATE SET due_at = excluded.due_at, crew = excluded.crew,
         claimed_by = NULL, claimed_until = NULL, done_at = NULL";

/// Arms (or re-arms) a timer: a new due time, unclaimed, not done.
pub async fn arm_timer(
    db: &Db,
    task: &str,
    kind: TimerKind,
    due_at: Millis,
    crew: Option<&str>,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(ARM_TIMER)
    .bind(task)
    .bind(kind.as_str())
    .bind(due_at)
    .bind(crew)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(())
}

/// Disarms a task's timer of `kind` (the job was acknowledged, completed or closed).
pub async fn disarm_timer(
    db: &Db,
    task: &str,
    kind: TimerKind,
    now: Millis,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE dispatch_timers SET done_at = $1 WHERE task = $2 AND kind = $3 AND done_at IS NULL",
    )
    .bind(now)
    .bind(task)
    .bind(kind.as_str())
    .execute(pool)
    .await?
    .rows_affected());
    Ok(())
}

/// Claims up to `limit` due, unclaimed (or lease-expired) timers for `replica` until
/// `now + lease_ms`. Two replicas never claim one timer at once: PostgreSQL skips rows
/// another transaction holds (`FOR UPDATE SKIP LOCKED`); SQLite has one writer.
pub async fn claim_due(
    db: &Db,
    replica: &str,
    now: Millis,
    lease_ms: Millis,
    limit: i64,
) -> Result<Vec<Timer>, DbError> {
    let until = now.saturating_add(lease_ms);
    let rows: Vec<(String, String, i64, Option<String>)> = match db {
        Db::Postgres(p) => {
            sqlx::query_as(
                "UPDATE dispatch_timers t SET claimed_by = $1, claimed_until = $2
             FROM (SELECT task, kind FROM dispatch_timers
                   WHERE done_at IS NULL AND due_at <= $3
                     AND (claimed_until IS NULL OR claimed_until < $3)
                   ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) d
             WHERE t.task = d.task AND t.kind = d.kind
             RETURNING t.task, t.kind, t.due_at, t.crew",
            )
            .bind(replica)
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(p.pool())
            .await?
        }
        Db::Sqlite(s) => {
            sqlx::query_as(
                "UPDATE dispatch_timers SET claimed_by = $1, claimed_until = $2
             WHERE (task, kind) IN (SELECT task, kind FROM dispatch_timers
                   WHERE done_at IS NULL AND due_at <= $3
                     AND (claimed_until IS NULL OR claimed_until < $3)
                   ORDER BY due_at LIMIT $4)
             RETURNING task, kind, due_at, crew",
            )
            .bind(replica)
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(s.pool())
            .await?
        }
    };
    rows.into_iter()
        .map(|(task, kind, due_at, crew)| {
            Ok(Timer {
                task,
                kind: TimerKind::parse(&kind)?,
                due_at,
                crew,
            })
        })
        .collect()
}

/// Marks a claimed timer done, unless it was re-armed meanwhile (new due time or crew).
pub async fn finish_timer(db: &Db, t: &Timer, replica: &str, now: Millis) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE dispatch_timers SET done_at = $1
         WHERE task = $2 AND kind = $3 AND due_at = $4 AND claimed_by = $5 AND done_at IS NULL",
    )
    .bind(now)
    .bind(&t.task)
    .bind(t.kind.as_str())
    .bind(t.due_at)
    .bind(replica)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(())
}

/// Timers of a task not yet done: (kind, due_at, crew).
pub async fn pending_timers(
    db: &Db,
    task: &str,
) -> Result<Vec<(String, Millis, Option<String>)>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT kind, due_at, crew FROM dispatch_timers
         WHERE task = $1 AND done_at IS NULL ORDER BY kind",
    )
    .bind(task)
    .fetch_all(pool)
    .await?))
}

/// An alert for a district's dispatchers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// Id (0 before it is stored).
    pub id: i64,
    /// District.
    pub district: String,
    /// The task, if about one.
    pub task: Option<String>,
    /// `no_crew`, `escalated`, `late`, `outside_districts`.
    pub kind: String,
    /// Plain words.
    pub message: String,
    /// When raised.
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

/// Raises an alert.
pub async fn insert_alert(db: &Db, a: &Alert) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO dispatch_alerts (district, task, kind, message, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&a.district)
    .bind(&a.task)
    .bind(&a.kind)
    .bind(&a.message)
    .bind(a.created_at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(())
}

/// The latest unresolved alerts of `districts`, newest first, at most `limit`.
pub async fn alerts(db: &Db, districts: &[String], limit: i64) -> Result<Vec<Alert>, DbError> {
    if districts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, district, task, kind, message, created_at FROM dispatch_alerts
         WHERE resolved_at IS NULL AND district IN ({}) ORDER BY created_at DESC, id DESC LIMIT ${}",
        placeholders(1, districts.len()),
        districts.len() + 1
    );
    let rows: Vec<(i64, String, Option<String>, String, String, i64)> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for d in districts {
            q = q.bind(d);
        }
        q.bind(limit).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, district, task, kind, message, created_at)| Alert {
            id,
            district,
            task,
            kind,
            message,
            created_at,
        })
        .collect())
}

/// Alerts about one task, oldest first.
pub async fn task_alerts(db: &Db, task: &str) -> Result<Vec<Alert>, DbError> {
    let rows: Vec<(i64, String, Option<String>, String, String, i64)> = on_pool!(db, pool =>
        sqlx::query_as(
            "SELECT id, district, task, kind, message, created_at FROM dispatch_alerts
             WHERE task = $1 ORDER BY created_at, id",
        )
        .bind(task)
        .fetch_all(pool)
        .await?);
    Ok(rows
        .into_iter()
        .map(|(id, district, task, kind, message, created_at)| Alert {
            id,
            district,
            task,
            kind,
            message,
            created_at,
        })
        .collect())
}

/// Whether normal (and high, low) tasks of `district` are auto-assigned too. Cached
/// ([`super::catalogue`]).
pub async fn auto_assign_normal(db: &Db, district: &str) -> Result<bool, DbError> {
    db.catalogue_cached(
        |s| s.auto_assign.get(district).copied(),
        read_auto_assign_normal(db, district),
        |s, v| {
            s.auto_assign.insert(district.to_owned(), v);
        },
    )
    .await
}

async fn read_auto_assign_normal(db: &Db, district: &str) -> Result<bool, DbError> {
    let v: Option<bool> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT auto_assign_normal FROM district_dispatch WHERE district = $1",
    )
    .bind(district)
    .fetch_optional(pool)
    .await?);
    Ok(v.unwrap_or(false))
}

/// Sets the district's auto-assignment of non-urgent tasks.
pub async fn set_auto_assign_normal(db: &Db, district: &str, on: bool) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO district_dispatch (district, auto_assign_normal) VALUES ($1, $2)
         ON CONFLICT (district) DO UPDATE SET auto_assign_normal = excluded.auto_assign_normal",
    )
    .bind(district)
    .bind(on)
    .execute(pool)
    .await?
    .rows_affected());
    db.catalogue_changed();
    Ok(())
}

/// Completed tasks of `districts` waiting for a dispatcher's verification, the longest
/// waiting first, at most `limit`.
pub async fn completed_tasks(
    db: &Db,
    districts: &[String],
    limit: i64,
) -> Result<Vec<QueueRow>, DbError> {
    if districts.is_empty() {
        return Ok(Vec::new());
    }
    let (lat, lon) = match db {
        Db::Postgres(_) => ("ST_Y(geom)", "ST_X(geom)"),
        Db::Sqlite(_) => ("lat", "lon"),
    };
    let sql = format!(
        "SELECT id, {lat}, {lon}, district, status, priority, assignee, category, title,
                created_at, updated_at, ack_due, complete_due
         FROM tasks WHERE district IN ({}) AND status = 'completed'
         ORDER BY COALESCE(completed_at, updated_at), id LIMIT ${}",
        placeholders(1, districts.len()),
        districts.len() + 1
    );
    let rows: Vec<QueueTuple> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for d in districts {
            q = q.bind(d);
        }
        q.bind(limit).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(QueueRow::from).collect())
}

pub(crate) type QueueTuple = (
    String,
    f64,
    f64,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

/// One task in the console's queue and map.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueRow {
    /// Task id.
    pub id: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// District.
    pub district: Option<String>,
    /// Derived status.
    pub status: String,
    /// Priority.
    pub priority: String,
    /// Crew holding it.
    pub assignee: Option<String>,
    /// Service code.
    pub category: String,
    /// Title.
    pub title: String,
    /// Created.
    #[schema(value_type = i64)]
    pub created_at: Millis,
    /// Last committed.
    #[schema(value_type = i64)]
    pub updated_at: Millis,
    /// Acknowledge-by.
    #[schema(value_type = Option<i64>)]
    pub ack_due: Option<Millis>,
    /// Complete-by.
    #[schema(value_type = Option<i64>)]
    pub complete_due: Option<Millis>,
}

impl From<QueueTuple> for QueueRow {
    fn from(t: QueueTuple) -> QueueRow {
        QueueRow {
            id: t.0,
            lat: t.1,
            lon: t.2,
            district: t.3,
            status: t.4,
            priority: t.5,
            assignee: t.6,
            category: t.7,
            title: t.8,
            created_at: t.9,
            updated_at: t.10,
            ack_due: t.11,
            complete_due: t.12,
        }
    }
}
