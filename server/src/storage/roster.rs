//! Crews' rosters (migration `0043_rosters.sql`) on either backend: shifts as UTC
//! instants, the kept history of manual duty toggles, the facts the duty rule reads
//! (`domain::roster::duty`), the shift-start wake-ups and the coverage gap alerts already
//! raised.
//!
//! Writing shifts checks overlaps against the stored ones inside the same transaction
//! (SQLite's one writer; on PostgreSQL the crew rows are locked first), so two
//! dispatchers adding shifts at once never leave a crew with overlapping shifts.

use super::dispatch::Alert;
use super::outbox::write_wake;
use super::{Db, DbError, Tx, on_pool, on_tx};
use serde::Serialize;
use sync_core::Millis;

/// A stored shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Shift {
    /// Id.
    pub id: i64,
    /// Crew.
    pub crew: String,
    /// Start (ms since the epoch, inclusive).
    pub starts_at: i64,
    /// End (ms since the epoch, exclusive).
    pub ends_at: i64,
    /// Who entered it (a login, or `cli`).
    pub created_by: String,
}

/// A shift to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShift {
    /// Crew.
    pub crew: String,
    /// Start (inclusive).
    pub starts_at: Millis,
    /// End (exclusive).
    pub ends_at: Millis,
}

/// What the duty rule reads about one crew at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DutyFacts {
    /// The crew's duty switch (its latest toggle, or what an administrator set).
    pub switch: bool,
    /// When the latest manual toggle was made, if any.
    pub toggled_at: Option<Millis>,
    /// Whether the crew has any shift at all (a crew without a roster goes by its switch).
    pub has_roster: bool,
    /// Whether a shift covers the instant.
    pub rostered: bool,
    /// The latest shift start or end at or before the instant.
    pub last_boundary: Option<Millis>,
}

/// The SQL columns of [`DutyFacts`] for the crew aliased `c` at instant `$n`.
pub(crate) fn duty_columns(now: &str) -> String {
    format!(
        "c.on_duty,
         (SELECT MAX(t.at) FROM duty_toggles t WHERE t.crew = c.id),
         (SELECT COUNT(*) FROM roster_shifts r WHERE r.crew = c.id),
         (SELECT COUNT(*) FROM roster_shifts r
           WHERE r.crew = c.id AND r.starts_at <= {now} AND r.ends_at > {now}),
         (SELECT MAX(CASE WHEN r.ends_at <= {now} THEN r.ends_at ELSE r.starts_at END)
            FROM roster_shifts r WHERE r.crew = c.id AND r.starts_at <= {now})"
    )
}

/// The tuple [`duty_columns`] read into.
pub(crate) type DutyTuple = (bool, Option<i64>, i64, i64, Option<i64>);

pub(crate) fn duty_of(t: DutyTuple) -> DutyFacts {
    let (switch, toggled_at, shifts, covering, last_boundary) = t;
    DutyFacts {
        switch,
        toggled_at,
        has_roster: shifts > 0,
        rostered: covering > 0,
        last_boundary,
    }
}

/// A crew's id and its [`DutyTuple`].
type DutyRow = (String, bool, Option<i64>, i64, i64, Option<i64>);

/// The duty facts of every crew at `now` (retired ones included), by crew id.
pub async fn duty_facts(db: &Db, now: Millis) -> Result<Vec<(String, DutyFacts)>, DbError> {
    let sql = format!(
        "SELECT c.id, {} FROM crews c ORDER BY c.id",
        duty_columns("$1")
    );
    let rows: Vec<DutyRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(now).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .map(|(id, a, b, c, d, e)| (id, duty_of((a, b, c, d, e))))
        .collect())
}

