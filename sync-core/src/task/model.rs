//! The task's data types as callers see them: what goes into a document and what the
//! typed API returns. How they are laid out inside automerge is `task::doc`'s business.

use crate::ids::{Actor, DocId, Millis};
use serde::{Deserialize, Serialize};

/// The current document schema version. `TaskDoc::load` upgrades older documents.
pub const SCHEMA_VERSION: u64 = 1;

/// Where a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A citizen (Open311, tracking page).
    Citizen,
    /// A call-centre operator.
    CallCentre,
    /// A field crew that found the problem itself.
    Crew,
    /// A dispatcher.
    Dispatcher,
}

/// How urgent a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Assigned the moment it arrives.
    Urgent,
    /// High.
    High,
    /// Normal: goes to the district's queue.
    Normal,
    /// Low.
    Low,
}

/// A WGS84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude in degrees, -90..=90.
    pub lat: f64,
    /// Longitude in degrees, -180..=180.
    pub lon: f64,
    /// Horizontal accuracy in metres, if known.
    pub accuracy_m: Option<f64>,
}

/// Service-level due times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sla {
    /// The job must be acknowledged by then.
    pub ack_due: Option<Millis>,
    /// The job must be completed by then.
    pub complete_due: Option<Millis>,
}

/// What a new task is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// The task's id.
    pub id: DocId,
    /// Where the report came from.
    pub source: Source,
    /// Open311 `service_code`.
    pub category: String,
    /// Short title.
    pub title: String,
    /// Free text.
    pub description: String,
    /// Where the problem is.
    pub point: GeoPoint,
    /// Street address, if known.
    pub address: Option<String>,
    /// District code, if already known (the server routes it otherwise).
    pub district: Option<String>,
    /// Initial priority.
    pub priority: Priority,
    /// Due times.
    pub sla: Sla,
    /// How long after completion a citizen may rate or reopen (ms). Stored in the document
    /// so that every replica folds the log with the same rule.
    pub reopen_window_ms: Millis,
}

/// Work a crew found in the field and files from its phone as a new task
/// (`Device::report_field_work` gives it its id).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldReport {
    /// Open311 `service_code`.
    pub category: String,
    /// Short title.
    pub title: String,
    /// Free text.
    pub description: String,
    /// Where the problem is (the phone's fix).
    pub point: GeoPoint,
    /// Street address, if known.
    pub address: Option<String>,
    /// District code, if known (the server routes it by its point otherwise).
    pub district: Option<String>,
    /// Initial priority.
    pub priority: Priority,
}

impl FieldReport {
    /// The new task this report files under `id`: source crew, no due times, the default
    /// reopen window.
    pub fn into_new_task(self, id: DocId) -> NewTask {
        NewTask {
            id,
            source: Source::Crew,
            category: self.category,
            title: self.title,
            description: self.description,
            point: self.point,
            address: self.address,
            district: self.district,
            priority: self.priority,
            sla: Sla::default(),
            reopen_window_ms: super::DEFAULT_REOPEN_WINDOW_MS,
        }
    }
}

/// The kind of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    /// Before the work.
    Before,
    /// After the work; a completion needs at least one.
    After,
    /// Evidence (a citizen's "not fixed", a violation).
    Evidence,
}

/// A reference to a photo blob, which travels separately (content-addressed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Lower-case hex SHA-256 of the blob: its address.
    pub hash: String,
    /// Before, after or evidence.
    pub kind: PhotoKind,
    /// When the photo was taken, if known.
    pub taken_at: Option<Millis>,
    /// Where it was taken, if known.
    pub taken_point: Option<GeoPoint>,
    /// Who took it.
    pub author: String,
    /// On which device.
    pub device: String,
    /// Blob size in bytes.
    pub bytes: u64,
    /// MIME type, e.g. `image/jpeg`.
    pub mime: String,
    /// When it was added to the task.
    pub added_at: Millis,
}

/// A free-text note. Notes from every device are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Unique note id.
    pub id: String,
    /// Author's user id.
    pub author: String,
    /// Author's device.
    pub device: String,
    /// When it was written.
    pub at: Millis,
    /// The text.
    pub text: String,
}

