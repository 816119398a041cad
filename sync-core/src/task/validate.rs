//! What the server checks before it stores a device's changes to a task (design §3).
//!
//! The server applies the device's changes to a copy of its stored document and calls
//! [`validate_update`] with both. Only the *difference* is judged:
//!
//! - the event log, notes and photos are append-only: nothing stored may disappear or
//!   change ([`RefusalCode::HistoryRewritten`]);
//! - everything new must be the sender's own: event actor, note and photo author and
//!   device equal the authenticated sender ([`RefusalCode::Impersonation`]);
//! - the sender's role must allow each new event, note and photo, and any change of the
//!   task's fields, as the one table of [`crate::task::roles`] says (rule 6; managers
//!   write nothing; [`RefusalCode::Forbidden`]);
//! - each new event must be valid in its *author's view* ([`RefusalCode::InvalidTransition`]).
//!   Not in the merged state: a crew's offline start may be superseded there by a
//!   dispatcher's concurrent reassignment, and that is legitimate (rule 1). Because the
//!   author's view is built from the event's claimed `parents`, we also check that those
//!   parents are exactly the event-log heads the author had when writing it: the events
//!   visible at the dependencies of the automerge change that wrote it, and those written
//!   before it in the same change (the server creates a task and its first events in one
//!   change; anything so written could as well be written as one change an event);
//! - a device cannot build on a state older than one it has *acknowledged* holding
//!   ([`RefusalCode::StaleView`], [`validate_push`]): the server passes the document's
//!   heads as its last sync delivered them to this device and the device confirmed (its
//!   `Hello` cursors). A new event whose change does not descend from those heads is
//!   judged again in the view it hides (its own ancestors plus everything acknowledged);
//!   if that view forbids it — a completion of a task the device knew was reassigned —
//!   it is refused. Work made before the device heard of the change is not affected,
//!   because the device had not acknowledged it (design §2 rule 1: field work is never
//!   lost). A device that confirmed a `Drop` of the task (reassigned away under the
//!   default scopes: it was never sent the reassignment) is refused any change to it
//!   afterwards, by the sync layer before this module is called;
//! - task fields may change only for the roles the table allows (a dispatcher or the
//!   server; [`RefusalCode::ReadOnlyField`]);
//!   the task id never changes;
//! - anything that does not parse, new content that fails the API's input checks, or a
//!   new event/note id not of the form `<sender's device>:<…>` (ids break ties in the
//!   fold's order, so a device may not choose them freely) is [`RefusalCode::Malformed`].
//!
//! Citizens' events (rate, reopen) are validated with the citizen as the sender: the server
//! authenticates the tracking code and passes that actor. Scope (is this document in the
//! sender's scope?) is the sync layer's check and needs data this module does not have;
//! [`RefusalCode::OutOfScope`] is here for it to use.

use super::doc::{
    K_EVENTS, K_NOTES, K_PHOTOS, K_RECEIPTS, Parsed, TaskDoc, TaskError, check_actor,
    check_event_kind, check_new_task, check_note, check_photo, event_heads, req_map,
};
use super::fold::{analyse, role_allows};
use super::model::*;
use super::roles::{What, may_write};
use crate::ids::{Actor, Millis, Role};
use automerge::{AutoCommit, ChangeHash, ObjId, ROOT, ReadDoc, Value, hydrate};
use std::collections::{BTreeSet, HashMap};

/// Why the server refuses a device's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The sender's role may not do this (e.g. a crew assigning itself).
    Forbidden,
    /// The document is outside the sender's scope.
    OutOfScope,
    /// A field the sender may not change was changed.
    ReadOnlyField,
    /// An event the sender added is not valid where it falls.
    InvalidTransition,
    /// The event log, notes or photos were rewritten (they are append-only).
    HistoryRewritten,
    /// The event claims another actor than the authenticated sender.
    Impersonation,
    /// The document is malformed.
    Malformed,
    /// A new event is built on a state older than one the device had acknowledged
    /// receiving, and is not valid in the state it hides (a forged fork); or the device
    /// changed a task after confirming that the task was dropped from it (its scopes no
    /// longer hold it, and the phone library lets go of a dropped task; the sync layer's
    /// check, [`crate::session::server::ServerSession`]).
    StaleView,
    /// A new event claims a time further ahead of the server's clock at receipt than the
    /// allowed skew.
    FutureTime,
}