/// Records a crew member's duty toggle (kept with who, device and when) and sets the
/// crew's switch, in one transaction; false if there is no such crew.
pub async fn toggle(
    db: &Db,
    crew: &str,
    on_duty: bool,
    by_user: &str,
    device: Option<&str>,
    at: Millis,
) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => sqlx::query("UPDATE crews SET on_duty = $1 WHERE id = $2")
        .bind(on_duty)
        .bind(crew)
        .execute(c)
        .await?
        .rows_affected());
    if done == 0 {
        return Ok(false);
    }
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO duty_toggles (crew, on_duty, by_user, device, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(crew)
    .bind(on_duty)
    .bind(by_user)
    .bind(device)
    .bind(at)
    .execute(c)
    .await?
    .rows_affected());
    tx.commit().await?;
    Ok(true)
}

/// A kept duty toggle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Toggle {
    /// Crew.
    pub crew: String,
    /// On (true) or off.
    pub on_duty: bool,
    /// The user who toggled.
    pub by_user: String,
    /// From which device.
    pub device: Option<String>,
    /// When (ms since the epoch).
    pub at: i64,
}

/// A crew's toggles, newest first, at most `limit`.
pub async fn toggles(db: &Db, crew: &str, limit: i64) -> Result<Vec<Toggle>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT crew, on_duty, by_user, device, at FROM duty_toggles WHERE crew = $1
         ORDER BY id DESC LIMIT $2",
    )
    .bind(crew)
    .bind(limit)
    .fetch_all(pool)
    .await?))
}

const SHIFT: &str = "id, crew, starts_at, ends_at, created_by";

/// Shifts overlapping `[from, to)`, of every crew (`crews` empty) or of `crews`, by crew
/// and start.
pub async fn shifts_between(
    db: &Db,
    from: Millis,
    to: Millis,
    crews: &[String],
) -> Result<Vec<Shift>, DbError> {
    let filter = if crews.is_empty() {
        String::new()
    } else {
        format!(
            " AND crew IN ({})",
            (3..3 + crews.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let sql = format!(
        "SELECT {SHIFT} FROM roster_shifts WHERE starts_at < $2 AND ends_at > $1{filter}
         ORDER BY crew, starts_at"
    );
    let rows: Vec<Shift> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(from).bind(to);
        for c in crews {
            q = q.bind(c);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// One shift by id.
pub async fn shift(db: &Db, id: i64) -> Result<Option<Shift>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        &format!("SELECT {SHIFT} FROM roster_shifts WHERE id = $1"),
    )
    .bind(id)
    .fetch_optional(pool)
    .await?))
}

/// Deletes a shift; false if there was none.
pub async fn delete_shift(db: &Db, id: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM roster_shifts WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n > 0)
}

/// A new shift that overlaps one already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// Index of the new shift in the call's list.
    pub index: usize,
    /// The stored shift it overlaps.
    pub stored: Shift,
}

/// In one transaction: deletes the shifts of each `(crew, from, to)` that start within
/// `[from, to)` (an import's week replacing what was there), then stores `add` unless one
/// of them overlaps a shift left stored — then nothing is changed. Returns the new ids.
pub async fn write_shifts(
    db: &Db,
    replace: &[(String, Millis, Millis)],
    add: &[NewShift],
    by: &str,
    now: Millis,
) -> Result<Result<Vec<i64>, Overlap>, DbError> {
    let mut tx = db.begin_write().await?;
    if let Db::Postgres(_) = db {
        // Serialises writers of the same crews' shifts (the overlap check reads them).
        let mut crews: Vec<&str> = add.iter().map(|s| s.crew.as_str()).collect();
        crews.sort_unstable();
        crews.dedup();
        for c in crews {
            on_tx!(&mut tx, conn => sqlx::query("SELECT id FROM crews WHERE id = $1 FOR UPDATE")
                .bind(c)
                .fetch_optional(conn)
                .await
                .map(|_| ()))?;
        }
    }
    for (crew, from, to) in replace {
        on_tx!(&mut tx, c => sqlx::query(
            "DELETE FROM roster_shifts WHERE crew = $1 AND starts_at >= $2 AND starts_at < $3",
        )
        .bind(crew)
        .bind(from)
        .bind(to)
        .execute(c)
        .await?
        .rows_affected());
    }
    let mut ids = Vec::with_capacity(add.len());
    for (index, s) in add.iter().enumerate() {
        let clash: Option<Shift> = on_tx!(&mut tx, c => sqlx::query_as(&format!(
            "SELECT {SHIFT} FROM roster_shifts
             WHERE crew = $1 AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at LIMIT 1"
        ))
        .bind(&s.crew)
        .bind(s.starts_at)
        .bind(s.ends_at)
        .fetch_optional(c)
        .await?);
        if let Some(stored) = clash {
            // Dropping the transaction rolls it back.
            return Ok(Err(Overlap { index, stored }));
        }
        let id: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO roster_shifts (crew, starts_at, ends_at, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&s.crew)
        .bind(s.starts_at)
        .bind(s.ends_at)
        .bind(by)
        .bind(now)
        .fetch_one(c)
        .await
        .map_err(|e| super::classify(e, "shift"))?);
        ids.push(id);
    }
    tx.commit().await?;
    Ok(Ok(ids))
}

