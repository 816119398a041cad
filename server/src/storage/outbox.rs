//! The durable outbox (migration 0020): work a commit causes — routing a phone-filed
//! task, telling a citizen of a public status change — written as rows in the commit's
//! own transaction, then claimed, done and marked by every replica's loop
//! (`domain::outbox`).
//!
//! Which rows a commit causes is the domain's rule: the store is opened with
//! [`CommitHooks`] and calls its [`DeriveEffects`] inside each commit with what the task
//! was before ([`Prior`], from the projection row) and what it is now. A caller that
//! must store rows of its own with a task's first commit (an Open311 request and its
//! contact) hands them over as a [`CommitExtra`] (`Db::commit_with`), so they are
//! stored together with the task or not at all.
//!
//! Claims: a row is claimed with a lease (`claimed_by`, `claimed_until`); on PostgreSQL
//! the claim skips rows another replica holds locked (`FOR UPDATE SKIP LOCKED`), on
//! SQLite it runs under the one writer (`BEGIN IMMEDIATE`). A replica that dies mid-send
//! leaves its lease to expire, and the row is claimed again: delivery is at least once,
//! and the row's `key` is the idempotency key that makes it once for the citizen.

use super::citizens::TrackingRow;
use super::facts::DeriveFacts;
use super::open311::{Contact, RequestRow};
use super::{Db, DbError, Tx, classify, on_pool, on_tx};
use sync_core::Millis;
use sync_core::task::TaskView;

/// What a task was before a commit, as its projection row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prior {
    /// Status (wire name).
    pub status: String,
    /// Crew holding it.
    pub assignee: Option<String>,
}

/// Work a commit causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Route and dispatch a task a crew filed on its phone (issue 16 §13).
    Adopt,
    /// Tell the task's citizens (every live contact, each channel it has) of a public
    /// status change, named by `event` (`received`, `assigned`, `completed`, …).
    Notify(&'static str),
    /// Wake the phones of `crew` that registered for push (issue 20 §1): a change reached
    /// the crew's scope. `urgent` wake-ups skip the coalescing interval.
    Wake {
        /// The crew whose devices are woken.
        crew: String,
        /// An urgent job: sent at once, at high priority.
        urgent: bool,
    },
}

/// The domain's rule: what a commit causes, given the task before (none: a new task)
/// and after.
pub type DeriveEffects = fn(Option<&Prior>, &TaskView) -> Vec<Effect>;

/// The domain's rules a commit runs inside its transaction (`domain::commit_hooks`).
#[derive(Debug, Clone, Copy)]
pub struct CommitHooks {
    /// The task's analytics facts.
    pub facts: DeriveFacts,
    /// The outbox rows it causes.
    pub effects: DeriveEffects,
    /// The coalescing interval of wake-ups, ms: at most one non-urgent wake-up per device
    /// per interval (a later one waits for the interval's end; none is dropped).
    pub wake_every_ms: Millis,
}

/// A contact to store with a task's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// The task id, a supporter's tracking code or an update id.
    pub reference: String,
    /// `request`, `support` or `update`.
    pub kind: String,
    /// The task it follows.
    pub task: String,
    /// The details.
    pub contact: Contact,
}

/// An escalation timer armed in a task's first commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    /// What it watches.
    pub kind: super::dispatch::TimerKind,
    /// When it fires (ms since the epoch).
    pub due_at: Millis,
    /// The crew it is armed for (ack timers).
    pub crew: Option<String>,
}

/// Where a citizen's report came from (`citizen_reports`), stored with its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOrigin {
    /// The report's kind (`request`, `violation`).
    pub kind: String,
    /// The channel (`open311`, `web`, …).
    pub channel: String,
    /// The citizen's language.
    pub lang: String,
}

/// Rows stored in a task commit's transaction besides the document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitExtra {
    /// Tracking codes issued with the task (a taken code fails the commit: with 60
    /// random bits, next to never).
    pub codes: Vec<TrackingRow>,
    /// An Open311 request's row.
    pub request: Option<RequestRow>,
    /// Contacts of the task's citizens (stored before the commit's notifications are
    /// written, so the first notification already reaches them).
    pub contacts: Vec<NewContact>,
    /// Timers armed with the task (its completion deadline): a task is never stored
    /// without the timer that watches it.
    pub timers: Vec<NewTimer>,
    /// Where a citizen's report came from.
    pub origin: Option<ReportOrigin>,
    /// The reporter's caller hash (their phone number, keyed): linked to the reporter's
    /// tracking code in `caller_reports`, so the call centre's desk finds the report by
    /// the number from the moment it exists.
    pub caller: Option<String>,
}