/// What the server knows of a push beyond the documents: facts the sync host reads from
/// its own state and passes in (this module does no I/O).
#[derive(Debug, Clone, Copy, Default)]
pub struct PushFacts<'a> {
    /// The stored document's heads as the sender acknowledged holding them (its last
    /// `Hello` confirmed the batches that carried them); `None`: nothing known.
    pub acknowledged: Option<&'a [ChangeHash]>,
    /// The server's clock when the push arrived; `None`: no time check.
    pub received_at: Option<Millis>,
    /// How far ahead of `received_at` an event's claimed time may be (clock skew).
    pub skew_ms: Millis,
}

/// A refused change, with a reason to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    /// What kind of refusal.
    pub code: RefusalCode,
    /// Plain words.
    pub message: String,
}

fn refuse<T>(code: RefusalCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        message: message.into(),
    })
}

fn malformed(e: TaskError) -> Refusal {
    Refusal {
        code: RefusalCode::Malformed,
        message: e.to_string(),
    }
}

/// Checks that `after` (the stored document with the sender's changes applied) differs from
/// `before` (the stored document, or `None` for a new task) only in ways `sender` may make.
/// Knows nothing of what the sender had received; the sync host uses [`validate_push`].
pub fn validate_update(
    before: Option<&TaskDoc>,
    after: &TaskDoc,
    sender: &Actor,
) -> Result<(), Refusal> {
    validate_push(before, after, sender, &PushFacts::default())
}

