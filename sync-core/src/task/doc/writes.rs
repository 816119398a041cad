//! Typed writes to a task document: creating it, appending events, adding notes and
//! photos, and the automerge writes beneath them.
//!
//! Every mutating call makes exactly one automerge commit (or none when it changes
//! nothing), so the sync layer can pick the change up with `get_last_local_change()`. A
//! failed call rolls its transaction back: a document is never left half-written.
//!
//! # Ids
//! Event and note ids are `<device>:<16 hex>`, the hex being 64 bits of SHA-256 over the
//! document's automerge actor id (random per instance) and its current heads — and, for an
//! event written after another in the same commit ([`TaskDoc::create_with_events`]), that
//! event's id. Replicas thus mint unique ids without coordination; two instances could
//! only collide if they shared an actor id *and* heads, which automerge itself forbids.

use super::checks::{
    MAX_TEXT, check_actor, check_event_kind, check_new_task, check_photo, check_text,
};
use super::layout::*;
use super::reads::{Parsed, event_heads, req_map, view_of};
use super::{TaskDoc, TaskError};
use crate::ids::{Actor, DeviceId, Millis, Role};
use crate::task::fold::{fold, fold_with_receipts};
use crate::task::model::*;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use sha2::{Digest, Sha256};

impl TaskDoc {
    /// Records the server's receipts of events (see [`Receipt`]), in one commit. Only the
    /// server writes these (validation refuses them from any device); its commits to a
    /// document are serialised by compare-and-swap, so the map is never created twice
    /// concurrently.
    pub fn record_receipts(&mut self, receipts: &[(String, Receipt)]) -> Result<(), TaskError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let d = &mut self.doc;
        let map = match d.get(ROOT, K_RECEIPTS)? {
            Some((automerge::Value::Object(ObjType::Map), id)) => id,
            _ => d.put_object(ROOT, K_RECEIPTS, ObjType::Map)?,
        };
        for (event, r) in receipts {
            let entry = d.put_object(&map, event.as_str(), ObjType::Map)?;
            d.put(&entry, "received_at", r.received_at)?;
            d.put(&entry, "vouched_at", r.vouched_at)?;
        }
        d.commit();
        Ok(())
    }

    /// Creates a new task with its `Created` event.
    ///
    /// The creator must be a crew (then `source` must be [`Source::Crew`]: field-found
    /// work), a call-centre operator, a dispatcher or the server.
    pub fn create(new: NewTask, actor: &Actor, at: Millis) -> Result<TaskDoc, TaskError> {
        let mut doc = AutoCommit::new();
        let created = created_event(&mut doc, &new, actor, at)?;
        let mut task = TaskDoc { doc };
        task.write_one(|d| write_new(d, &new, std::slice::from_ref(&created)))?;
        Ok(task)
    }

    /// [`TaskDoc::create`], then [`TaskDoc::append_event`] for each of `then` in order,
    /// all in ONE automerge commit; returns the task's view beside it.
    ///
    /// The same checks refuse the same inputs with the same errors, and the document holds
    /// the same fields and events (each naming the one before as its parent) with the
    /// same fold; only the ids' hex differs (see the module docs) and the whole creation
    /// is one automerge change instead of one per event. An event written after another
    /// in the same change had that one in its author's view, which is how
    /// [`crate::task::validate_update`] reads it. The view is folded from the events as
    /// built instead of parsing the document back: reading a document just written from
    /// these values gives these values (a test holds the two equal).
    pub fn create_with_events(
        new: NewTask,
        creator: &Actor,
        at: Millis,
        then: &[NewEvent],
    ) -> Result<(TaskDoc, TaskView), TaskError> {
        let mut doc = AutoCommit::new();
        let mut events = vec![created_event(&mut doc, &new, creator, at)?];
        for next in then {
            // `append_event`'s checks and fold, on the log as built.
            check_actor(&next.actor)?;
            check_event_kind(&next.kind, Some(&new.id))?;
            let before = events.last().map_or("", |e| e.id.as_str());
            let mut id = mint_next_id(&mut doc, &next.actor.device, before);
            while events.iter().any(|e| e.id == id) {
                id.push('x');
            }
            let event = Event {
                id,
                parents: event_heads(&events),
                kind: next.kind.clone(),
                actor: next.actor.clone(),
                at: next.at,
            };
            events.push(event);
            let (_, timeline) = fold(
                &events,
                &[],
                new.priority,
                new.district.as_deref(),
                new.reopen_window_ms,
            );
            let last = events.last().map(|e| e.id.as_str());
            let outcome = timeline.iter().find(|t| Some(t.event.id.as_str()) == last);
            if let Some(Outcome::Superseded { reason }) = outcome.map(|t| &t.outcome) {
                return Err(TaskError::Transition {
                    event: next.kind.name(),
                    why: reason.clone(),
                });
            }
        }
        let mut task = TaskDoc { doc };
        task.write_one(|d| write_new(d, &new, &events))?;
        // What `parse` reads from a new document: the fields as written, events by id.
        events.sort_by(|a, b| a.id.cmp(&b.id));
        let view = view_of(Parsed {
            schema: SCHEMA_VERSION,
            id: new.id,
            source: new.source,
            category: new.category,
            title: new.title,
            description: new.description,
            point: new.point,
            address: new.address,
            district: new.district,
            priority: new.priority,
            sla: new.sla,
            reopen_window_ms: new.reopen_window_ms,
            events,
            notes: Vec::new(),
            photos: Vec::new(),
            receipts: Default::default(),
        });
        Ok((task, view))
    }

    /// Appends an event, refusing one that is not valid now for this actor.
    ///
    /// The event's parents are the current heads of the event DAG. It is refused with
    /// [`TaskError::Transition`] (and the document left untouched) if the fold would
    /// supersede it, appended now; bad payloads give [`TaskError::Invalid`]. Returns the
    /// new event's id.
    pub fn append_event(
        &mut self,
        actor: &Actor,
        at: Millis,
        kind: EventKind,
    ) -> Result<String, TaskError> {
        check_actor(actor)?;
        let p = self.parse()?;
        check_event_kind(&kind, Some(&p.id))?;
        let mut id = mint_id(&mut self.doc, actor);
        // A collision would need a SHA-256 prefix collision; still, never overwrite.
        while p.events.iter().any(|e| e.id == id) {
            id.push('x');
        }
        let event = Event {
            id,
            parents: event_heads(&p.events),
            kind,
            actor: actor.clone(),
            at,
        };
        let mut events = p.events;
        events.push(event.clone());
        let (_, timeline) = fold_with_receipts(
            &events,
            &p.photos,
            p.priority,
            p.district.as_deref(),
            p.reopen_window_ms,
            &p.receipts,
        );
        let outcome = timeline
            .iter()
            .find(|t| t.event.id == event.id)
            .map(|t| t.outcome.clone());
        if let Some(Outcome::Superseded { reason }) = outcome {
            return Err(TaskError::Transition {
                event: event.kind.name(),
                why: reason,
            });
        }
        let events_obj = req_map(&self.doc, &ROOT, K_EVENTS, "task")?;
        self.write_one(|d| put_event(d, &events_obj, &event))?;
        Ok(event.id)
    }

    /// Completes the job: the crew's `Completed` event naming `after_photos`, hashes of
    /// after photos already added to the task; an empty list names every after photo the
    /// task has. Refused with [`TaskError::NoAfterPhoto`] when that leaves none to name
    /// (the document untouched); otherwise as [`TaskDoc::append_event`]. Returns the
    /// event's id.
    pub fn complete(
        &mut self,
        actor: &Actor,
        at: Millis,
        after_photos: Vec<String>,
    ) -> Result<String, TaskError> {
        let photos: Vec<String> = if after_photos.is_empty() {
            let photos = self.parse()?.photos.into_iter();
            photos
                .filter(|p| p.kind == PhotoKind::After)
                .map(|p| p.hash)
                .collect()
        } else {
            after_photos
        };
        if photos.is_empty() {
            return Err(TaskError::NoAfterPhoto);
        }
        self.append_event(actor, at, EventKind::Completed { photos })
    }

    /// Adds a note (1 to 4000 characters). Returns its id.
    pub fn add_note(&mut self, actor: &Actor, at: Millis, text: &str) -> Result<String, TaskError> {
        check_actor(actor)?;
        check_text("note", text, 1, MAX_TEXT)?;
        if text.trim().is_empty() {
            return Err(TaskError::Invalid("a note cannot be blank".into()));
        }
        let notes = req_map(&self.doc, &ROOT, K_NOTES, "task")?;
        let mut id = mint_id(&mut self.doc, actor);
        while self.doc.get(&notes, id.as_str())?.is_some() {
            id.push('x');
        }
        let note = Note {
            id: id.clone(),
            author: actor.user.clone(),
            device: actor.device.to_string(),
            at,
            text: text.to_owned(),
        };
        self.write_one(|d| put_note(d, &notes, &note))?;
        Ok(id)
    }

    /// Adds a photo reference (idempotent by hash: a hash already present changes nothing
    /// and makes no commit). The photo's `author` and `device` must be the actor's.
    pub fn add_photo(&mut self, actor: &Actor, photo: PhotoRef) -> Result<(), TaskError> {
        check_actor(actor)?;
        check_photo(&photo)?;
        if photo.author != actor.user || photo.device != actor.device.as_str() {
            return Err(TaskError::Invalid(
                "a photo's author and device must be the actor's".into(),
            ));
        }
        let photos = req_map(&self.doc, &ROOT, K_PHOTOS, "task")?;
        if self.doc.get(&photos, photo.hash.as_str())?.is_some() {
            return Ok(());
        }
        self.write_one(|d| put_photo(d, &photos, &photo))
    }

    /// Runs `f` as exactly one commit, or rolls it back entirely on error.
    fn write_one(
        &mut self,
        f: impl FnOnce(&mut AutoCommit) -> Result<(), AutomergeError>,
    ) -> Result<(), TaskError> {
        // Ops someone left pending through `automerge()` get their own commit, so ours
        // holds only this call's operations.
        if self.doc.pending_ops() > 0 {
            self.doc.commit();
        }
        match f(&mut self.doc) {
            Ok(()) => {
                self.doc.commit();
                Ok(())
            }
            Err(e) => {
                self.doc.rollback();
                Err(e.into())
            }
        }
    }
}

