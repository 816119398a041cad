//! The call centre's tables (migration 0032), on either backend: `caller_reports` (which
//! tracking codes a hashed caller holds), `desk_calls` (the call log, closed by the
//! operator or by the timeout sweep), and the counts the managers' call charts read
//! (calls, reports by channel). The same SQL runs on SQLite and PostgreSQL.
//!
//! A citizen's report filed with a phone number (the report page, Open311, the desk) is
//! linked inside the commit that stores it ([`link_tx`], from
//! [`super::outbox::CommitExtra::caller`] and [`super::messages::insert`]); the links and
//! the call log's hashes leave with the citizens' contacts ([`sweep_links`],
//! [`sweep_calls`]).

use crate::storage::{Db, DbError, Tx, classify, on_pool, on_tx};

const LINK: &str = "INSERT INTO caller_reports (code, caller, task, created_at) \
                    VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING";

/// Links a caller (hash, hex) to a tracking code they hold on `task`. Linking a code
/// twice keeps the first link.
pub async fn link(db: &Db, caller: &str, code: &str, task: &str, at: i64) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(LINK)
    .bind(code)
    .bind(caller)
    .bind(task)
    .bind(at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// [`link`] inside a transaction (the commit that stores the report and its code).
pub(crate) async fn link_tx(
    tx: &mut Tx,
    caller: &str,
    code: &str,
    task: &str,
    at: i64,
) -> Result<(), DbError> {
    on_tx!(tx, c => sqlx::query(LINK)
        .bind(code)
        .bind(caller)
        .bind(task)
        .bind(at)
        .execute(c)
        .await
        .map(|_| ()))
    .map_err(|e| classify(e, "caller link"))
}

/// Forgets the links of codes on reports closed before `closed_before` (tasks by their
/// facts' `closed_at`, messages by their answer): the contacts' retention rule applied
/// to the desk's links. Returns how many.
pub async fn sweep_links(db: &Db, closed_before: i64) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => sqlx::query(
        "DELETE FROM caller_reports WHERE task IN ( \
           SELECT id FROM task_facts WHERE closed_at IS NOT NULL AND closed_at < $1 \
           UNION ALL \
           SELECT id FROM citizen_messages WHERE answered_at IS NOT NULL AND answered_at < $1)",
    )
    .bind(closed_before)
    .execute(pool)
    .await?
    .rows_affected()))
}

/// Forgets the caller's hash of calls started before `before` (the call itself stays,
/// counted in the figures); returns how many.
pub async fn sweep_calls(db: &Db, before: i64) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => sqlx::query(
        "UPDATE desk_calls SET caller = NULL WHERE caller IS NOT NULL AND started_at < $1",
    )
    .bind(before)
    .execute(pool)
    .await?
    .rows_affected()))
}

/// A code a caller holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallerCode {
    /// The tracking code, normalised.
    pub code: String,
    /// The task or message it was issued on.
    pub task: String,
    /// When the link was made (ms).
    pub created_at: i64,
}

/// The codes `caller` holds, newest first, at most `limit`.
pub async fn codes_of_caller(
    db: &Db,
    caller: &str,
    limit: i64,
) -> Result<Vec<CallerCode>, DbError> {
    let rows: Vec<CallerCode> = on_pool!(db, pool => sqlx::query_as(
        "SELECT code, task, created_at FROM caller_reports WHERE caller = $1 \
         ORDER BY created_at DESC, code LIMIT $2",
    )
    .bind(caller)
    .bind(limit)
    .fetch_all(pool)
    .await?);
    Ok(rows)
}

/// The caller holding `code`, if the desk linked one.
pub async fn caller_of_code(db: &Db, code: &str) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT caller FROM caller_reports WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?);
    Ok(row.map(|r| r.0))
}

/// Forgets the link of `code` (the citizen erased their contact).
pub async fn unlink(db: &Db, code: &str) -> Result<u64, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query("DELETE FROM caller_reports WHERE code = $1")
        .bind(code)
        .execute(pool)
        .await?
        .rows_affected()),
    )
}

/// Forgets every link of codes on `task` (the reporter's contact on it was erased).
pub async fn unlink_task(db: &Db, task: &str) -> Result<u64, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query("DELETE FROM caller_reports WHERE task = $1")
        .bind(task)
        .execute(pool)
        .await?
        .rows_affected()),
    )
}

/// One row of `desk_calls`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallRow {
    /// `C-` and 12 hex digits.
    pub id: String,
    /// The operator's user id.
    pub operator: String,
    /// The caller's hash, once known.
    pub caller: Option<String>,
    /// When the call started (ms).
    pub started_at: i64,
    /// When it ended (ms).
    pub ended_at: Option<i64>,
    /// How it ended.
    pub outcome: Option<String>,
    /// What it was about (a tracking code, a district, a task).
    pub about: Option<String>,
    /// `operator` or `timeout`.
    pub closed_by: Option<String>,
}

const CALL_COLUMNS: &str = "id, operator, caller, started_at, ended_at, outcome, about, closed_by";