/// [`validate_update`], knowing also the server's [`PushFacts`]: a new event whose change
/// does not descend from the heads the sender acknowledged is judged in the view it hides,
/// and refused with [`RefusalCode::StaleView`] if that view forbids it; a new event dated
/// more than the skew after the receipt is refused with [`RefusalCode::FutureTime`].
pub fn validate_push(
    before: Option<&TaskDoc>,
    after: &TaskDoc,
    sender: &Actor,
    facts: &PushFacts<'_>,
) -> Result<(), Refusal> {
    let acknowledged = facts.acknowledged;
    if let Err(e) = check_actor(sender) {
        return refuse(
            RefusalCode::Forbidden,
            format!("the sender is not valid: {e}"),
        );
    }
    let privileged = may_write(What::Fields, sender.role).is_ok();
    let after_p = after.parse().map_err(malformed)?;
    if after_p.schema != SCHEMA_VERSION {
        return refuse(
            RefusalCode::Malformed,
            format!(
                "the document has schema {}, the server expects {SCHEMA_VERSION}",
                after_p.schema
            ),
        );
    }
    let a = after.am();

    let new_items = match before {
        Some(before) => {
            before.parse().map_err(|e| Refusal {
                code: RefusalCode::Malformed,
                message: format!("the stored document is unreadable: {e}"),
            })?;
            let b = before.am();
            check_fields(b, a, privileged)?;
            if privileged {
                check_new_task(&as_new_task(&after_p)).map_err(malformed)?;
            }
            NewItems {
                events: appended(b, a, K_EVENTS, false)?,
                notes: appended(b, a, K_NOTES, false)?,
                photos: appended(b, a, K_PHOTOS, true)?,
            }
        }
        None => {
            if let Err(why) = may_write(What::Create, sender.role) {
                return refuse(RefusalCode::Forbidden, why);
            }
            if sender.role == Role::Crew && after_p.source != Source::Crew {
                return refuse(
                    RefusalCode::Forbidden,
                    "a crew creates only field-found work: the source must be crew",
                );
            }
            check_new_task(&as_new_task(&after_p)).map_err(malformed)?;
            if a.get(ROOT, K_RECEIPTS).ok().flatten().is_some() {
                return refuse(
                    RefusalCode::ReadOnlyField,
                    "only the server records when it received events",
                );
            }
            let created = after_p
                .events
                .iter()
                .filter(|e| e.kind == EventKind::Created)
                .count();
            if created != 1 {
                return refuse(
                    RefusalCode::Malformed,
                    format!("a new task has exactly one created event, not {created}"),
                );
            }
            NewItems {
                events: all_entries(a, K_EVENTS)?,
                notes: all_entries(a, K_NOTES)?,
                photos: all_entries(a, K_PHOTOS)?,
            }
        }
    };

    let acked_events: Option<BTreeSet<String>> = match (before, acknowledged) {
        (Some(_), Some(heads)) if !heads.is_empty() => {
            let events_obj = req_map(a, &ROOT, K_EVENTS, "task").map_err(malformed)?;
            Some(a.keys_at(&events_obj, heads).collect())
        }
        _ => None,
    };
    check_new_events(
        a,
        &after_p,
        &new_items.events,
        sender,
        acked_events.as_ref(),
    )?;
    if let Some(received) = facts.received_at {
        check_not_future(&after_p, &new_items.events, received, facts.skew_ms)?;
    }
    if !new_items.notes.is_empty()
        && let Err(why) = may_write(What::Note, sender.role)
    {
        return refuse(RefusalCode::Forbidden, why);
    }
    if !new_items.photos.is_empty()
        && let Err(why) = may_write(What::Photo, sender.role)
    {
        return refuse(RefusalCode::Forbidden, why);
    }
    for (key, _) in &new_items.notes {
        let Some(n) = after_p.notes.iter().find(|n| &n.id == key) else {
            return refuse(
                RefusalCode::Malformed,
                format!("note {key:?} is unreadable"),
            );
        };
        if n.author != sender.user || n.device != sender.device.as_str() {
            return refuse(
                RefusalCode::Impersonation,
                format!(
                    "note {key:?} claims author {} on {}, but the sender is {} on {}",
                    n.author, n.device, sender.user, sender.device
                ),
            );
        }
        check_own_id("note", key, sender)?;
        check_note(n).map_err(malformed)?;
    }
    for (key, obj) in &new_items.photos {
        // A photo entry may be a concurrent duplicate of a stored hash (rule 5), so read
        // the very entry that is new, not whichever one automerge shows.
        let p = super::doc::read_photo(a, obj, key).map_err(malformed)?;
        if p.author != sender.user || p.device != sender.device.as_str() {
            return refuse(
                RefusalCode::Impersonation,
                format!(
                    "photo {key} claims author {} on {}, but the sender is {} on {}",
                    p.author, p.device, sender.user, sender.device
                ),
            );
        }
        check_photo(&p).map_err(malformed)?;
    }
    Ok(())
}

/// Entries the sender added: (map key, entry object id).
struct NewItems {
    events: Vec<(String, ObjId)>,
    notes: Vec<(String, ObjId)>,
    photos: Vec<(String, ObjId)>,
}

/// The task's fields as a `NewTask`, to run the API's input checks on them.
fn as_new_task(p: &Parsed) -> NewTask {
    NewTask {
        id: p.id.clone(),
        source: p.source,
        category: p.category.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        point: p.point,
        address: p.address.clone(),
        district: p.district.clone(),
        priority: p.priority,
        sla: p.sla,
        reopen_window_ms: p.reopen_window_ms,
    }
}