/// The checks [`TaskDoc::create`] makes, and the new task's `Created` event.
fn created_event(
    doc: &mut AutoCommit,
    new: &NewTask,
    actor: &Actor,
    at: Millis,
) -> Result<Event, TaskError> {
    check_actor(actor)?;
    check_new_task(new)?;
    if actor.role == Role::Crew && new.source != Source::Crew {
        return Err(TaskError::Invalid(
            "a crew creates only field-found work: the source must be crew".into(),
        ));
    }
    let created = Event {
        id: mint_id(doc, actor),
        kind: EventKind::Created,
        actor: actor.clone(),
        at,
        parents: Vec::new(),
    };
    let (_, timeline) = fold(
        std::slice::from_ref(&created),
        &[],
        new.priority,
        new.district.as_deref(),
        new.reopen_window_ms,
    );
    if let Some(Outcome::Superseded { reason }) = timeline.first().map(|t| &t.outcome) {
        return Err(TaskError::Transition {
            event: "created",
            why: reason.clone(),
        });
    }
    Ok(created)
}

/// A new task's document: the schema, its fields, the three logs and `events`.
fn write_new(d: &mut AutoCommit, new: &NewTask, events: &[Event]) -> Result<(), AutomergeError> {
    d.put(ROOT, K_SCHEMA, SCHEMA_VERSION)?;
    write_fields(d, new)?;
    let events_obj = d.put_object(ROOT, K_EVENTS, ObjType::Map)?;
    d.put_object(ROOT, K_NOTES, ObjType::Map)?;
    d.put_object(ROOT, K_PHOTOS, ObjType::Map)?;
    for e in events {
        put_event(d, &events_obj, e)?;
    }
    Ok(())
}

