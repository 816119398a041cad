//! A dispatcher's other decisions on a task: priority, cancellation, duplicate, notes.
//! Each is an event (or note) in the task's document, authored by the dispatcher, with
//! its reason; each is checked against the dispatcher's districts first.

use super::Dispatch;
use super::DispatchError;
use super::desk::check_district;
use super::edit::{self, Edited};
use crate::base::time::now_millis;
use crate::domain::identity::Identity;
use crate::storage::dispatch::{self as store, TimerKind};
use sync_core::task::{EventKind, Priority};
use sync_core::{Actor, DocId};

fn actor_of(who: &Identity) -> Result<Actor, DispatchError> {
    who.actor()
        .ok_or_else(|| DispatchError::Forbidden("admins do not edit tasks".into()))
}

fn reason_text(reason: &str) -> Result<String, DispatchError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(DispatchError::Invalid(
            "a reason is 1 to 500 characters".into(),
        ));
    }
    Ok(r.to_owned())
}

/// Appends one dispatcher event after checking the task's district.
async fn dispatcher_event(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    kind: EventKind,
) -> Result<Edited<()>, DispatchError> {
    let actor = actor_of(who)?;
    let (doc, _) = edit::load(d, task).await?;
    check_district(who, doc.view()?.derived.district.as_deref())?;
    let now = now_millis();
    edit::edit(d, task, |doc, v| {
        check_district(who, v.derived.district.as_deref())?;
        doc.append_event(&actor, now, kind.clone())?;
        Ok(Some(()))
    })
    .await?
    .ok_or(DispatchError::Busy)
}

/// Changes the priority.
pub async fn reprioritize(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    priority: Priority,
    reason: &str,
) -> Result<Edited<()>, DispatchError> {
    let reason = reason_text(reason)?;
    dispatcher_event(d, who, task, EventKind::Reprioritized { priority, reason }).await
}

/// Cancels the task (its timers stop).
pub async fn cancel(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    reason: &str,
) -> Result<Edited<()>, DispatchError> {
    let reason = reason_text(reason)?;
    let done = dispatcher_event(d, who, task, EventKind::Cancelled { reason }).await?;
    for k in [TimerKind::Ack, TimerKind::Complete] {
        store::disarm_timer(&d.store, task.as_str(), k, now_millis()).await?;
    }
    Ok(done)
}

/// Marks the task a duplicate of `of` (which must exist, be another task, and be in one
/// of the dispatcher's districts).
pub async fn mark_duplicate(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    of: &DocId,
) -> Result<Edited<()>, DispatchError> {
    if of == task {
        return Err(DispatchError::Invalid(
            "a task cannot duplicate itself".into(),
        ));
    }
    let (other, _) = edit::load(d, of).await?;
    check_district(who, other.view()?.derived.district.as_deref())?;
    let done =
        dispatcher_event(d, who, task, EventKind::MarkedDuplicate { of: of.clone() }).await?;
    for k in [TimerKind::Ack, TimerKind::Complete] {
        store::disarm_timer(&d.store, task.as_str(), k, now_millis()).await?;
    }
    Ok(done)
}

/// Adds a dispatcher's note.
pub async fn add_note(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    text: &str,
) -> Result<Edited<String>, DispatchError> {
    let actor = actor_of(who)?;
    let (doc, _) = edit::load(d, task).await?;
    check_district(who, doc.view()?.derived.district.as_deref())?;
    let now = now_millis();
    edit::edit(d, task, |doc, _| Ok(Some(doc.add_note(&actor, now, text)?)))
        .await?
        .ok_or(DispatchError::Busy)
}
