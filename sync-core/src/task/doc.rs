//! [`TaskDoc`]: the task's layout inside automerge, typed reads and writes, and schema
//! upgrades.
//!
//! # Layout (schema 1)
//! The root map holds:
//! `schema` (uint), `id`, `source`, `category`, `title`, `description` (strings),
//! `point` {`lat`, `lon`, `accuracy_m`} (floats, `accuracy_m` may be null), `address` and
//! `district` (string or null), `priority` (string), `sla` {`ack_due`, `complete_due`}
//! (int or null), `reopen_window_ms` (int), and three maps:
//! - `events`: event id → event map {`id`, `kind`, `actor` {`user`, `role`, `crew`,
//!   `device`}, `at`, `parents` (list of event ids), payload fields by kind: `district`,
//!   `crew`, `reason`, `photos` (list of hashes), `of`, `stars`, `comment`, `priority`}.
//!   A map keyed by id, not a list, so the order automerge merges them in is irrelevant:
//!   the fold orders events by their own `parents` DAG.
//! - `notes`: note id → {`id`, `author`, `device`, `at`, `text`}.
//! - `photos`: hash → {`hash`, `kind`, `taken_at`, `taken_point`, `author`, `device`,
//!   `bytes`, `mime`, `added_at`}. Keyed by content hash so the same photo added on two
//!   devices is one photo (rule 5); automerge keeps one of the two entries,
//!   deterministically.
//!
//! # Writes
//! Every mutating call makes exactly one automerge commit (or none when it changes
//! nothing), so the sync layer can pick the change up with `get_last_local_change()`. A
//! failed call rolls its transaction back: a document is never left half-written.
//!
//! # Reads
//! Reading is strict: a document whose fields, events, notes or photos are malformed (a
//! forged event without a kind, a string where a number belongs) fails with
//! [`TaskError::Schema`] naming the bad entry; `load` checks this up front. Nothing in a
//! document can make reading panic. We refuse rather than skip because the server refuses
//! malformed changes (`validate_update`), so a malformed entry means a broken or hostile
//! source, and silently dropping part of the log would let replicas disagree about it.
//!
//! # Ids
//! Event and note ids are `<device>:<16 hex>`, the hex being 64 bits of SHA-256 over the
//! document's automerge actor id (random per instance) and its current heads. Replicas thus
//! mint unique ids without coordination; two instances could only collide if they shared
//! an actor id *and* heads, which automerge itself forbids.