impl CommitExtra {
    /// Nothing extra.
    pub fn none() -> CommitExtra {
        CommitExtra::default()
    }
}

/// One claimed outbox row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Idempotency key.
    pub key: String,
    /// `adopt`, `email` or `sms`.
    pub kind: String,
    /// The task.
    pub task: String,
    /// The contact (`open311_contacts.ref`) of a notification.
    pub contact: Option<String>,
    /// The public status change of a notification; `urgent` or `sync` for a wake-up.
    pub event: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When the commit wrote it.
    pub created_at: i64,
    /// The device a wake-up is for.
    pub device: Option<String>,
}

/// A row given up on.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct DeadRow {
    /// Row id.
    pub id: i64,
    /// `adopt`, `email` or `sms`.
    pub kind: String,
    /// The task.
    pub task: String,
    /// The public status change of a notification.
    pub event: Option<String>,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the commit wrote it (ms since the epoch).
    pub created_at: i64,
    /// When it was given up (ms since the epoch).
    pub done_at: Option<i64>,
}

/// How many rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting or being worked on.
    pub pending: u64,
    /// Done.
    pub sent: u64,
    /// Nothing to do.
    pub skipped: u64,
    /// Given up.
    pub dead: u64,
}

const ROW: &str = "id, key, kind, task, contact, event, attempts, created_at, device";

/// What the task was before this commit (its projection row), inside the commit.
pub(crate) async fn prior(tx: &mut Tx, task: &str) -> Result<Option<Prior>, DbError> {
    let row: Option<(String, Option<String>)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT status, assignee FROM tasks WHERE id = $1",
    )
    .bind(task)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|(status, assignee)| Prior { status, assignee }))
}

/// Writes a commit's extra rows, inside the commit of `task`: on PostgreSQL in one
/// statement ([`write_extra_pg`]), on SQLite (in-process, no round trips) one insert
/// each.
pub(crate) async fn write_extra(
    tx: &mut Tx,
    task: &str,
    extra: &CommitExtra,
    now: Millis,
) -> Result<(), DbError> {
    if *extra == CommitExtra::default() {
        return Ok(());
    }
    if let Tx::Postgres(t) = tx {
        return write_extra_pg(t, task, extra, now).await;
    }
    for t in &extra.codes {
        super::citizens::insert_tracking_code_tx(tx, t).await?;
    }
    if let Some(r) = &extra.request {
        super::open311::insert_request_tx(tx, r).await?;
    }
    for n in &extra.contacts {
        super::open311::insert_contact_tx(tx, n, now).await?;
    }
    for t in &extra.timers {
        super::dispatch::arm_timer_tx(tx, task, t.kind, t.due_at, t.crew.as_deref()).await?;
    }
    if let Some(o) = &extra.origin {
        super::messages::insert_report_origin_tx(tx, task, &o.kind, &o.channel, &o.lang, now)
            .await?;
    }
    if let Some(caller) = &extra.caller {
        for t in extra.codes.iter().filter(|t| t.role == "reporter") {
            super::callcentre::link_tx(tx, caller, &t.code, task, now).await?;
        }
    }
    Ok(())
}