/// What happened to a task: the entries of the append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The task was created (always the first event).
    Created,
    /// The task was routed to a district.
    Routed {
        /// District code.
        district: String,
    },
    /// The task was assigned (or reassigned) to a crew.
    Assigned {
        /// Crew id.
        crew: String,
        /// Why this crew (scoring, override, escalation).
        reason: String,
    },
    /// The crew acknowledged the job.
    Acknowledged,
    /// The crew started (or resumed) work.
    Started,
    /// The crew paused work.
    Paused {
        /// Why.
        reason: String,
    },
    /// The crew completed the job; `photos` are the after photos' hashes.
    Completed {
        /// Hashes of after photos (at least one must be an after photo in the task).
        photos: Vec<String>,
    },
    /// A dispatcher verified the completion.
    Verified,
    /// A dispatcher rejected the completion from its photos: the task goes back to the
    /// same crew (status `reopened`), and the rejection counts against it.
    Rejected {
        /// Why, in the dispatcher's words (required).
        reason: String,
    },
    /// The citizen said "not fixed".
    Reopened {
        /// The citizen's words.
        reason: String,
    },
    /// The task was cancelled.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// The task duplicates another.
    MarkedDuplicate {
        /// The surviving task.
        of: DocId,
    },
    /// The citizen rated the fix.
    Rated {
        /// 1 to 5.
        stars: u8,
        /// Optional comment.
        comment: String,
    },
    /// Priority changed.
    Reprioritized {
        /// New priority.
        priority: Priority,
        /// Why.
        reason: String,
    },
    /// The job was escalated (SLA missed).
    Escalated {
        /// Why.
        reason: String,
    },
}

impl EventKind {
    /// The event's wire name (`created`, `assigned`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Routed { .. } => "routed",
            EventKind::Assigned { .. } => "assigned",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Started => "started",
            EventKind::Paused { .. } => "paused",
            EventKind::Completed { .. } => "completed",
            EventKind::Verified => "verified",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Reopened { .. } => "reopened",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::MarkedDuplicate { .. } => "marked_duplicate",
            EventKind::Rated { .. } => "rated",
            EventKind::Reprioritized { .. } => "reprioritized",
            EventKind::Escalated { .. } => "escalated",
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id (device-scoped counter or random; unique across replicas).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// Who did it, on which device.
    pub actor: Actor,
    /// Wall-clock time claimed by the device (informational; never used for ordering).
    pub at: Millis,
    /// The event-log heads the author had seen: the events this one causally follows.
    pub parents: Vec<String>,
}

/// An event to write right after a task's `Created` event, in the same commit
/// ([`crate::task::TaskDoc::create_with_events`]): what
/// [`crate::task::TaskDoc::append_event`] takes, as data.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who does it, on which device.
    pub actor: Actor,
    /// Wall-clock time.
    pub at: Millis,
    /// What happens.
    pub kind: EventKind,
}

/// The status derived from the event log. Never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, not yet routed.
    New,
    /// In its district's queue, unassigned.
    Queued,
    /// Assigned to a crew.
    Assigned,
    /// The crew acknowledged.
    Acknowledged,
    /// Work started.
    InProgress,
    /// Work paused.
    Paused,
    /// Completed with an after photo.
    Completed,
    /// A dispatcher verified the completion.
    Verified,
    /// The citizen said "not fixed", or a dispatcher rejected the completion: back to the
    /// same crew.
    Reopened,
    /// Cancelled.
    Cancelled,
    /// Closed as a duplicate.
    Duplicate,
}

impl Status {
    /// True for statuses no crew works on any more.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Verified | Status::Cancelled | Status::Duplicate
        )
    }
}

/// How the fold treated one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Applied to the derived state.
    Applied,
    /// A second, concurrent completion: kept as an extra visit (rule 2).
    ExtraVisit,
    /// Not valid where it falls in the fold: kept and shown, not applied (rule 7).
    Superseded {
        /// Why, in plain words.
        reason: String,
    },
}