/// Shifts that started in `[since, now]` whose wake-ups are not yet written.
pub async fn started_unwoken(db: &Db, since: Millis, now: Millis) -> Result<Vec<Shift>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(&format!(
        "SELECT {SHIFT} FROM roster_shifts
         WHERE woken_at IS NULL AND starts_at >= $1 AND starts_at <= $2 ORDER BY starts_at, id"
    ))
    .bind(since)
    .bind(now)
    .fetch_all(pool)
    .await?))
}

/// Marks a shift's start woken and writes one wake-up outbox row per registered device
/// of its crew, in one transaction; false when another replica did it first.
pub async fn wake_shift(db: &Db, shift: &Shift, now: Millis) -> Result<bool, DbError> {
    let mut tx: Tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE roster_shifts SET woken_at = $1 WHERE id = $2 AND woken_at IS NULL",
    )
    .bind(now)
    .bind(shift.id)
    .execute(c)
    .await?
    .rows_affected());
    if n == 0 {
        return Ok(false);
    }
    // The outbox row's task names the shift (a wake-up carries no task content anyway);
    // no coalescing delay: the shift starts now.
    write_wake(
        &mut tx,
        &format!("shift-{}", shift.id),
        0,
        &shift.crew,
        false,
        0,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Raises a coverage gap's alert unless one was raised for the same district, skill and
/// gap start (by any replica): the mark and the alert in one transaction. True if raised.
pub async fn raise_gap_alert(
    db: &Db,
    skill: &str,
    gap_start: Millis,
    alert: &Alert,
) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO roster_gap_alerts (district, skill, starts_at, raised_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (district, skill, starts_at) DO NOTHING",
    )
    .bind(&alert.district)
    .bind(skill)
    .bind(gap_start)
    .bind(alert.created_at)
    .execute(c)
    .await?
    .rows_affected());
    if n == 0 {
        return Ok(false);
    }
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO dispatch_alerts (district, task, kind, message, created_at)
         VALUES ($1, NULL, $2, $3, $4)",
    )
    .bind(&alert.district)
    .bind(&alert.kind)
    .bind(&alert.message)
    .bind(alert.created_at)
    .execute(c)
    .await?
    .rows_affected());
    tx.commit().await?;
    Ok(true)
}

/// Every district's neighbours, as (a, b) pairs both ways.
pub async fn adjacency(db: &Db) -> Result<Vec<(String, String)>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT a, b FROM district_adjacency UNION SELECT b, a FROM district_adjacency",
    )
    .fetch_all(pool)
    .await?))
}

/// Ids of retired crews (they are on no roster's coverage).
pub async fn retired_crews(db: &Db) -> Result<Vec<String>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_scalar(
        "SELECT id FROM crews WHERE retired_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await?))
}