use super::fold::fold;
use super::model::*;
use crate::ids::{Actor, DeviceId, DocId, Millis, Role};
use automerge::transaction::Transactable;
use automerge::{
    AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use sha2::{Digest, Sha256};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Errors of the typed task API.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The bytes are not an automerge document.
    #[error("corrupt document: {0}")]
    Corrupt(String),
    /// The document is automerge but not a task of a known schema.
    #[error("not a task document: {0}")]
    Schema(String),
    /// The schema is newer than this build understands.
    #[error("document schema {found} is newer than supported {supported}")]
    TooNew {
        /// Found.
        found: u64,
        /// Supported.
        supported: u64,
    },
    /// The requested transition is not allowed from the current state for this actor.
    #[error("{event} is not allowed now: {why}")]
    Transition {
        /// Event name.
        event: &'static str,
        /// Why.
        why: String,
    },
    /// An input value is out of range or malformed.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// The reopen window given to documents upgraded from schema 0, which had none: 7 days.
pub const DEFAULT_REOPEN_WINDOW_MS: Millis = 7 * 24 * 60 * 60 * 1000;

/// One upgrade step: turns a document of the version it is keyed by into the next version.
/// It must only add or fix fields, never touch the event log, and it must be idempotent:
/// several replicas may upgrade the same document concurrently and their writes merge.
type Upgrade = fn(&mut AutoCommit) -> Result<(), AutomergeError>;

/// The upgrade steps, keyed by the version they upgrade *from*. `load` runs them in order.
const UPGRADES: &[(u64, Upgrade)] = &[(0, upgrade_v0_to_v1)];

/// Schema 0 had no reopen window; schema 1 stores one so every replica folds with it.
fn upgrade_v0_to_v1(doc: &mut AutoCommit) -> Result<(), AutomergeError> {
    if doc.get(ROOT, K_REOPEN_WINDOW)?.is_none() {
        doc.put(ROOT, K_REOPEN_WINDOW, DEFAULT_REOPEN_WINDOW_MS)?;
    }
    Ok(())
}

const K_SCHEMA: &str = "schema";
const K_ID: &str = "id";
const K_SOURCE: &str = "source";
const K_CATEGORY: &str = "category";
const K_TITLE: &str = "title";
const K_DESCRIPTION: &str = "description";
const K_POINT: &str = "point";
const K_ADDRESS: &str = "address";
const K_DISTRICT: &str = "district";
const K_PRIORITY: &str = "priority";
const K_SLA: &str = "sla";
const K_REOPEN_WINDOW: &str = "reopen_window_ms";
pub(super) const K_EVENTS: &str = "events";
pub(super) const K_NOTES: &str = "notes";
pub(super) const K_PHOTOS: &str = "photos";

/// Limits on free text, in characters.
const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 4000;
const MAX_SHORT: usize = 1000;
const MAX_CODE: usize = 128;

/// One task document.
///
/// Cloning keeps the automerge actor id: a clone is the same replica, not a new one. Use
/// [`TaskDoc::fork`] or save and [`TaskDoc::load`] to make another replica.
#[derive(Debug, Clone)]
pub struct TaskDoc {
    doc: AutoCommit,
}

/// Everything a document holds, parsed (before folding).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub schema: u64,
    pub id: DocId,
    pub source: Source,
    pub category: String,
    pub title: String,
    pub description: String,
    pub point: GeoPoint,
    pub address: Option<String>,
    pub district: Option<String>,
    pub priority: Priority,
    pub sla: Sla,
    pub reopen_window_ms: Millis,
    /// Sorted by id.
    pub events: Vec<Event>,
    /// Sorted by (at, id).
    pub notes: Vec<Note>,
    /// Sorted by hash.
    pub photos: Vec<PhotoRef>,
}