/// PostgreSQL: the tracking codes, the Open311 request, the contacts, the timers, the
/// report's origin and the reporter's caller link as data-modifying CTEs of one statement — one round trip instead of
/// five for an Open311 POST (issue 21). The same inserts as the SQLite path (each
/// table's own function), with the lists as arrays. The statement answers whether the
/// request row was written: not when its key was revoked
/// ([`super::open311::insert_request_tx`]).
async fn write_extra_pg(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    task: &str,
    extra: &CommitExtra,
    now: Millis,
) -> Result<(), DbError> {
    const SQL: &str = "WITH
      codes AS (
        INSERT INTO tracking_codes (code, task, role, created_at)
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])),
      request AS (
        INSERT INTO open311_requests (task, token, key_name, attributes, media_url, created_at)
        SELECT $5, $6, $7, $8, $9, $10
        WHERE $5::text IS NOT NULL AND (NOT $11 OR EXISTS (
          SELECT 1 FROM open311_keys WHERE name = $7 AND revoked_at IS NULL))
        RETURNING 1),
      contacts AS (
        INSERT INTO open311_contacts (ref, kind, task, email, first_name, last_name, phone,
                                      device_id, account_id, lang, created_at)
        SELECT *, $28 FROM UNNEST($12::text[], $13::text[], $14::text[], $15::text[],
                                  $16::text[], $17::text[], $18::text[], $19::text[],
                                  $20::text[], $21::text[])
        ON CONFLICT (ref) DO NOTHING),
      timers AS (
        INSERT INTO dispatch_timers (task, kind, due_at, crew)
        SELECT $29, * FROM UNNEST($22::text[], $23::bigint[], $24::text[])
        ON CONFLICT (task, kind) DO UPDATE SET due_at = excluded.due_at, crew = excluded.crew,
            claimed_by = NULL, claimed_until = NULL, done_at = NULL),
      origin AS (
        INSERT INTO citizen_reports (task, kind, channel, lang, created_at)
        SELECT $29, $25, $26, $27, $28 WHERE $25::text IS NOT NULL
        ON CONFLICT (task) DO NOTHING),
      callers AS (
        INSERT INTO caller_reports (code, caller, task, created_at)
        SELECT u.code, $30, $29, $28 FROM UNNEST($1::text[], $3::text[]) AS u(code, role)
        WHERE $30::text IS NOT NULL AND u.role = 'reporter'
        ON CONFLICT (code) DO NOTHING)
    SELECT $5::text IS NULL OR EXISTS (SELECT 1 FROM request)";
    let codes = &extra.codes;
    let r = extra.request.as_ref();
    let cs = &extra.contacts;
    let col = |f: fn(&NewContact) -> Option<String>| cs.iter().map(f).collect::<Vec<_>>();
    let ts = &extra.timers;
    let o = extra.origin.as_ref();
    let written: bool = sqlx::query_scalar(SQL)
        .bind(codes.iter().map(|t| t.code.as_str()).collect::<Vec<_>>())
        .bind(codes.iter().map(|t| t.task.as_str()).collect::<Vec<_>>())
        .bind(codes.iter().map(|t| t.role.as_str()).collect::<Vec<_>>())
        .bind(codes.iter().map(|t| t.created_at).collect::<Vec<_>>())
        .bind(r.map(|r| r.task.as_str()))
        .bind(r.map(|r| r.token.as_str()))
        .bind(r.map(|r| r.key_name.as_str()))
        .bind(r.map(|r| r.attributes.as_str()))
        .bind(r.and_then(|r| r.media_url.as_deref()))
        .bind(r.map(|r| r.created_at))
        .bind(r.is_some_and(|r| r.live_key))
        .bind(col(|n| Some(n.reference.clone())))
        .bind(col(|n| Some(n.kind.clone())))
        .bind(col(|n| Some(n.task.clone())))
        .bind(col(|n| n.contact.email.clone()))
        .bind(col(|n| n.contact.first_name.clone()))
        .bind(col(|n| n.contact.last_name.clone()))
        .bind(col(|n| n.contact.phone.clone()))
        .bind(col(|n| n.contact.device_id.clone()))
        .bind(col(|n| n.contact.account_id.clone()))
        .bind(col(|n| n.contact.lang.clone()))
        .bind(ts.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>())
        .bind(ts.iter().map(|t| t.due_at).collect::<Vec<_>>())
        .bind(ts.iter().map(|t| t.crew.as_deref()).collect::<Vec<_>>())
        .bind(o.map(|o| o.kind.as_str()))
        .bind(o.map(|o| o.channel.as_str()))
        .bind(o.map(|o| o.lang.as_str()))
        .bind(now)
        .bind(task)
        .bind(extra.caller.as_deref())
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| classify(e, "the commit's rows"))?;
    if !written {
        return Err(DbError::NotFound(super::open311::REVOKED_KEY.into()));
    }
    Ok(())
}