/// A value at `obj[key]` in full (objects hydrated), or `None`.
fn value_at(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<hydrate::Value>, Refusal> {
    let unreadable = |e: automerge::AutomergeError| Refusal {
        code: RefusalCode::Malformed,
        message: format!("{key} cannot be read: {e}"),
    };
    match d.get(obj, key).map_err(unreadable)? {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => Ok(Some(hydrate::Value::Scalar(s.into_owned()))),
        Some((Value::Object(_), id)) => d.hydrate(&id, None).map(Some).map_err(unreadable),
    }
}

/// Fields (every root key but the three logs) may only change for a dispatcher or the
/// server, and the id never.
fn check_fields(b: &AutoCommit, a: &AutoCommit, privileged: bool) -> Result<(), Refusal> {
    let keys: BTreeSet<String> = b.keys(ROOT).chain(a.keys(ROOT)).collect();
    for key in keys {
        if [K_EVENTS, K_NOTES, K_PHOTOS].contains(&key.as_str()) {
            let same = match (b.get(ROOT, key.as_str()), a.get(ROOT, key.as_str())) {
                (Ok(Some((_, x))), Ok(Some((_, y)))) => x == y,
                _ => false,
            };
            if !same {
                return refuse(
                    RefusalCode::HistoryRewritten,
                    format!("the {key} map was replaced"),
                );
            }
            continue;
        }
        if value_at(b, &ROOT, &key)? == value_at(a, &ROOT, &key)? {
            continue;
        }
        if key == "id" {
            return refuse(RefusalCode::ReadOnlyField, "a task's id never changes");
        }
        if key == K_RECEIPTS {
            return refuse(
                RefusalCode::ReadOnlyField,
                "only the server records when it received events",
            );
        }
        if !privileged {
            return refuse(
                RefusalCode::ReadOnlyField,
                format!("only a dispatcher or the server may change {key}"),
            );
        }
    }
    Ok(())
}

/// All values (conflicting ones included) at `obj[key]`, with their object ids.
fn all_values(
    d: &AutoCommit,
    obj: &ObjId,
    key: &str,
) -> Result<Vec<(ObjId, hydrate::Value)>, Refusal> {
    let unreadable = |e: automerge::AutomergeError| Refusal {
        code: RefusalCode::Malformed,
        message: format!("{key} cannot be read: {e}"),
    };
    let mut out = Vec::new();
    for (v, id) in d.get_all(obj, key).map_err(unreadable)? {
        let full = match v {
            Value::Scalar(s) => hydrate::Value::Scalar(s.into_owned()),
            Value::Object(_) => d.hydrate(&id, None).map_err(unreadable)?,
        };
        out.push((id, full));
    }
    Ok(out)
}

/// Checks that every stored entry of log `name` survives unchanged in `a`, and returns
/// the entries `a` adds. Photos may gain a concurrent entry under a stored hash (the same
/// photo from two devices, rule 5); events and notes have unique ids, so a second entry
/// under a stored key can only be an overwrite.
fn appended(
    b: &AutoCommit,
    a: &AutoCommit,
    name: &str,
    allow_twins: bool,
) -> Result<Vec<(String, ObjId)>, Refusal> {
    let bm = req_map(b, &ROOT, name, "task").map_err(malformed)?;
    let am = req_map(a, &ROOT, name, "task").map_err(malformed)?;
    let mut added = Vec::new();
    for key in b.keys(&bm) {
        let before = all_values(b, &bm, &key)?;
        let after = all_values(a, &am, &key)?;
        for (id, v) in &before {
            if !after.iter().any(|(i, w)| i == id && w == v) {
                return refuse(
                    RefusalCode::HistoryRewritten,
                    format!("{name} entry {key:?} was changed or removed"),
                );
            }
        }
        for (id, _) in &after {
            if !before.iter().any(|(i, _)| i == id) {
                if !allow_twins {
                    return refuse(
                        RefusalCode::HistoryRewritten,
                        format!("{name} entry {key:?} was overwritten"),
                    );
                }
                added.push((key.clone(), id.clone()));
            }
        }
    }
    for key in a.keys(&am) {
        if b.get(&bm, key.as_str()).ok().flatten().is_none() {
            for (id, _) in all_values(a, &am, &key)? {
                added.push((key.clone(), id));
            }
        }
    }
    added.sort_by(|x, y| x.0.cmp(&y.0));
    Ok(added)
}

/// Every entry of log `name` (a new task: all of it is the sender's).
fn all_entries(a: &AutoCommit, name: &str) -> Result<Vec<(String, ObjId)>, Refusal> {
    let m = req_map(a, &ROOT, name, "task").map_err(malformed)?;
    let mut out = Vec::new();
    for key in a.keys(&m) {
        for (id, _) in all_values(a, &m, &key)? {
            out.push((key.clone(), id));
        }
    }
    Ok(out)
}

fn check_new_events(
    a: &AutoCommit,
    p: &Parsed,
    new: &[(String, ObjId)],
    sender: &Actor,
    acknowledged: Option<&BTreeSet<String>>,
) -> Result<(), Refusal> {
    if new.is_empty() {
        return Ok(());
    }
    let by_id: HashMap<&str, &Event> = p.events.iter().map(|e| (e.id.as_str(), e)).collect();
    let analysis = analyse(
        &p.events,
        &p.photos,
        p.priority,
        p.district.as_deref(),
        p.reopen_window_ms,
        &p.receipts,
    );
    let events_obj = req_map(a, &ROOT, K_EVENTS, "task").map_err(malformed)?;
    for (key, obj) in new {
        let Some(e) = by_id.get(key.as_str()) else {
            return refuse(
                RefusalCode::Malformed,
                format!("event {key:?} is unreadable"),
            );
        };
        if &e.actor != sender {
            return refuse(
                RefusalCode::Impersonation,
                format!(
                    "event {key:?} claims to be by {} ({}, crew {}, device {}), but the sender is {} ({}, crew {}, device {})",
                    e.actor.user,
                    e.actor.role.as_str(),
                    e.actor.crew.as_deref().unwrap_or("none"),
                    e.actor.device,
                    sender.user,
                    sender.role.as_str(),
                    sender.crew.as_deref().unwrap_or("none"),
                    sender.device
                ),
            );
        }
        check_own_id("event", key, sender)?;
        check_event_kind(&e.kind, Some(&p.id)).map_err(malformed)?;
        if let Err(why) = role_allows(&e.kind, sender.role) {
            return refuse(RefusalCode::Forbidden, why);
        }
        let seen = check_parents(a, p, &events_obj, obj, e)?;
        if let Some(Outcome::Superseded { reason }) = analysis.author_outcomes.get(key.as_str()) {
            return refuse(
                RefusalCode::InvalidTransition,
                format!("{} is not allowed: {reason}", e.kind.name()),
            );
        }
        if let Some(acked) = acknowledged {
            check_not_hidden(p, e, &seen, acked)?;
        }
    }
    Ok(())
}

/// An event whose view leaves out events the device had acknowledged holding is judged
/// in the view it hides: its own ancestors and everything acknowledged. Only what that
/// view forbids is refused; a note-like event valid either way passes.
fn check_not_hidden(
    p: &Parsed,
    e: &Event,
    seen: &BTreeSet<String>,
    acked: &BTreeSet<String>,
) -> Result<(), Refusal> {
    let hidden: Vec<&String> = acked.difference(seen).collect();
    if hidden.is_empty() {
        return Ok(());
    }
    let mut view: Vec<Event> = p
        .events
        .iter()
        .filter(|x| x.id != e.id && (seen.contains(&x.id) || acked.contains(&x.id)))
        .cloned()
        .collect();
    let mut judged = e.clone();
    judged.parents = event_heads(&view);
    view.push(judged);
    let analysis = analyse(
        &view,
        &p.photos,
        p.priority,
        p.district.as_deref(),
        p.reopen_window_ms,
        &p.receipts,
    );
    if let Some(Outcome::Superseded { reason }) = analysis.author_outcomes.get(e.id.as_str()) {
        return refuse(
            RefusalCode::StaleView,
            format!(
                "event {:?} ({}) is built without {:?}, which this device had already received and acknowledged; there it is not allowed: {reason}",
                e.id,
                e.kind.name(),
                hidden
            ),
        );
    }
    Ok(())
}

/// A phone's clock may be wrong, but not ahead of the server's by more than the skew: a
/// future-dated event would open citizens' windows early or make work look done later
/// than it was received (and the fold compares these times).
fn check_not_future(
    p: &Parsed,
    new: &[(String, ObjId)],
    received: Millis,
    skew_ms: Millis,
) -> Result<(), Refusal> {
    let limit = received.saturating_add(skew_ms.max(0));
    for (key, _) in new {
        if let Some(e) = p.events.iter().find(|e| &e.id == key)
            && e.at > limit
        {
            return refuse(
                RefusalCode::FutureTime,
                format!(
                    "event {key:?} is dated {} ms after the server received it (at most {} ms of clock skew is allowed); set the device's clock",
                    e.at.saturating_sub(received),
                    skew_ms
                ),
            );
        }
    }
    Ok(())
}

/// New event and note ids are `<sender's device>:<…>`, as `TaskDoc` mints them. Events of
/// equal depth fold in id order, so a device must not pick ids that jump the queue.
fn check_own_id(what: &str, id: &str, sender: &Actor) -> Result<(), Refusal> {
    let ok = id
        .strip_prefix(sender.device.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 64
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        refuse(
            RefusalCode::Malformed,
            format!(
                "{what} id {:?} is not of the form {}:<id>",
                id.chars().take(80).collect::<String>(),
                sender.device
            ),
        )
    }
}

/// The event's claimed parents must be the event-log heads its device had: the events
/// visible at the dependencies of the automerge change that wrote it, and the events that
/// change wrote before it (by operation counter: one change is one actor's run of
/// operations, in the order they were made). Returns those events' ids (the author's
/// view).
fn check_parents(
    a: &AutoCommit,
    p: &Parsed,
    events_obj: &ObjId,
    obj: &ObjId,
    e: &Event,
) -> Result<BTreeSet<String>, Refusal> {
    let Some(hash) = a.hash_for_opid(obj) else {
        return refuse(
            RefusalCode::Malformed,
            format!("event {:?} has no change", e.id),
        );
    };
    let Some(change) = a.get_change_by_hash(&hash) else {
        return refuse(
            RefusalCode::Malformed,
            format!("event {:?} has no change", e.id),
        );
    };
    let mut seen: BTreeSet<String> = a.keys_at(events_obj, change.deps()).collect();
    // Events the same change added besides this one (usually none), read as they were
    // right after it.
    let at_change = [hash];
    let added: Vec<String> = a
        .keys_at(events_obj, &at_change)
        .filter(|k| k != &e.id && !seen.contains(k))
        .collect();
    if let ObjId::Id(counter, ..) = obj {
        for key in added {
            let written = a
                .get_all_at(events_obj, key.as_str(), &at_change)
                .map_err(|err| Refusal {
                    code: RefusalCode::Malformed,
                    message: format!("event {key:?} cannot be read: {err}"),
                })?;
            let earlier = written.iter().any(|(_, id)| match id {
                ObjId::Id(c, ..) => c < counter && a.hash_for_opid(id) == Some(hash),
                ObjId::Root => false,
            });
            if earlier {
                seen.insert(key);
            }
        }
    }
    let seen_events: Vec<Event> = p
        .events
        .iter()
        .filter(|x| seen.contains(&x.id))
        .cloned()
        .collect();
    let expected = event_heads(&seen_events);
    let mut claimed = e.parents.clone();
    claimed.sort();
    claimed.dedup();
    if claimed != expected {
        return refuse(
            RefusalCode::InvalidTransition,
            format!(
                "event {:?} names parents {:?}, but its device had {:?}",
                e.id, claimed, expected
            ),
        );
    }
    Ok(seen)
}