impl TaskDoc {
    /// Creates a new task with its `Created` event.
    ///
    /// The creator must be a crew (then `source` must be [`Source::Crew`]: field-found
    /// work), a call-centre operator, a dispatcher or the server.
    pub fn create(new: NewTask, actor: &Actor, at: Millis) -> Result<TaskDoc, TaskError> {
        check_actor(actor)?;
        check_new_task(&new)?;
        if actor.role == Role::Crew && new.source != Source::Crew {
            return Err(TaskError::Invalid(
                "a crew creates only field-found work: the source must be crew".into(),
            ));
        }
        let mut doc = AutoCommit::new();
        let id = mint_id(&mut doc, actor);
        let created = Event {
            id,
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
        let mut task = TaskDoc { doc };
        task.write_one(|d| {
            d.put(ROOT, K_SCHEMA, SCHEMA_VERSION)?;
            write_fields(d, &new)?;
            let events = d.put_object(ROOT, K_EVENTS, ObjType::Map)?;
            d.put_object(ROOT, K_NOTES, ObjType::Map)?;
            d.put_object(ROOT, K_PHOTOS, ObjType::Map)?;
            put_event(d, &events, &created)
        })?;
        Ok(task)
    }

    /// Loads saved bytes (or concatenated changes), checks and upgrades the schema.
    ///
    /// Garbage or truncated bytes give [`TaskError::Corrupt`] (automerge is run under
    /// `catch_unwind` so that even a panic inside it is reported, in builds that unwind);
    /// an automerge document that is not a task gives [`TaskError::Schema`]. The loaded
    /// instance gets a fresh random automerge actor id. An upgrade is one commit.
    pub fn load(bytes: &[u8]) -> Result<TaskDoc, TaskError> {
        let loaded = catch_unwind(AssertUnwindSafe(|| AutoCommit::load(bytes)));
        let doc = match loaded {
            Ok(Ok(doc)) => doc,
            Ok(Err(e)) => return Err(TaskError::Corrupt(e.to_string())),
            Err(_) => {
                return Err(TaskError::Corrupt(
                    "automerge could not decode the bytes".into(),
                ));
            }
        };
        TaskDoc::from_automerge(doc)
    }

    /// Wraps an automerge document received from sync, checking the schema (and
    /// upgrading an older one, in one commit).
    pub fn from_automerge(mut doc: AutoCommit) -> Result<TaskDoc, TaskError> {
        let schema = read_schema(&doc)?;
        if schema > SCHEMA_VERSION {
            return Err(TaskError::TooNew {
                found: schema,
                supported: SCHEMA_VERSION,
            });
        }
        if schema < SCHEMA_VERSION {
            upgrade(&mut doc, schema)?;
        }
        let task = TaskDoc { doc };
        task.parse()?;
        Ok(task)
    }

    /// The task id.
    pub fn id(&self) -> Result<DocId, TaskError> {
        let id = req_str(&self.doc, &ROOT, K_ID, "task")?;
        DocId::new(id).map_err(|e| TaskError::Schema(e.to_string()))
    }

    /// Saves the whole document (compact form).
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Saves the whole document so that replicas holding the same changes produce the
    /// same bytes.
    ///
    /// automerge's own [`save`](TaskDoc::save) writes concurrent changes in the order they
    /// arrived, so two converged replicas usually save different bytes. This rebuilds the
    /// document from its changes in a canonical order (topological, ties by change hash)
    /// and saves that: it costs a full rebuild, so use it where bytes are compared (tests,
    /// content hashes), not on every write.
    pub fn save_canonical(&mut self) -> Vec<u8> {
        let changes = self.doc.get_changes(&[]);
        let mut fresh = AutoCommit::new();
        match fresh.apply_changes(canonical_order(changes)) {
            Ok(()) => fresh.save(),
            // Cannot happen for changes taken from a loaded document; fall back rather
            // than fail a save.
            Err(_) => self.doc.save(),
        }
    }

    /// The underlying automerge document, for the sync layer only.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// The current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Another replica of this document: same content, new random automerge actor id.
    pub fn fork(&mut self) -> TaskDoc {
        TaskDoc {
            doc: self.doc.fork(),
        }
    }

    /// Merges every change of `other` into this document (a test and tooling
    /// convenience; the sync layer exchanges changes itself).
    pub fn merge(&mut self, other: &mut TaskDoc) -> Result<(), TaskError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Reads the whole task, with its derived state.
    pub fn view(&self) -> Result<TaskView, TaskError> {
        let p = self.parse()?;
        let (derived, timeline) = fold(
            &p.events,
            &p.photos,
            p.priority,
            p.district.as_deref(),
            p.reopen_window_ms,
        );
        let created_at = timeline
            .iter()
            .find(|t| t.event.kind == EventKind::Created && t.outcome == Outcome::Applied)
            .map(|t| t.event.at)
            .unwrap_or(0);
        Ok(TaskView {
            id: p.id,
            schema: p.schema,
            source: p.source,
            category: p.category,
            title: p.title,
            description: p.description,
            point: p.point,
            address: p.address,
            sla: p.sla,
            reopen_window_ms: p.reopen_window_ms,
            created_at,
            derived,
            timeline,
            notes: p.notes,
            photos: p.photos,
        })
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
        let (_, timeline) = fold(
            &events,
            &p.photos,
            p.priority,
            p.district.as_deref(),
            p.reopen_window_ms,
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

    // ---- crate-internal access for `validate` ----

    /// The automerge document, read-only.
    pub(super) fn am(&self) -> &AutoCommit {
        &self.doc
    }

    /// Parses the whole document; every malformed entry is a [`TaskError::Schema`].
    pub(crate) fn parse(&self) -> Result<Parsed, TaskError> {
        let d = &self.doc;
        let schema = read_schema(d)?;
        let id = DocId::new(req_str(d, &ROOT, K_ID, "task")?)
            .map_err(|e| TaskError::Schema(e.to_string()))?;
        let source = parse_source(&req_str(d, &ROOT, K_SOURCE, "task")?)?;
        let point_obj = req_map(d, &ROOT, K_POINT, "task")?;
        let point = read_point(d, &point_obj, "task point")?;
        let sla_obj = req_map(d, &ROOT, K_SLA, "task")?;
        let sla = Sla {
            ack_due: opt_i64(d, &sla_obj, "ack_due", "task sla")?,
            complete_due: opt_i64(d, &sla_obj, "complete_due", "task sla")?,
        };
        let events_obj = req_map(d, &ROOT, K_EVENTS, "task")?;
        let mut events = Vec::new();
        for key in d.keys(&events_obj) {
            let obj = req_map(d, &events_obj, &key, "events")?;
            let e = read_event(d, &obj, &key)?;
            if e.id != key {
                return Err(TaskError::Schema(format!(
                    "event {key:?} claims id {:?}",
                    e.id
                )));
            }
            events.push(e);
        }
        events.sort_by(|a, b| a.id.cmp(&b.id));
        let notes_obj = req_map(d, &ROOT, K_NOTES, "task")?;
        let mut notes = Vec::new();
        for key in d.keys(&notes_obj) {
            let obj = req_map(d, &notes_obj, &key, "notes")?;
            let ctx = format!("note {key:?}");
            let n = Note {
                id: req_str(d, &obj, "id", &ctx)?,
                author: req_str(d, &obj, "author", &ctx)?,
                device: req_str(d, &obj, "device", &ctx)?,
                at: req_i64(d, &obj, "at", &ctx)?,
                text: req_str(d, &obj, "text", &ctx)?,
            };
            if n.id != key {
                return Err(TaskError::Schema(format!("{ctx} claims id {:?}", n.id)));
            }
            notes.push(n);
        }
        notes.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let photos_obj = req_map(d, &ROOT, K_PHOTOS, "task")?;
        let mut photos = Vec::new();
        for key in d.keys(&photos_obj) {
            photos.push(read_photo_entry(d, &photos_obj, &key)?);
        }
        photos.sort_by(|a, b| a.hash.cmp(&b.hash));
        Ok(Parsed {
            schema,
            id,
            source,
            category: req_str(d, &ROOT, K_CATEGORY, "task")?,
            title: req_str(d, &ROOT, K_TITLE, "task")?,
            description: req_str(d, &ROOT, K_DESCRIPTION, "task")?,
            point,
            address: opt_str(d, &ROOT, K_ADDRESS, "task")?,
            district: opt_str(d, &ROOT, K_DISTRICT, "task")?,
            priority: parse_priority(&req_str(d, &ROOT, K_PRIORITY, "task")?)?,
            sla,
            reopen_window_ms: req_i64(d, &ROOT, K_REOPEN_WINDOW, "task")?,
            events,
            notes,
            photos,
        })
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

/// Changes in topological order, ties broken by hash (Kahn's algorithm with a min-heap).
fn canonical_order(changes: Vec<automerge::Change>) -> Vec<automerge::Change> {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, HashMap};
    let index: HashMap<ChangeHash, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let mut waiting: Vec<usize> = vec![0; changes.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, c) in changes.iter().enumerate() {
        for d in c.deps() {
            if let Some(&p) = index.get(d) {
                waiting[i] += 1;
                children[p].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<(ChangeHash, usize)>> = changes
        .iter()
        .enumerate()
        .filter(|(i, _)| waiting[*i] == 0)
        .map(|(i, c)| Reverse((c.hash(), i)))
        .collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push(Reverse((changes[c].hash(), c)));
            }
        }
    }
    let mut slots: Vec<Option<automerge::Change>> = changes.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// The heads of the event DAG: events no other event names as a parent, sorted.
pub(crate) fn event_heads(events: &[Event]) -> Vec<String> {
    let referenced: std::collections::HashSet<&str> = events
        .iter()
        .flat_map(|e| e.parents.iter().map(String::as_str))
        .collect();
    let mut heads: Vec<String> = events
        .iter()
        .filter(|e| !referenced.contains(e.id.as_str()))
        .map(|e| e.id.clone())
        .collect();
    heads.sort();
    heads.dedup();
    heads
}

/// A new id for an event or note; see the module docs.
fn mint_id(doc: &mut AutoCommit, actor: &Actor) -> String {
    let mut h = Sha256::new();
    h.update(doc.get_actor().to_bytes());
    for head in doc.get_heads() {
        h.update(head.0);
    }
    let digest = h.finalize();
    format!("{}:{}", actor.device, hex::encode(&digest[..8]))
}

fn read_schema(doc: &AutoCommit) -> Result<u64, TaskError> {
    match scalar(doc, &ROOT, K_SCHEMA, "task")? {
        Some(ScalarValue::Uint(v)) => Ok(v),
        Some(ScalarValue::Int(v)) if v >= 0 => Ok(v.unsigned_abs()),
        Some(_) => Err(TaskError::Schema("schema is not a version number".into())),
        None => Err(TaskError::Schema("no schema version".into())),
    }
}

/// Runs the upgrade steps from `from` to [`SCHEMA_VERSION`] as one commit.
fn upgrade(doc: &mut AutoCommit, from: u64) -> Result<(), TaskError> {
    if doc.pending_ops() > 0 {
        doc.commit();
    }
    let result = (|| -> Result<(), TaskError> {
        for v in from..SCHEMA_VERSION {
            let step = UPGRADES
                .iter()
                .find(|(at, _)| *at == v)
                .map(|(_, f)| *f)
                .ok_or_else(|| TaskError::Schema(format!("no upgrade from schema {v}")))?;
            step(doc)?;
        }
        doc.put(ROOT, K_SCHEMA, SCHEMA_VERSION)?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            doc.commit();
            Ok(())
        }
        Err(e) => {
            doc.rollback();
            Err(e)
        }
    }
}

// ---- writing ----

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

// ---- reading ----

fn schema_err(ctx: &str, key: &str, what: &str) -> TaskError {
    TaskError::Schema(format!("{ctx}: {key} {what}"))
}

/// A scalar at `obj[key]`: `None` if absent; an object there is an error.
fn scalar(
    d: &AutoCommit,
    obj: &ObjId,
    key: &str,
    ctx: &str,
) -> Result<Option<ScalarValue>, TaskError> {
    match d.get(obj, key) {
        Err(e) => Err(schema_err(ctx, key, &format!("cannot be read: {e}"))),
        Ok(None) => Ok(None),
        Ok(Some((Value::Scalar(s), _))) => Ok(Some(s.into_owned())),
        Ok(Some((Value::Object(_), _))) => Err(schema_err(ctx, key, "should be a plain value")),
    }
}

pub(super) fn req_str(
    d: &AutoCommit,
    obj: &ObjId,
    key: &str,
    ctx: &str,
) -> Result<String, TaskError> {
    opt_str(d, obj, key, ctx)?.ok_or_else(|| schema_err(ctx, key, "is missing"))
}

fn opt_str(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<Option<String>, TaskError> {
    match scalar(d, obj, key, ctx)? {
        None | Some(ScalarValue::Null) => Ok(None),
        Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
        Some(_) => Err(schema_err(ctx, key, "should be text")),
    }
}

fn opt_i64(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<Option<i64>, TaskError> {
    match scalar(d, obj, key, ctx)? {
        None | Some(ScalarValue::Null) => Ok(None),
        Some(ScalarValue::Int(v)) | Some(ScalarValue::Timestamp(v)) => Ok(Some(v)),
        Some(ScalarValue::Uint(v)) => i64::try_from(v)
            .map(Some)
            .map_err(|_| schema_err(ctx, key, "is out of range")),
        Some(_) => Err(schema_err(ctx, key, "should be an integer")),
    }
}

fn req_i64(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<i64, TaskError> {
    opt_i64(d, obj, key, ctx)?.ok_or_else(|| schema_err(ctx, key, "is missing"))
}

fn req_u64(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<u64, TaskError> {
    match scalar(d, obj, key, ctx)? {
        Some(ScalarValue::Uint(v)) => Ok(v),
        Some(ScalarValue::Int(v)) if v >= 0 => Ok(v.unsigned_abs()),
        None => Err(schema_err(ctx, key, "is missing")),
        Some(_) => Err(schema_err(ctx, key, "should be a non-negative integer")),
    }
}

fn opt_f64(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<Option<f64>, TaskError> {
    match scalar(d, obj, key, ctx)? {
        None | Some(ScalarValue::Null) => Ok(None),
        Some(ScalarValue::F64(v)) => Ok(Some(v)),
        // Whole numbers may arrive as integers from other automerge bindings.
        Some(ScalarValue::Int(v)) => Ok(Some(v as f64)),
        Some(ScalarValue::Uint(v)) => Ok(Some(v as f64)),
        Some(_) => Err(schema_err(ctx, key, "should be a number")),
    }
}

fn req_f64(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<f64, TaskError> {
    opt_f64(d, obj, key, ctx)?.ok_or_else(|| schema_err(ctx, key, "is missing"))
}

fn obj_of(
    d: &AutoCommit,
    obj: &ObjId,
    key: &str,
    ctx: &str,
    want: ObjType,
) -> Result<Option<ObjId>, TaskError> {
    match d.get(obj, key) {
        Err(e) => Err(schema_err(ctx, key, &format!("cannot be read: {e}"))),
        Ok(None) | Ok(Some((Value::Scalar(_), _))) => Ok(None),
        Ok(Some((Value::Object(t), id))) if t == want => Ok(Some(id)),
        Ok(Some((Value::Object(_), _))) => Err(schema_err(ctx, key, "has the wrong type")),
    }
}

pub(super) fn req_map(
    d: &AutoCommit,
    obj: &ObjId,
    key: &str,
    ctx: &str,
) -> Result<ObjId, TaskError> {
    obj_of(d, obj, key, ctx, ObjType::Map)?.ok_or_else(|| schema_err(ctx, key, "should be a map"))
}

fn str_list(d: &AutoCommit, obj: &ObjId, key: &str, ctx: &str) -> Result<Vec<String>, TaskError> {
    let list = obj_of(d, obj, key, ctx, ObjType::List)?
        .ok_or_else(|| schema_err(ctx, key, "should be a list"))?;
    let mut out = Vec::new();
    for (v, _) in d.values(&list) {
        match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(s) => out.push(s.to_string()),
                _ => return Err(schema_err(ctx, key, "should hold text only")),
            },
            Value::Object(_) => return Err(schema_err(ctx, key, "should hold text only")),
        }
    }
    Ok(out)
}

fn read_point(d: &AutoCommit, obj: &ObjId, ctx: &str) -> Result<GeoPoint, TaskError> {
    Ok(GeoPoint {
        lat: req_f64(d, obj, "lat", ctx)?,
        lon: req_f64(d, obj, "lon", ctx)?,
        accuracy_m: opt_f64(d, obj, "accuracy_m", ctx)?,
    })
}

fn read_event(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<Event, TaskError> {
    let ctx = format!("event {key:?}");
    let ctx = ctx.as_str();
    let actor_obj = req_map(d, obj, "actor", ctx)?;
    let role_name = req_str(d, &actor_obj, "role", ctx)?;
    let role =
        Role::parse(&role_name).ok_or_else(|| schema_err(ctx, "actor role", "is unknown"))?;
    let device = DeviceId::new(req_str(d, &actor_obj, "device", ctx)?)
        .map_err(|e| TaskError::Schema(format!("{ctx}: {e}")))?;
    let actor = Actor {
        user: req_str(d, &actor_obj, "user", ctx)?,
        role,
        crew: opt_str(d, &actor_obj, "crew", ctx)?,
        device,
    };
    let s = |k: &str| req_str(d, obj, k, ctx);
    let kind_name = s("kind")?;
    let kind = match kind_name.as_str() {
        "created" => EventKind::Created,
        "routed" => EventKind::Routed {
            district: s("district")?,
        },
        "assigned" => EventKind::Assigned {
            crew: s("crew")?,
            reason: s("reason")?,
        },
        "acknowledged" => EventKind::Acknowledged,
        "started" => EventKind::Started,
        "paused" => EventKind::Paused {
            reason: s("reason")?,
        },
        "completed" => EventKind::Completed {
            photos: str_list(d, obj, "photos", ctx)?,
        },
        "verified" => EventKind::Verified,
        "reopened" => EventKind::Reopened {
            reason: s("reason")?,
        },
        "cancelled" => EventKind::Cancelled {
            reason: s("reason")?,
        },
        "marked_duplicate" => EventKind::MarkedDuplicate {
            of: DocId::new(s("of")?).map_err(|e| TaskError::Schema(format!("{ctx}: {e}")))?,
        },
        "rated" => EventKind::Rated {
            stars: u8::try_from(req_u64(d, obj, "stars", ctx)?)
                .map_err(|_| schema_err(ctx, "stars", "is out of range"))?,
            comment: s("comment")?,
        },
        "reprioritized" => EventKind::Reprioritized {
            priority: parse_priority(&s("priority")?)?,
            reason: s("reason")?,
        },
        "escalated" => EventKind::Escalated {
            reason: s("reason")?,
        },
        other => {
            return Err(TaskError::Schema(format!("{ctx}: unknown kind {other:?}")));
        }
    };
    Ok(Event {
        id: s("id")?,
        kind,
        actor,
        at: req_i64(d, obj, "at", ctx)?,
        parents: str_list(d, obj, "parents", ctx)?,
    })
}

/// Reads one photo entry. Two devices that add the same content concurrently write the
/// same key; if they disagree on the kind, the after photo is the one that counts, so a
/// concurrent "before" with the same hash can never void a crew's completion.
fn read_photo_entry(d: &AutoCommit, photos: &ObjId, key: &str) -> Result<PhotoRef, TaskError> {
    let winner = req_map(d, photos, key, "photos")?;
    let mut best = read_photo(d, &winner, key)?;
    if best.kind != PhotoKind::After {
        for (value, obj) in d.get_all(photos, key)? {
            if matches!(value, Value::Object(ObjType::Map)) && obj != winner {
                let other = read_photo(d, &obj, key)?;
                if other.kind == PhotoKind::After {
                    best = other;
                    break;
                }
            }
        }
    }
    Ok(best)
}

pub(super) fn read_photo(d: &AutoCommit, obj: &ObjId, key: &str) -> Result<PhotoRef, TaskError> {
    let ctx = format!("photo {key:?}");
    let ctx = ctx.as_str();
    let taken_point = match obj_of(d, obj, "taken_point", ctx, ObjType::Map)? {
        Some(p) => Some(read_point(d, &p, ctx)?),
        None => match scalar(d, obj, "taken_point", ctx)? {
            None | Some(ScalarValue::Null) => None,
            Some(_) => return Err(schema_err(ctx, "taken_point", "should be a map")),
        },
    };
    let p = PhotoRef {
        hash: req_str(d, obj, "hash", ctx)?,
        kind: parse_photo_kind(&req_str(d, obj, "kind", ctx)?)?,
        taken_at: opt_i64(d, obj, "taken_at", ctx)?,
        taken_point,
        author: req_str(d, obj, "author", ctx)?,
        device: req_str(d, obj, "device", ctx)?,
        bytes: req_u64(d, obj, "bytes", ctx)?,
        mime: req_str(d, obj, "mime", ctx)?,
        added_at: req_i64(d, obj, "added_at", ctx)?,
    };
    if p.hash != key {
        return Err(TaskError::Schema(format!("{ctx} claims hash {:?}", p.hash)));
    }
    Ok(p)
}

// ---- enum names ----

fn parse_source(s: &str) -> Result<Source, TaskError> {
    Source::parse(s).ok_or_else(|| TaskError::Schema(format!("unknown source {s:?}")))
}

fn parse_priority(s: &str) -> Result<Priority, TaskError> {
    Priority::parse(s).ok_or_else(|| TaskError::Schema(format!("unknown priority {s:?}")))
}

fn parse_photo_kind(s: &str) -> Result<PhotoKind, TaskError> {
    PhotoKind::parse(s).ok_or_else(|| TaskError::Schema(format!("unknown photo kind {s:?}")))
}

// ---- input checks (also used by `validate` on what a device sends) ----

fn invalid(msg: impl Into<String>) -> TaskError {
    TaskError::Invalid(msg.into())
}

fn check_text(what: &str, s: &str, min: usize, max: usize) -> Result<(), TaskError> {
    let n = s.chars().count();
    if n < min {
        return Err(invalid(format!("{what} cannot be empty")));
    }
    if n > max {
        return Err(invalid(format!(
            "{what} is {n} characters, more than {max}"
        )));
    }
    Ok(())
}

fn check_code(what: &str, s: &str) -> Result<(), TaskError> {
    check_text(what, s, 1, MAX_CODE)?;
    if s.trim() != s {
        return Err(invalid(format!("{what} has surrounding spaces")));
    }
    Ok(())
}

fn check_point(what: &str, p: &GeoPoint) -> Result<(), TaskError> {
    if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
        return Err(invalid(format!(
            "{what}: latitude {} is not in -90..=90",
            p.lat
        )));
    }
    if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
        return Err(invalid(format!(
            "{what}: longitude {} is not in -180..=180",
            p.lon
        )));
    }
    if let Some(a) = p.accuracy_m
        && !(a.is_finite() && a >= 0.0)
    {
        return Err(invalid(format!("{what}: accuracy {a} is not a distance")));
    }
    Ok(())
}

pub(crate) fn check_actor(a: &Actor) -> Result<(), TaskError> {
    check_code("actor user", &a.user)?;
    if a.role == Role::Crew && a.crew.is_none() {
        return Err(invalid("a crew member must name a crew"));
    }
    if let Some(c) = &a.crew {
        check_code("actor crew", c)?;
    }
    Ok(())
}

/// Checks a new task's fields.
pub(crate) fn check_new_task(t: &NewTask) -> Result<(), TaskError> {
    check_code("category", &t.category)?;
    check_text("title", &t.title, 0, MAX_TITLE)?;
    check_text("description", &t.description, 0, MAX_TEXT)?;
    check_point("point", &t.point)?;
    if let Some(a) = &t.address {
        check_text("address", a, 0, MAX_SHORT)?;
    }
    if let Some(d) = &t.district {
        check_code("district", d)?;
    }
    if t.reopen_window_ms < 0 {
        return Err(invalid("the reopen window cannot be negative"));
    }
    if let (Some(a), Some(c)) = (t.sla.ack_due, t.sla.complete_due)
        && c < a
    {
        return Err(invalid(
            "the SLA completion is due before the acknowledgement",
        ));
    }
    Ok(())
}

fn is_sha256_hex(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks an event's payload; `own` is the task's id, which a duplicate cannot point at.
pub(crate) fn check_event_kind(kind: &EventKind, own: Option<&DocId>) -> Result<(), TaskError> {
    match kind {
        EventKind::Created | EventKind::Acknowledged | EventKind::Started | EventKind::Verified => {
            Ok(())
        }
        EventKind::Routed { district } => check_code("district", district),
        EventKind::Assigned { crew, reason } => {
            check_code("crew", crew)?;
            check_text("reason", reason, 0, MAX_SHORT)
        }
        EventKind::Paused { reason }
        | EventKind::Reopened { reason }
        | EventKind::Cancelled { reason }
        | EventKind::Escalated { reason }
        | EventKind::Reprioritized { reason, .. } => check_text("reason", reason, 0, MAX_SHORT),
        EventKind::Completed { photos } => {
            if photos.is_empty() {
                return Err(invalid("a completion names at least one after photo"));
            }
            if photos.len() > 100 {
                return Err(invalid("a completion names at most 100 photos"));
            }
            match photos.iter().find(|h| !is_sha256_hex(h)) {
                Some(h) => Err(invalid(format!(
                    "photo hash {:?} is not 64 lower-case hex digits",
                    h.chars().take(80).collect::<String>()
                ))),
                None => Ok(()),
            }
        }
        EventKind::MarkedDuplicate { of } => {
            if Some(of) == own {
                return Err(invalid("a task cannot duplicate itself"));
            }
            Ok(())
        }
        EventKind::Rated { stars, comment } => {
            if !(1..=5).contains(stars) {
                return Err(invalid(format!("a rating is 1 to 5 stars, not {stars}")));
            }
            check_text("comment", comment, 0, MAX_SHORT)
        }
    }
}

/// Checks a photo reference.
pub(crate) fn check_photo(p: &PhotoRef) -> Result<(), TaskError> {
    if !is_sha256_hex(&p.hash) {
        return Err(invalid(
            "a photo hash is 64 lower-case hex digits (SHA-256)",
        ));
    }
    check_code("photo author", &p.author)?;
    check_code("photo device", &p.device)?;
    check_code("photo mime type", &p.mime)?;
    if !p.mime.starts_with("image/") {
        return Err(invalid(format!("{:?} is not an image type", p.mime)));
    }
    if let Some(pt) = &p.taken_point {
        check_point("photo point", pt)?;
    }
    Ok(())
}

/// Checks a note written by hand into a document.
pub(crate) fn check_note(n: &Note) -> Result<(), TaskError> {
    check_code("note id", &n.id)?;
    check_code("note author", &n.author)?;
    check_code("note device", &n.device)?;
    check_text("note", &n.text, 1, MAX_TEXT)
}