/// One line of the timeline the API returns: an event and what the fold made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The event.
    pub event: Event,
    /// Applied, extra visit or superseded.
    pub outcome: Outcome,
    /// When the server received the event and the time it measures it by, if the event
    /// claimed a time earlier than its receipt by more than the clock skew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// The server's record of when it received a device's event whose claimed time (`at`,
/// the phone's clock) is older than the receipt by more than the clock skew: offline work,
/// or a clock set back. Written by the server only, in the document's `receipts` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The server's clock when the push carrying the event arrived.
    pub received_at: Millis,
    /// The time the server vouches for: the phone's time, but no earlier than the
    /// device's previous contact with the server (work made before that contact would
    /// have been pushed then). Citizens' windows and SLA measures read this.
    pub vouched_at: Millis,
}

/// A conflict the fold resolved and a dispatcher should see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Machine-readable kind, e.g. `completed_while_reassigned`, `completed_while_cancelled`.
    pub kind: String,
    /// The events involved.
    pub events: Vec<String>,
    /// Plain-words explanation.
    pub message: String,
}

/// Everything derived from the event log by the fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// The status.
    pub status: Status,
    /// The crew holding the task, if any.
    pub assignee: Option<String>,
    /// The district (from `Routed`, else the document's field).
    pub district: Option<String>,
    /// The priority (from `Reprioritized`, else the document's field).
    pub priority: Priority,
    /// The completion event that is the task's, if completed.
    pub completion: Option<String>,
    /// Further concurrent completions, kept as extra visits.
    pub extra_visits: Vec<String>,
    /// Conflicts to flag to a dispatcher.
    pub conflicts: Vec<Conflict>,
    /// When the task was first acknowledged, started, completed: the times the server
    /// vouches for ([`Receipt::vouched_at`] where the document holds a receipt for the
    /// event, else the event's `at`).
    pub acknowledged_at: Option<Millis>,
    /// When work first started.
    pub started_at: Option<Millis>,
    /// When the task's completion happened.
    pub completed_at: Option<Millis>,
    /// The citizen's rating, if any.
    pub rating: Option<u8>,
    /// How many times the task was reopened.
    pub reopen_count: u32,
    /// How many completions a dispatcher rejected.
    #[serde(default)]
    pub rejections: u32,
    /// Whether it was escalated.
    pub escalated: bool,
}

/// The whole task as the typed API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// Id.
    pub id: DocId,
    /// Schema version of the document.
    pub schema: u64,
    /// Source.
    pub source: Source,
    /// Open311 service code.
    pub category: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Point.
    pub point: GeoPoint,
    /// Address.
    pub address: Option<String>,
    /// SLA due times.
    pub sla: Sla,
    /// Rate/reopen window after completion (ms).
    pub reopen_window_ms: Millis,
    /// When created (time of the `Created` event).
    pub created_at: Millis,
    /// Derived state.
    pub derived: Derived,
    /// The event log in fold order, each with its outcome.
    pub timeline: Vec<TimelineEntry>,
    /// Notes, oldest first (ties by id).
    pub notes: Vec<Note>,
    /// Photos, by hash.
    pub photos: Vec<PhotoRef>,
}

/// Wire names: the one mapping between these enums and the text stored in documents,
/// databases and JSON.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
            /// Parses a wire name.
            pub fn parse(s: &str) -> Option<$ty> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

wire_names!(Source {
    Citizen => "citizen",
    CallCentre => "call_centre",
    Crew => "crew",
    Dispatcher => "dispatcher",
});
wire_names!(Priority {
    Urgent => "urgent",
    High => "high",
    Normal => "normal",
    Low => "low",
});
wire_names!(PhotoKind {
    Before => "before",
    After => "after",
    Evidence => "evidence",
});
wire_names!(Status {
    New => "new",
    Queued => "queued",
    Assigned => "assigned",
    Acknowledged => "acknowledged",
    InProgress => "in_progress",
    Paused => "paused",
    Completed => "completed",
    Verified => "verified",
    Reopened => "reopened",
    Cancelled => "cancelled",
    Duplicate => "duplicate",
});