/// A notification's rows: one per live contact of the task and channel it has; the key
/// is `event:task:seq:channel:ref`.
const NOTIFY_CONTACTS: &str =
    "INSERT INTO outbox (key, kind, task, contact, event, due_at, created_at)
     SELECT $1 || ch.kind || ':' || c.ref, ch.kind, c.task, c.ref, $2, $3, $3
     FROM open311_contacts c
     JOIN (SELECT 'email' AS kind UNION ALL SELECT 'sms' UNION ALL SELECT 'webpush') ch
       ON (ch.kind = 'email' AND c.email IS NOT NULL)
       OR (ch.kind = 'sms' AND c.phone IS NOT NULL)
       OR (ch.kind = 'webpush' AND c.webpush IS NOT NULL)
     WHERE c.task = $4 AND c.unsubscribed_at IS NULL AND c.kind IN ('request', 'support')
     ON CONFLICT (key) DO NOTHING";

/// Writes the outbox rows of a commit's effects, inside the commit. A notification
/// becomes one row per live contact of the task and channel it has (none without one);
/// its key names the commit, so it is written once.
pub(crate) async fn write_effects(
    tx: &mut Tx,
    task: &str,
    seq: i64,
    effects: &[Effect],
    wake_every_ms: Millis,
    now: Millis,
) -> Result<(), DbError> {
    for e in effects {
        match e {
            Effect::Adopt => {
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO outbox (key, kind, task, due_at, created_at)
                     VALUES ($1, 'adopt', $2, $3, $3) ON CONFLICT (key) DO NOTHING",
                )
                .bind(format!("adopt:{task}"))
                .bind(task)
                .bind(now)
                .execute(c)
                .await
                .map(|_| ()))
                .map_err(|e| classify(e, "outbox row"))?;
            }
            Effect::Notify(event) => {
                // Contacts of those who follow the task (its reporter and supporters), one
                // row per channel each has: one statement for the three channels.
                on_tx!(tx, c => sqlx::query(NOTIFY_CONTACTS)
                    .bind(format!("{event}:{task}:{seq}:"))
                    .bind(*event)
                    .bind(now)
                    .bind(task)
                    .execute(c)
                    .await
                    .map(|_| ()))
                .map_err(|e| classify(e, "outbox row"))?;
            }
            Effect::Wake { crew, urgent } => {
                write_wake(tx, task, seq, crew, *urgent, wake_every_ms, now).await?;
            }
        }
    }
    Ok(())
}

/// One wake-up row per registered device of `crew`'s members (enabled users). Coalesced:
/// a device that already has a wake-up waiting (not yet claimed) gets no other; else a
/// non-urgent one is due no sooner than `wake_every_ms` after the device's latest. An
/// urgent one is due now, always.
pub(crate) async fn write_wake(
    tx: &mut Tx,
    task: &str,
    seq: i64,
    crew: &str,
    urgent: bool,
    wake_every_ms: Millis,
    now: Millis,
) -> Result<(), DbError> {
    let last = "(SELECT MAX(o.due_at) FROM outbox o WHERE o.kind = 'wake' AND o.device = p.device)";
    let (event, due, waiting) = if urgent {
        ("urgent", "$4".to_owned(), "")
    } else {
        (
            "sync",
            // NULL (no earlier wake-up) + interval is NULL: due now.
            format!("CASE WHEN {last} + $6 > $4 THEN {last} + $6 ELSE $4 END"),
            "AND NOT EXISTS (SELECT 1 FROM outbox o
                             WHERE o.kind = 'wake' AND o.device = p.device AND o.state = 'pending'
                               AND (o.claimed_until IS NULL OR o.claimed_until < $4))",
        )
    };
    let sql = format!(
        "INSERT INTO outbox (key, kind, task, device, event, due_at, created_at)
         SELECT $1 || p.device, 'wake', $2, p.device, $3, {due}, $4
         FROM push_registrations p
         JOIN users u ON u.id = p.user_id
         WHERE u.crew = $5 AND NOT u.disabled {waiting}
         ON CONFLICT (key) DO NOTHING"
    );
    on_tx!(tx, c => {
        let q = sqlx::query(&sql)
            .bind(format!("wake:{task}:{seq}:{crew}:"))
            .bind(task)
            .bind(event)
            .bind(now)
            .bind(crew);
        // PostgreSQL refuses a parameter the statement does not use.
        let q = if urgent { q } else { q.bind(wake_every_ms) };
        q.execute(c).await.map(|_| ())
    })
    .map_err(|e| classify(e, "outbox row"))?;
    Ok(())
}

