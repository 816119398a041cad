//! Escalation timers and the loop that runs them.
//!
//! Timers are rows (`dispatch_timers`), so they survive a restart: a timer that fell due
//! while no server ran fires at the next start. Every replica runs [`run_loop`]; each
//! tick it *claims* due timers (a lease of [`LEASE_MS`]; on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`), runs them and marks them done. Two replicas never claim
//! the same timer at once; should a replica die mid-run, its lease expires and another
//! takes the timer over — and the run is idempotent anyway, because it re-checks the
//! task's state inside the compare-and-swap edit ([`super::edit`]).
//!
//! - `ack`: armed at each assignment for the assigned crew, due after the priority's
//!   acknowledgement window. If the same crew still holds the task unacknowledged, an
//!   `Escalated` event and an `Assigned` event for the next best crew (the scoring of
//!   [`super::assign`], never a crew that already had the task) are committed together,
//!   a new ack timer is armed, and the dispatchers get an `escalated` alert. With no
//!   next crew, the task stays with its crew and the alert says so.
//! - `complete`: armed at creation from the task's completion deadline. If the task is
//!   not completed by then, an `Escalated` event flags it and the dispatchers get a
//!   `late` alert.
//!
//! The events' reasons are [`super::reason::Reason`]s (the pages word them); the alerts'
//! messages stay English sentences for the logs and the English pages.

use super::Dispatch;
use super::assign::{self, Pick};
use super::reason::Reason;
use super::{DispatchError, edit};
use crate::base::time::now_millis;
use crate::storage::dispatch::{self as store, Timer, TimerKind};
use std::sync::Arc;
use std::time::Duration;
use sync_core::DocId;
use sync_core::task::{EventKind, Status};

/// How long a claimed timer is this replica's before another may take it over.
pub const LEASE_MS: i64 = 30_000;
/// Timers claimed per tick.
const BATCH: i64 = 32;

/// Runs due timers every `dispatch_tick_ms` until the server shuts down.
pub fn spawn(d: Arc<Dispatch>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_loop(d))
}

/// The loop of [`spawn`].
pub async fn run_loop(d: Arc<Dispatch>) {
    let mut stop = d.hub.shutdown_signal();
    let tick = Duration::from_millis(d.settings.tick_ms.max(10));
    loop {
        match tick_once(&d).await {
            // A full batch: there may be more due now.
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "escalation tick failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Claims and runs the timers due now; returns how many were claimed.
pub async fn tick_once(d: &Dispatch) -> Result<usize, DispatchError> {
    let replica = d.replica.as_str().to_owned();
    let now = now_millis();
    let due = store::claim_due(&d.store, &replica, now, LEASE_MS, BATCH).await?;
    let n = due.len();
    for t in due {
        match run(d, &t).await {
            Ok(()) => {}
            // Left claimed: the lease expires and it is tried again.
            Err(e) => {
                tracing::warn!(task = %t.task, kind = t.kind.as_str(), error = %e, "timer failed");
                continue;
            }
        }
        store::finish_timer(&d.store, &t, &replica, now_millis()).await?;
    }
    Ok(n)
}

/// Runs one claimed timer.
pub async fn run(d: &Dispatch, t: &Timer) -> Result<(), DispatchError> {
    let Ok(task) = DocId::new(t.task.clone()) else {
        return Ok(());
    };
    metrics::counter!("tarmim_dispatch_timers_total", "kind" => t.kind.as_str()).increment(1);
    match t.kind {
        TimerKind::Ack => unacknowledged(d, &task, t).await,
        TimerKind::Complete => late(d, &task).await,
    }
}

async fn unacknowledged(d: &Dispatch, task: &DocId, t: &Timer) -> Result<(), DispatchError> {
    let Some(crew) = t.crew.clone() else {
        return Ok(());
    };
    let (doc, _) = match edit::load(d, task).await {
        Ok(x) => x,
        Err(DispatchError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let view = doc.view()?;
    let still = |s: Status, a: Option<&str>| s == Status::Assigned && a == Some(crew.as_str());
    if !still(view.derived.status, view.derived.assignee.as_deref()) {
        return Ok(());
    }
    let Some(district) = view.derived.district.clone() else {
        return Ok(());
    };
    let had: Vec<String> = view
        .timeline
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::Assigned { crew, .. } => Some(crew.clone()),
            _ => None,
        })
        .collect();
    let pick = assign::pick(d, &district, &view.category, &view.point, &had).await?;
    let next = assign::auto_reason(&pick, &district, &view.category);
    let window_s = assign::ack_window_ms(d, &view.category, view.derived.priority).await? / 1000;
    let why = format!("crew {crew} did not acknowledge within {window_s} s");
    let reason = Reason::Unacknowledged {
        crew: crew.clone(),
        secs: window_s,
    }
    .text();
    let actor = assign::server_actor(d);
    let now = now_millis();
    let done = edit::edit(d, task, |doc, v| {
        if !still(v.derived.status, v.derived.assignee.as_deref()) {
            return Ok(None);
        }
        doc.append_event(
            &actor,
            now,
            EventKind::Escalated {
                reason: reason.clone(),
            },
        )?;
        if let Some((next_crew, next_why)) = &next {
            doc.append_event(
                &actor,
                now,
                EventKind::Assigned {
                    crew: next_crew.clone(),
                    reason: Reason::Reassigned {
                        crew: crew.clone(),
                        secs: window_s,
                        then: Box::new(next_why.clone()),
                    }
                    .text(),
                },
            )?;
        }
        Ok(Some(()))
    })
    .await?;
    let Some(done) = done else {
        return Ok(());
    };
    let message = match (&next, &pick) {
        (Some((c, _)), Pick::Neighbour(_)) => {
            format!("task {task}: {why}; reassigned to {c} of a neighbouring district")
        }
        (Some((c, _)), _) => format!("task {task}: {why}; reassigned to {c}"),
        (None, _) => format!("task {task}: {why}; no other crew available, still with {crew}"),
    };
    if let Some((c, _)) = &next {
        assign::arm_ack(d, &done.view, c, now).await?;
    }
    assign::alert(d, &district, Some(task), "escalated", message).await
}

async fn late(d: &Dispatch, task: &DocId) -> Result<(), DispatchError> {
    let (doc, _) = match edit::load(d, task).await {
        Ok(x) => x,
        Err(DispatchError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let view = doc.view()?;
    if view.derived.status.is_closed() {
        return Ok(());
    }
    let Some(district) = view.derived.district.clone() else {
        return Ok(());
    };
    let why = "not completed by its completion deadline".to_owned();
    let reason = Reason::Late.text();
    let actor = assign::server_actor(d);
    let now = now_millis();
    let done = edit::edit(d, task, |doc, v| {
        if v.derived.status.is_closed() {
            return Ok(None);
        }
        doc.append_event(
            &actor,
            now,
            EventKind::Escalated {
                reason: reason.clone(),
            },
        )?;
        Ok(Some(()))
    })
    .await?;
    if done.is_some() {
        assign::alert(
            d,
            &district,
            Some(task),
            "late",
            format!("task {task}: {why}"),
        )
        .await?;
    }
    Ok(())
}