/// A new id for an event or note; see the module docs.
fn mint_id(doc: &mut AutoCommit, actor: &Actor) -> String {
    mint(doc, &actor.device, None)
}

/// A new id for an event written after the event `before` in the same commit: the
/// heads have not moved, so `before`'s id tells the two apart.
fn mint_next_id(doc: &mut AutoCommit, device: &DeviceId, before: &str) -> String {
    mint(doc, device, Some(before))
}

fn mint(doc: &mut AutoCommit, device: &DeviceId, before: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(doc.get_actor().to_bytes());
    for head in doc.get_heads() {
        h.update(head.0);
    }
    if let Some(before) = before {
        h.update(before.as_bytes());
    }
    let digest = h.finalize();
    format!("{}:{}", device, hex::encode(&digest[..8]))
}

fn null_or<T: Into<ScalarValue>>(v: Option<T>) -> ScalarValue {
    v.map_or(ScalarValue::Null, Into::into)
}

fn write_fields(d: &mut AutoCommit, t: &NewTask) -> Result<(), AutomergeError> {
    d.put(ROOT, K_ID, t.id.as_str())?;
    d.put(ROOT, K_SOURCE, t.source.as_str())?;
    d.put(ROOT, K_CATEGORY, t.category.as_str())?;
    d.put(ROOT, K_TITLE, t.title.as_str())?;
    d.put(ROOT, K_DESCRIPTION, t.description.as_str())?;
    let point = d.put_object(ROOT, K_POINT, ObjType::Map)?;
    put_point(d, &point, &t.point)?;
    d.put(ROOT, K_ADDRESS, null_or(t.address.as_deref()))?;
    d.put(ROOT, K_DISTRICT, null_or(t.district.as_deref()))?;
    d.put(ROOT, K_PRIORITY, t.priority.as_str())?;
    let sla = d.put_object(ROOT, K_SLA, ObjType::Map)?;
    d.put(&sla, "ack_due", null_or(t.sla.ack_due))?;
    d.put(&sla, "complete_due", null_or(t.sla.complete_due))?;
    d.put(ROOT, K_REOPEN_WINDOW, t.reopen_window_ms)?;
    Ok(())
}

