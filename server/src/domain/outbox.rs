//! The durable outbox's rules and its loop (rows: `storage::outbox`).
//!
//! - [`effects`]: what a commit causes, run by the store inside the commit (the
//!   [`crate::storage::outbox::CommitHooks`]): a task a crew filed on its phone gets an
//!   `adopt` row (route and dispatch it: issue 16 §13), and a public status change —
//!   received, assigned ("a crew is on it"), completed, reopened, merged, cancelled —
//!   gets a notification row per contact and channel of the task's citizens.
//! - [`run_loop`]: every replica claims due rows ([`tick_once`]) every tick — and at once
//!   when a commit wrote an urgent wake-up (`Db::outbox_nudge`) — does each, and marks
//!   it sent; a failure is retried after a doubling delay and, after
//!   [`OutboxSettings::max_attempts`], kept as dead (`GET /api/v1/outbox/dead`). A row
//!   that cannot succeed (a point outside every district) is dead at once. The first
//!   tick runs at start, so rows left by a stopped server are swept up then (a row a
//!   killed replica had claimed waits for its lease to expire).
//! - The loop also runs the contacts' retention sweep (`citizen::contacts::sweep`) at
//!   start and every ten minutes.
//! - [`adopt_now`]: the sync host runs a new phone task's `adopt` row at once after the
//!   commit, instead of waiting for the next tick; the row stays the durable record.

use crate::base::config::outbox::OutboxConfig;
use crate::base::time::now_millis;
use crate::domain::citizen::contacts;
use crate::domain::dispatch::{Dispatch, DispatchError};
use crate::domain::districts::GeoError;
use crate::domain::intake;
use crate::domain::notify::{self, Channels, NotifyError};
use crate::domain::push::{self, Pushers};
use crate::storage::outbox::{self as rows, Effect, OutboxRow, Prior};
use std::sync::Arc;
use std::time::Duration;
use sync_core::DocId;
use sync_core::task::{EventKind, Priority, Status, TaskView};

/// Rows claimed per tick.
const BATCH: i64 = 32;
/// How often the contacts' retention sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The longest delay between two attempts.
const MAX_DELAY_MS: i64 = 60 * 60 * 1000;

/// How the loop works (from `[outbox]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// How often to look for due rows.
    pub tick_ms: u64,
    /// A claim's lease.
    pub lease_ms: i64,
    /// Attempts before a row is dead.
    pub max_attempts: u32,
    /// The first retry's delay.
    pub retry_ms: i64,
}

impl OutboxSettings {
    /// From the configuration.
    pub fn from_config(c: &OutboxConfig) -> OutboxSettings {
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        OutboxSettings {
            tick_ms: c.tick_ms.max(10),
            lease_ms: ms(c.lease_secs.max(1)),
            max_attempts: c.max_attempts.max(1),
            retry_ms: ms(c.retry_secs),
        }
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failures.
    pub fn delay_ms(&self, attempts: u32) -> i64 {
        let factor = 1i64 << attempts.min(20);
        self.retry_ms.saturating_mul(factor).min(MAX_DELAY_MS)
    }
}

/// What the loop needs: the task lifecycle (for `adopt` and the tasks' views), the
/// notification channels and its settings.
pub struct Outbox {
    /// The task lifecycle on this replica.
    pub dispatch: Arc<Dispatch>,
    /// The configured channels.
    pub channels: Channels,
    /// The configured push services (crews' wake-ups).
    pub pushers: Pushers,
    /// The loop's settings.
    pub settings: OutboxSettings,
    /// The public base URL links in messages start with (no trailing `/`).
    pub base_url: String,
    /// The SMS quiet hours (minutes after local midnight: start, end), if any.
    pub quiet: Option<(u16, u16)>,
    /// The city's zone, which the quiet hours are in.
    pub zone: jiff::tz::TimeZone,
    /// Days after a report closed that its contacts are erased.
    pub retention_days: u64,
}

/// The commit hook: see the module docs.
pub fn effects(prior: Option<&Prior>, view: &TaskView) -> Vec<Effect> {
    let mut out = notifications(prior, view);
    out.extend(wakes(prior, view));
    out
}

/// The citizens' notifications a commit causes (and a phone task's `adopt`).
fn notifications(prior: Option<&Prior>, view: &TaskView) -> Vec<Effect> {
    let now = view.derived.status;
    let Some(prior) = prior else {
        let mut out = vec![Effect::Notify("received")];
        if !routed(view) {
            out.push(Effect::Adopt);
        }
        return out;
    };
    let Some(before) = Status::parse(&prior.status) else {
        return Vec::new();
    };
    if before == now {
        return Vec::new();
    }
    let event = match now {
        Status::Assigned if matches!(before, Status::New | Status::Queued | Status::Reopened) => {
            "assigned"
        }
        Status::Completed if before != Status::Verified => "completed",
        Status::Verified if before != Status::Completed => "completed",
        Status::Reopened => "reopened",
        Status::Duplicate => "merged",
        Status::Cancelled => "cancelled",
        _ => return Vec::new(),
    };
    vec![Effect::Notify(event)]
}

/// The crews' phones a commit must wake (issue 20 §1): the crew a task was just assigned
/// to (an assignment, a reassignment, an escalation to the next crew) — urgent for an
/// urgent task — and the crew it was taken from (reassigned away, cancelled while held),
/// whose phone should drop it from its list. Whether a device is connected is decided
/// when the row is sent (`push::deliver`): the commit cannot know which replica holds
/// which socket.
fn wakes(prior: Option<&Prior>, view: &TaskView) -> Vec<Effect> {
    let new = view.derived.assignee.as_deref();
    let old = prior.and_then(|p| p.assignee.as_deref());
    let mut out = Vec::new();
    if let Some(crew) = new
        && new != old
    {
        out.push(Effect::Wake {
            crew: crew.to_owned(),
            urgent: view.derived.priority == Priority::Urgent,
        });
    }
    if let Some(crew) = old
        && new != old
    {
        out.push(Effect::Wake {
            crew: crew.to_owned(),
            urgent: false,
        });
    }
    out
}

fn routed(view: &TaskView) -> bool {
    view.timeline
        .iter()
        .any(|e| matches!(e.event.kind, EventKind::Routed { .. }))
}

/// Runs the loop until the server shuts down.
pub fn spawn(o: Arc<Outbox>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_loop(o))
}

