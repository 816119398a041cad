//! Typed reads of a task document: [`TaskDoc::id`], [`TaskDoc::view`] (the task with
//! its derived state) and the full parse that `view` and `validate` build on.
//!
//! Reading is strict: a document whose fields, events, notes or photos are malformed (a
//! forged event without a kind, a string where a number belongs) fails with
//! [`TaskError::Schema`] naming the bad entry; `load` checks this up front. Nothing in a
//! document can make reading panic. We refuse rather than skip because the server refuses
//! malformed changes (`validate_update`), so a malformed entry means a broken or hostile
//! source, and silently dropping part of the log would let replicas disagree about it.

use super::layout::*;
use super::upgrades::read_schema;
use super::{TaskDoc, TaskError};
use crate::ids::{Actor, DeviceId, DocId, Millis, Role};
use crate::task::fold::fold_with_receipts;
use crate::task::model::*;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

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
    /// The server's receipts, by event id (empty in most documents).
    pub receipts: std::collections::BTreeMap<String, Receipt>,
}

impl TaskDoc {
    /// The task id.
    pub fn id(&self) -> Result<DocId, TaskError> {
        let id = req_str(&self.doc, &ROOT, K_ID, "task")?;
        DocId::new(id).map_err(|e| TaskError::Schema(e.to_string()))
    }

    /// Reads the whole task, with its derived state.
    pub fn view(&self) -> Result<TaskView, TaskError> {
        Ok(view_of(self.parse()?))
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
        let receipts = read_receipts(d)?;
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
            receipts,
        })
    }
}

/// A parsed document's view: its fields and the fold of its events. [`TaskView`] is built
/// only here, so a view folded from a document just written
/// ([`TaskDoc::create_with_events`]) is the one reading it back gives.
pub(super) fn view_of(p: Parsed) -> TaskView {
    let (derived, timeline) = fold_with_receipts(
        &p.events,
        &p.photos,
        p.priority,
        p.district.as_deref(),
        p.reopen_window_ms,
        &p.receipts,
    );
    let created_at = timeline
        .iter()
        .find(|t| t.event.kind == EventKind::Created && t.outcome == Outcome::Applied)
        .map(|t| t.event.at)
        .unwrap_or(0);
    TaskView {
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
    }
}

/// The optional `receipts` map (see the layout).
fn read_receipts(d: &AutoCommit) -> Result<std::collections::BTreeMap<String, Receipt>, TaskError> {
    let mut out = std::collections::BTreeMap::new();
    let Some(obj) = obj_of(d, &ROOT, K_RECEIPTS, "task", ObjType::Map)? else {
        if let Ok(Some((Value::Scalar(_), _))) = d.get(&ROOT, K_RECEIPTS) {
            return Err(schema_err("task", K_RECEIPTS, "should be a map"));
        }
        return Ok(out);
    };
    for key in d.keys(&obj) {
        let entry = req_map(d, &obj, &key, "receipts")?;
        let ctx = format!("receipt {key:?}");
        out.insert(
            key.clone(),
            Receipt {
                received_at: req_i64(d, &entry, "received_at", &ctx)?,
                vouched_at: req_i64(d, &entry, "vouched_at", &ctx)?,
            },
        );
    }
    Ok(out)
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

fn schema_err(ctx: &str, key: &str, what: &str) -> TaskError {
    TaskError::Schema(format!("{ctx}: {key} {what}"))
}

/// A scalar at `obj[key]`: `None` if absent; an object there is an error.
pub(super) fn scalar(
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

pub(in crate::task) fn req_str(
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

/// The most entries any of a document's three logs (events, notes, photos) holds, read
/// from automerge's map lengths without parsing an entry: the server checks it against
/// its cap before it parses and folds a received document (whose cost grows with it).
pub fn longest_log(d: &AutoCommit) -> usize {
    [K_EVENTS, K_NOTES, K_PHOTOS]
        .iter()
        .filter_map(|k| match d.get(&ROOT, *k) {
            Ok(Some((Value::Object(_), id))) => Some(d.length(&id)),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

pub(in crate::task) fn req_map(
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
        "rejected" => EventKind::Rejected {
            reason: s("reason")?,
        },
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

pub(in crate::task) fn read_photo(
    d: &AutoCommit,
    obj: &ObjId,
    key: &str,
) -> Result<PhotoRef, TaskError> {
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