fn put_point(d: &mut AutoCommit, obj: &ObjId, p: &GeoPoint) -> Result<(), AutomergeError> {
    d.put(obj, "lat", p.lat)?;
    d.put(obj, "lon", p.lon)?;
    d.put(obj, "accuracy_m", null_or(p.accuracy_m))?;
    Ok(())
}

fn put_str_list(
    d: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    items: &[String],
) -> Result<(), AutomergeError> {
    let list = d.put_object(obj, key, ObjType::List)?;
    for (i, s) in items.iter().enumerate() {
        d.insert(&list, i, s.as_str())?;
    }
    Ok(())
}

fn put_event(d: &mut AutoCommit, events: &ObjId, e: &Event) -> Result<(), AutomergeError> {
    let obj = d.put_object(events, e.id.as_str(), ObjType::Map)?;
    d.put(&obj, "id", e.id.as_str())?;
    d.put(&obj, "kind", e.kind.name())?;
    let actor = d.put_object(&obj, "actor", ObjType::Map)?;
    d.put(&actor, "user", e.actor.user.as_str())?;
    d.put(&actor, "role", e.actor.role.as_str())?;
    d.put(&actor, "crew", null_or(e.actor.crew.as_deref()))?;
    d.put(&actor, "device", e.actor.device.as_str())?;
    d.put(&obj, "at", e.at)?;
    put_str_list(d, &obj, "parents", &e.parents)?;
    match &e.kind {
        EventKind::Created | EventKind::Acknowledged | EventKind::Started | EventKind::Verified => {
        }
        EventKind::Routed { district } => d.put(&obj, "district", district.as_str())?,
        EventKind::Assigned { crew, reason } => {
            d.put(&obj, "crew", crew.as_str())?;
            d.put(&obj, "reason", reason.as_str())?;
        }
        EventKind::Paused { reason }
        | EventKind::Rejected { reason }
        | EventKind::Reopened { reason }
        | EventKind::Cancelled { reason }
        | EventKind::Escalated { reason } => d.put(&obj, "reason", reason.as_str())?,
        EventKind::Completed { photos } => put_str_list(d, &obj, "photos", photos)?,
        EventKind::MarkedDuplicate { of } => d.put(&obj, "of", of.as_str())?,
        EventKind::Rated { stars, comment } => {
            d.put(&obj, "stars", u64::from(*stars))?;
            d.put(&obj, "comment", comment.as_str())?;
        }
        EventKind::Reprioritized { priority, reason } => {
            d.put(&obj, "priority", priority.as_str())?;
            d.put(&obj, "reason", reason.as_str())?;
        }
    }
    Ok(())
}

fn put_note(d: &mut AutoCommit, notes: &ObjId, n: &Note) -> Result<(), AutomergeError> {
    let obj = d.put_object(notes, n.id.as_str(), ObjType::Map)?;
    d.put(&obj, "id", n.id.as_str())?;
    d.put(&obj, "author", n.author.as_str())?;
    d.put(&obj, "device", n.device.as_str())?;
    d.put(&obj, "at", n.at)?;
    d.put(&obj, "text", n.text.as_str())?;
    Ok(())
}

fn put_photo(d: &mut AutoCommit, photos: &ObjId, p: &PhotoRef) -> Result<(), AutomergeError> {
    let obj = d.put_object(photos, p.hash.as_str(), ObjType::Map)?;
    d.put(&obj, "hash", p.hash.as_str())?;
    d.put(&obj, "kind", p.kind.as_str())?;
    d.put(&obj, "taken_at", null_or(p.taken_at))?;
    match &p.taken_point {
        Some(pt) => {
            let o = d.put_object(&obj, "taken_point", ObjType::Map)?;
            put_point(d, &o, pt)?;
        }
        None => d.put(&obj, "taken_point", ScalarValue::Null)?,
    }
    d.put(&obj, "author", p.author.as_str())?;
    d.put(&obj, "device", p.device.as_str())?;
    d.put(&obj, "bytes", p.bytes)?;
    d.put(&obj, "mime", p.mime.as_str())?;
    d.put(&obj, "added_at", p.added_at)?;
    Ok(())
}