/// Stores a new call.
pub async fn insert_call(db: &Db, c: &CallRow) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO desk_calls (id, operator, caller, started_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&c.id)
    .bind(&c.operator)
    .bind(&c.caller)
    .bind(c.started_at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The call `id`.
pub async fn call(db: &Db, id: &str) -> Result<Option<CallRow>, DbError> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM desk_calls WHERE id = $1");
    let row: Option<CallRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    Ok(row)
}

/// Sets the caller of open call `id` (the first one found during the call wins).
pub async fn set_caller(db: &Db, id: &str, caller: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE desk_calls SET caller = $1 WHERE id = $2 AND caller IS NULL AND ended_at IS NULL",
    )
    .bind(caller)
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Ends open call `id`; false if it was already ended.
pub async fn end_call(
    db: &Db,
    id: &str,
    outcome: &str,
    about: Option<&str>,
    ended_at: i64,
    closed_by: &str,
) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE desk_calls SET ended_at = $1, outcome = $2, about = $3, closed_by = $4 \
         WHERE id = $5 AND ended_at IS NULL",
    )
    .bind(ended_at)
    .bind(outcome)
    .bind(about)
    .bind(closed_by)
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Closes every call started before `before` and never ended, as abandoned by the
/// timeout, ending it at `started_at + timeout_ms`; returns how many.
pub async fn close_stale(db: &Db, before: i64, timeout_ms: i64) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => sqlx::query(
        "UPDATE desk_calls SET ended_at = started_at + $1, outcome = 'abandoned', \
         closed_by = 'timeout' WHERE ended_at IS NULL AND started_at < $2",
    )
    .bind(timeout_ms)
    .bind(before)
    .execute(pool)
    .await?
    .rows_affected()))
}

/// The calls started in `[lo, hi)`, oldest first.
pub async fn calls_between(db: &Db, lo: i64, hi: i64) -> Result<Vec<CallRow>, DbError> {
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM desk_calls WHERE started_at >= $1 AND started_at < $2 \
         ORDER BY started_at, id"
    );
    let rows: Vec<CallRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(lo).bind(hi).fetch_all(pool).await?);
    Ok(rows)
}

/// Reports created in `[lo, hi)` by channel: field reports by their task's source (and
/// a citizen's by the channel it came through), messages by theirs. Rows are
/// `(channel, count)` with channels `call_centre`, `web`, `open311`, `crew`,
/// `dispatcher`, `other`.
pub async fn reports_by_channel(db: &Db, lo: i64, hi: i64) -> Result<Vec<(String, i64)>, DbError> {
    let rows: Vec<(String, i64)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT channel, COUNT(*) FROM ( \
           SELECT CASE \
             WHEN f.source = 'citizen' THEN COALESCE(r.channel, 'open311') \
             WHEN f.source IN ('call_centre', 'crew', 'dispatcher') THEN f.source \
             ELSE 'other' END AS channel \
           FROM task_facts f LEFT JOIN citizen_reports r ON r.task = f.id \
           WHERE f.created_at >= $1 AND f.created_at < $2 \
           UNION ALL \
           SELECT channel FROM citizen_messages WHERE created_at >= $1 AND created_at < $2 \
         ) x GROUP BY channel ORDER BY channel",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(pool)
    .await?);
    Ok(rows)
}

/// A task as the desk lists it (from the projection).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskLine {
    /// Task id.
    pub id: String,
    /// The citizen's kind of message (`request`, `violation`), if a citizen filed it.
    pub kind: Option<String>,
    /// Service code.
    pub category: String,
    /// Title.
    pub title: String,
    /// Status (wire name).
    pub status: String,
    /// District code.
    pub district: Option<String>,
    /// When created (ms).
    pub created_at: i64,
}

/// The tasks `ids` that exist, in no order.
pub async fn task_lines(db: &Db, ids: &[&str]) -> Result<Vec<TaskLine>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT t.id, r.kind, t.category, t.title, t.status, t.district, t.created_at \
         FROM tasks t LEFT JOIN citizen_reports r ON r.task = t.id WHERE t.id IN ({})",
        super::citizens::placeholders(1, ids.len())
    );
    let rows: Vec<TaskLine> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// A message as the desk lists it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageLine {
    /// Message id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// The citizen's words.
    pub body: String,
    /// The district it is about.
    pub district: Option<String>,
    /// When filed (ms).
    pub created_at: i64,
    /// When answered (ms).
    pub answered_at: Option<i64>,
}

/// The messages `ids` that exist, in no order.
pub async fn message_lines(db: &Db, ids: &[&str]) -> Result<Vec<MessageLine>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, kind, body, district, created_at, answered_at FROM citizen_messages \
         WHERE id IN ({})",
        super::citizens::placeholders(1, ids.len())
    );
    let rows: Vec<MessageLine> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// Every district's name by code.
pub async fn district_names(db: &Db) -> Result<std::collections::HashMap<String, String>, DbError> {
    let rows: Vec<(String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT code, name FROM districts",
    )
    .fetch_all(pool)
    .await?);
    Ok(rows.into_iter().collect())
}