/// Claims up to `limit` due rows for `replica` until `now + lease_ms`.
pub async fn claim(
    db: &Db,
    replica: &str,
    now: Millis,
    lease_ms: Millis,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    let skip = match db {
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Db::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2
         WHERE id IN (SELECT id FROM outbox
                      WHERE state = 'pending' AND due_at <= $3
                        AND (claimed_until IS NULL OR claimed_until < $3)
                      ORDER BY due_at, id LIMIT $4{skip})
         RETURNING {ROW}"
    );
    let mut tx = db.begin_write().await?;
    let mut rows: Vec<OutboxRow> = on_tx!(&mut tx, c => sqlx::query_as(&sql)
        .bind(replica)
        .bind(now.saturating_add(lease_ms))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    tx.commit().await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Claims the row `key` if it is pending and nobody holds it (whether due or not).
pub async fn claim_key(
    db: &Db,
    key: &str,
    replica: &str,
    now: Millis,
    lease_ms: Millis,
) -> Result<Option<OutboxRow>, DbError> {
    let sql = format!(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2
         WHERE key = $3 AND state = 'pending'
           AND (claimed_until IS NULL OR claimed_until < $4)
         RETURNING {ROW}"
    );
    let mut tx = db.begin_write().await?;
    let row: Option<OutboxRow> = on_tx!(&mut tx, c => sqlx::query_as(&sql)
        .bind(replica)
        .bind(now.saturating_add(lease_ms))
        .bind(key)
        .bind(now)
        .fetch_optional(c)
        .await)?;
    tx.commit().await?;
    Ok(row)
}

/// Marks a claimed row done; false if the claim was lost (its lease expired and another
/// replica took the row over).
pub async fn mark_sent(db: &Db, id: i64, replica: &str, now: Millis) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET state = 'sent', done_at = $3, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(replica)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Marks a claimed row as needing nothing done (`why` kept as its last error).
pub async fn mark_skipped(
    db: &Db,
    id: i64,
    replica: &str,
    why: &str,
    now: Millis,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET state = 'skipped', last_error = $3, done_at = $4, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(replica)
    .bind(why)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Releases a claimed row after a failed attempt, due again at `due_at`.
pub async fn retry(
    db: &Db,
    id: i64,
    replica: &str,
    due_at: Millis,
    error: &str,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, due_at = $3, last_error = $4,
                           claimed_by = NULL, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(replica)
    .bind(due_at)
    .bind(error)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Releases a claimed row without counting an attempt, due again at `due_at` (an SMS
/// held back by quiet hours).
pub async fn defer(db: &Db, id: i64, replica: &str, due_at: Millis) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET due_at = $3, claimed_by = NULL, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(replica)
    .bind(due_at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Gives a claimed row up: it stays, `dead`, in the list staff see.
pub async fn mark_dead(
    db: &Db,
    id: i64,
    replica: &str,
    error: &str,
    now: Millis,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $3,
                           done_at = $4, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(replica)
    .bind(error)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The rows given up on, newest first.
pub async fn dead(db: &Db, limit: i64) -> Result<Vec<DeadRow>, DbError> {
    let rows = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, kind, task, event, attempts, last_error, created_at, done_at
         FROM outbox WHERE state = 'dead' ORDER BY done_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?);
    Ok(rows)
}

/// How many rows are in each state.
pub async fn counts(db: &Db) -> Result<Counts, DbError> {
    let rows: Vec<(String, i64)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT state, COUNT(*) FROM outbox GROUP BY state",
    )
    .fetch_all(pool)
    .await?);
    let mut c = Counts::default();
    for (state, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        match state.as_str() {
            "pending" => c.pending = n,
            "sent" => c.sent = n,
            "skipped" => c.skipped = n,
            _ => c.dead = n,
        }
    }
    Ok(c)
}

/// A device's wake-up row, as operators (and tests) look at it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WakeRow {
    /// Row id.
    pub id: i64,
    /// The task whose change caused it (never sent to a provider).
    pub task: String,
    /// `urgent` or `sync`.
    pub event: Option<String>,
    /// `pending`, `sent`, `skipped` or `dead`.
    pub state: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When it is (or was) due.
    pub due_at: i64,
    /// The last failure, or why it was skipped.
    pub last_error: Option<String>,
}

/// The wake-up rows of `device`, oldest first.
pub async fn wakes_of(db: &Db, device: &str) -> Result<Vec<WakeRow>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT id, task, event, state, attempts, due_at, last_error FROM outbox
         WHERE kind = 'wake' AND device = $1 ORDER BY id",
    )
    .bind(device)
    .fetch_all(pool)
    .await?))
}