/// The loop of [`spawn`].
pub async fn run_loop(o: Arc<Outbox>) {
    let mut stop = o.dispatch.hub.shutdown_signal();
    let tick = Duration::from_millis(o.settings.tick_ms);
    // An urgent wake-up's commit nudges the loop: it is sent now, not at the next tick.
    let nudge = Arc::clone(o.dispatch.store.outbox_nudge());
    let mut swept_at: Option<tokio::time::Instant> = None;
    loop {
        // The contacts' retention sweep: at start, then every ten minutes.
        if swept_at.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            swept_at = Some(tokio::time::Instant::now());
            let swept = contacts::sweep(&o.dispatch.store, o.retention_days, now_millis()).await;
            if let Err(e) = swept {
                tracing::warn!(error = %e, "the contacts' retention sweep failed");
            }
        }
        match tick_once(&o).await {
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox tick failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = nudge.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Claims and does the rows due now; returns how many were claimed.
pub async fn tick_once(o: &Outbox) -> Result<usize, DispatchError> {
    let d = &o.dispatch;
    let replica = d.replica.as_str();
    let due = rows::claim(&d.store, replica, now_millis(), o.settings.lease_ms, BATCH).await?;
    let n = due.len();
    for row in due {
        let done = match row.kind.as_str() {
            "adopt" => adopt(d, &row).await,
            "wake" => push::deliver(o, &row).await,
            _ => notify::deliver(o, &row).await,
        };
        finish(d, &o.settings, &row, done).await?;
    }
    Ok(n)
}

/// How one attempt at a row ended.
#[derive(Debug)]
pub enum Done {
    /// Done.
    Sent,
    /// Nothing to do, and why.
    Skipped(String),
    /// Not now: due again at this time, no attempt counted (quiet hours).
    Deferred(i64),
    /// Failed; worth trying again.
    Failed(String),
    /// Failed; worth trying again, not before this time (a provider's `Retry-After`).
    FailedUntil(i64, String),
    /// Failed; never worth trying again.
    Fatal(String),
}

impl From<NotifyError> for Done {
    fn from(e: NotifyError) -> Done {
        if e.is_permanent() {
            Done::Fatal(e.to_string())
        } else {
            Done::Failed(e.to_string())
        }
    }
}

/// Records how an attempt ended.
async fn finish(
    d: &Dispatch,
    s: &OutboxSettings,
    row: &OutboxRow,
    done: Done,
) -> Result<(), DispatchError> {
    let replica = d.replica.as_str();
    let now = now_millis();
    let attempts = u32::try_from(row.attempts).unwrap_or(0);
    metrics::counter!("tarmim_outbox_attempts_total", "kind" => row.kind.clone(),
    "outcome" => match &done {
        Done::Sent => "sent",
        Done::Skipped(_) => "skipped",
        Done::Deferred(_) => "deferred",
        Done::Failed(_) | Done::FailedUntil(..) => "failed",
        Done::Fatal(_) => "fatal",
    })
    .increment(1);
    match done {
        Done::Sent => {
            if !rows::mark_sent(&d.store, row.id, replica, now).await? {
                tracing::warn!(id = row.id, kind = %row.kind, "outbox row done after its lease expired");
            }
        }
        Done::Skipped(why) => rows::mark_skipped(&d.store, row.id, replica, &why, now).await?,
        Done::Deferred(at) => rows::defer(&d.store, row.id, replica, at).await?,
        Done::Failed(why) if attempts + 1 < s.max_attempts => {
            // Never log a contact: the error names the channel's failure only.
            tracing::info!(id = row.id, kind = %row.kind, attempts = attempts + 1, error = %why, "outbox row failed; will retry");
            let jitter = rand::random::<u16>() as i64 % 1000;
            let at = now
                .saturating_add(s.delay_ms(attempts))
                .saturating_add(jitter);
            rows::retry(&d.store, row.id, replica, at, &why).await?;
        }
        Done::FailedUntil(not_before, why) if attempts + 1 < s.max_attempts => {
            tracing::info!(id = row.id, kind = %row.kind, attempts = attempts + 1, error = %why, "outbox row failed; will retry after the provider's Retry-After");
            let at = now.saturating_add(s.delay_ms(attempts)).max(not_before);
            rows::retry(&d.store, row.id, replica, at, &why).await?;
        }
        Done::Failed(why) | Done::FailedUntil(_, why) | Done::Fatal(why) => {
            tracing::warn!(id = row.id, kind = %row.kind, task = %row.task, error = %why, "outbox row given up (dead-letter list)");
            metrics::counter!("tarmim_outbox_dead_total", "kind" => row.kind.clone()).increment(1);
            rows::mark_dead(&d.store, row.id, replica, &why, now).await?;
        }
    }
    Ok(())
}

/// Routes and dispatches a phone-filed task ([`intake::adopt`]).
async fn adopt(d: &Dispatch, row: &OutboxRow) -> Done {
    let Ok(task) = DocId::new(row.task.clone()) else {
        return Done::Fatal(format!("not a task id: {:?}", row.task));
    };
    match intake::adopt(d, &task).await {
        Ok(_) => Done::Sent,
        Err(
            e
            @ (DispatchError::Geo(GeoError::OutsideDistricts { .. }) | DispatchError::NotFound(_)),
        ) => Done::Fatal(e.to_string()),
        Err(e) => Done::Failed(e.to_string()),
    }
}

/// Runs the `adopt` row of a task just created through sync, in the background: if
/// another replica holds it, or this fails, the loop does it later.
pub fn adopt_now(d: &Arc<Dispatch>, task: DocId) {
    let d = Arc::clone(d);
    tokio::spawn(async move {
        let key = format!("adopt:{task}");
        let s = &d.settings.outbox;
        let claimed =
            rows::claim_key(&d.store, &key, d.replica.as_str(), now_millis(), s.lease_ms).await;
        let row = match claimed {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(task = %task, error = %e, "claiming a phone task's routing failed; the outbox loop will retry");
                return;
            }
        };
        let done = adopt(&d, &row).await;
        if let Err(e) = finish(&d, s, &row, done).await {
            tracing::warn!(task = %task, error = %e, "recording a phone task's routing failed");
        }
    });
}

/// The rows given up on, newest first (at most `limit`), for administrators, dispatchers
/// and managers. The rows name the task and the failure, never a contact.
pub async fn dead_letters(
    d: &Dispatch,
    who: &crate::domain::identity::Identity,
    limit: u32,
) -> Result<Vec<rows::DeadRow>, DispatchError> {
    use crate::domain::identity::UserRole;
    if !matches!(
        who.role,
        UserRole::Admin | UserRole::Dispatcher | UserRole::Manager
    ) {
        return Err(DispatchError::Forbidden(
            "the dead-letter list is for administrators, dispatchers and managers".into(),
        ));
    }
    Ok(rows::dead(&d.store, i64::from(limit.clamp(1, 1000))).await?)
}
