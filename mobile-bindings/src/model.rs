//! The records and enums the app sees: plain data mirrored from sync-core's types, each
//! converted in one `From` so the bindings never grow logic of their own.

use sync_core::outbox::{OutboxEntry, UploadState};
use sync_core::store::IndexEntry;
use sync_core::task::{
    EventKind, FieldReport as CoreFieldReport, GeoPoint, Note, Outcome, PhotoKind as CorePhotoKind,
    PhotoRef, Priority, Status, TaskView, TimelineEntry as CoreTimelineEntry,
};

/// How to open a [`crate::TarmimClient`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// The app's private folder for this account (e.g. Android `filesDir/tarmim`, iOS
    /// Application Support): the client keeps its store file `tarmim.redb` there and
    /// creates the folder if needed. One client per folder at a time.
    pub data_dir: String,
    /// The server's base URL, `https://…` (or `http://` for a test server).
    pub server_url: String,
    /// The crew member's login.
    pub login: String,
    /// The password. Kept in memory only, to log in again when the token expires.
    pub password: String,
    /// Sync over the HTTP fallback only, never trying a WebSocket (for networks whose
    /// proxies break WebSockets). The client falls back by itself when an upgrade fails.
    #[uniffi(default = false)]
    pub http_only: bool,
}

/// Who the client acts as (from the server at the first login, then kept in the store
/// so the client also opens offline).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// The user's id: the author of this phone's edits.
    pub user_id: String,
    /// The login name.
    pub login: String,
    /// `crew`, `dispatcher` or `manager`.
    pub role: String,
    /// The crew, for crew members.
    pub crew: Option<String>,
    /// This installation's device id (chosen at the first open, kept in the store).
    pub device_id: String,
}

/// A task's status, derived from its event log (never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TaskStatus {
    /// Created, not yet routed.
    New,
    /// In its district's queue, unassigned.
    Queued,
    /// Assigned to a crew.
    Assigned,
    /// The crew acknowledged it.
    Acknowledged,
    /// Work started.
    InProgress,
    /// Work paused.
    Paused,
    /// Completed with an after photo.
    Completed,
    /// A dispatcher verified the completion.
    Verified,
    /// The citizen said "not fixed".
    Reopened,
    /// Cancelled.
    Cancelled,
    /// Closed as a duplicate.
    Duplicate,
}

impl From<Status> for TaskStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::New => TaskStatus::New,
            Status::Queued => TaskStatus::Queued,
            Status::Assigned => TaskStatus::Assigned,
            Status::Acknowledged => TaskStatus::Acknowledged,
            Status::InProgress => TaskStatus::InProgress,
            Status::Paused => TaskStatus::Paused,
            Status::Completed => TaskStatus::Completed,
            Status::Verified => TaskStatus::Verified,
            Status::Reopened => TaskStatus::Reopened,
            Status::Cancelled => TaskStatus::Cancelled,
            Status::Duplicate => TaskStatus::Duplicate,
        }
    }
}

/// How urgent a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TaskPriority {
    /// Assigned the moment it arrives.
    Urgent,
    /// High.
    High,
    /// Normal.
    Normal,
    /// Low.
    Low,
}

impl From<Priority> for TaskPriority {
    fn from(p: Priority) -> Self {
        match p {
            Priority::Urgent => TaskPriority::Urgent,
            Priority::High => TaskPriority::High,
            Priority::Normal => TaskPriority::Normal,
            Priority::Low => TaskPriority::Low,
        }
    }
}

impl From<TaskPriority> for Priority {
    fn from(p: TaskPriority) -> Self {
        match p {
            TaskPriority::Urgent => Priority::Urgent,
            TaskPriority::High => Priority::High,
            TaskPriority::Normal => Priority::Normal,
            TaskPriority::Low => Priority::Low,
        }
    }
}

/// What a photo shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PhotoKind {
    /// Before the work (taken when starting).
    Before,
    /// After the work; completing needs at least one.
    After,
    /// Evidence of something else.
    Evidence,
}

impl From<CorePhotoKind> for PhotoKind {
    fn from(k: CorePhotoKind) -> Self {
        match k {
            CorePhotoKind::Before => PhotoKind::Before,
            CorePhotoKind::After => PhotoKind::After,
            CorePhotoKind::Evidence => PhotoKind::Evidence,
        }
    }
}

impl From<PhotoKind> for CorePhotoKind {
    fn from(k: PhotoKind) -> Self {
        match k {
            PhotoKind::Before => CorePhotoKind::Before,
            PhotoKind::After => CorePhotoKind::After,
            PhotoKind::Evidence => CorePhotoKind::Evidence,
        }
    }
}

/// One row of the task list (read from the store's index, no document loaded).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskSummary {
    /// Task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Derived status.
    pub status: TaskStatus,
    /// Priority.
    pub priority: TaskPriority,
    /// Category (Open311 service code).
    pub category: String,
    /// District code.
    pub district: Option<String>,
    /// The crew holding it.
    pub assignee: Option<String>,
    /// Latitude of the problem.
    pub lat: f64,
    /// Longitude of the problem.
    pub lon: f64,
    /// Time of its latest event (ms since the epoch).
    pub updated_at_ms: i64,
}

impl From<IndexEntry> for TaskSummary {
    fn from(e: IndexEntry) -> Self {
        TaskSummary {
            id: e.id.to_string(),
            title: e.title,
            // Index rows are written from the fold; an unknown name can only come from a
            // newer app's store, and reads as the most neutral status.
            status: Status::parse(&e.status).unwrap_or(Status::New).into(),
            priority: Priority::parse(&e.priority)
                .unwrap_or(Priority::Normal)
                .into(),
            category: e.category,
            district: e.district,
            assignee: e.assignee,
            lat: e.lat,
            lon: e.lon,
            updated_at_ms: e.updated_at,
        }
    }
}

/// How the event log's fold treated an event.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum EventOutcome {
    /// It counts.
    Applied,
    /// A second, concurrent completion, kept as an extra visit.
    ExtraVisit,
    /// Not valid where it fell (e.g. a start after a concurrent cancellation): kept and
    /// shown, not applied.
    Superseded {
        /// Why, in plain words.
        reason: String,
    },
}

/// One line of a task's timeline.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TimelineEntry {
    /// Event id.
    pub event_id: String,
    /// What happened: `created`, `assigned`, `acknowledged`, `started`, `paused`,
    /// `completed`, `verified`, `reopened`, `cancelled`, …
    pub kind: String,
    /// The event's particulars in plain words (the crew assigned, a reason, photos…).
    pub detail: Option<String>,
    /// Who did it.
    pub by_user: String,
    /// In which role (`crew`, `dispatcher`, `server`, …).
    pub by_role: String,
    /// Their crew, if any.
    pub by_crew: Option<String>,
    /// On which device.
    pub device: String,
    /// When, by the device's clock (ms since the epoch).
    pub at_ms: i64,
    /// Applied, extra visit or superseded.
    pub outcome: EventOutcome,
}

fn event_detail(kind: &EventKind) -> Option<String> {
    match kind {
        EventKind::Created | EventKind::Acknowledged | EventKind::Started | EventKind::Verified => {
            None
        }
        EventKind::Routed { district } => Some(format!("district {district}")),
        EventKind::Assigned { crew, reason } => Some(format!("crew {crew}: {reason}")),
        EventKind::Paused { reason }
        | EventKind::Rejected { reason }
        | EventKind::Reopened { reason }
        | EventKind::Cancelled { reason }
        | EventKind::Escalated { reason } => Some(reason.clone()),
        EventKind::Completed { photos } => Some(format!("photos {}", photos.join(", "))),
        EventKind::MarkedDuplicate { of } => Some(format!("duplicate of {of}")),
        EventKind::Rated { stars, comment } => Some(format!("{stars}/5 {comment}")),
        EventKind::Reprioritized { priority, reason } => {
            Some(format!("{}: {reason}", priority.as_str()))
        }
    }
}

impl From<CoreTimelineEntry> for TimelineEntry {
    fn from(t: CoreTimelineEntry) -> Self {
        let e = t.event;
        TimelineEntry {
            kind: e.kind.name().into(),
            detail: event_detail(&e.kind),
            event_id: e.id,
            by_user: e.actor.user,
            by_role: e.actor.role.as_str().into(),
            by_crew: e.actor.crew,
            device: e.actor.device.to_string(),
            at_ms: e.at,
            outcome: match t.outcome {
                Outcome::Applied => EventOutcome::Applied,
                Outcome::ExtraVisit => EventOutcome::ExtraVisit,
                Outcome::Superseded { reason } => EventOutcome::Superseded { reason },
            },
        }
    }
}

/// A note on a task (notes from every phone are kept).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TaskNote {
    /// Note id.
    pub id: String,
    /// Author's user id.
    pub author: String,
    /// Author's device.
    pub device: String,
    /// When written (ms since the epoch).
    pub at_ms: i64,
    /// The text.
    pub text: String,
}

impl From<Note> for TaskNote {
    fn from(n: Note) -> Self {
        TaskNote {
            id: n.id,
            author: n.author,
            device: n.device,
            at_ms: n.at,
            text: n.text,
        }
    }
}

/// A photo attached to a task (the image itself travels separately, by its hash).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskPhoto {
    /// SHA-256 of the image, lower-case hex: its address.
    pub hash: String,
    /// Before, after or evidence.
    pub kind: PhotoKind,
    /// When it was taken, if known (ms since the epoch).
    pub taken_at_ms: Option<i64>,
    /// Where it was taken: latitude, if known.
    pub lat: Option<f64>,
    /// Where it was taken: longitude, if known.
    pub lon: Option<f64>,
    /// Who took it.
    pub author: String,
    /// On which device.
    pub device: String,
    /// Size in bytes.
    pub bytes: u64,
    /// MIME type.
    pub mime: String,
    /// When it was added to the task (ms since the epoch).
    pub added_at_ms: i64,
}

impl From<PhotoRef> for TaskPhoto {
    fn from(p: PhotoRef) -> Self {
        TaskPhoto {
            hash: p.hash,
            kind: p.kind.into(),
            taken_at_ms: p.taken_at,
            lat: p.taken_point.map(|g| g.lat),
            lon: p.taken_point.map(|g| g.lon),
            author: p.author,
            device: p.device,
            bytes: p.bytes,
            mime: p.mime,
            added_at_ms: p.added_at,
        }
    }
}

/// A task in full.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskDetail {
    /// Task id.
    pub id: String,
    /// Where the report came from: `citizen`, `call_centre`, `crew`, `dispatcher`.
    pub source: String,
    /// Category (Open311 service code).
    pub category: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Latitude of the problem.
    pub lat: f64,
    /// Longitude of the problem.
    pub lon: f64,
    /// Accuracy of the point, in metres.
    pub accuracy_m: Option<f64>,
    /// Street address.
    pub address: Option<String>,
    /// District code.
    pub district: Option<String>,
    /// Priority.
    pub priority: TaskPriority,
    /// Derived status.
    pub status: TaskStatus,
    /// The crew holding it.
    pub assignee: Option<String>,
    /// Acknowledge by (ms since the epoch).
    pub ack_due_ms: Option<i64>,
    /// Complete by (ms since the epoch).
    pub complete_due_ms: Option<i64>,
    /// When it was created.
    pub created_at_ms: i64,
    /// When its completion happened, if completed.
    pub completed_at_ms: Option<i64>,
    /// The completion event that is the task's.
    pub completion_event: Option<String>,
    /// Further concurrent completions, kept as extra visits.
    pub extra_visits: Vec<String>,
    /// Conflicts the merge resolved, in plain words (for the dispatcher; shown read-only).
    pub conflicts: Vec<String>,
    /// The event log in fold order.
    pub timeline: Vec<TimelineEntry>,
    /// Notes, oldest first.
    pub notes: Vec<TaskNote>,
    /// Photos.
    pub photos: Vec<TaskPhoto>,
}

impl From<TaskView> for TaskDetail {
    fn from(v: TaskView) -> Self {
        let d = v.derived;
        TaskDetail {
            id: v.id.to_string(),
            source: v.source.as_str().into(),
            category: v.category,
            title: v.title,
            description: v.description,
            lat: v.point.lat,
            lon: v.point.lon,
            accuracy_m: v.point.accuracy_m,
            address: v.address,
            district: d.district,
            priority: d.priority.into(),
            status: d.status.into(),
            assignee: d.assignee,
            ack_due_ms: v.sla.ack_due,
            complete_due_ms: v.sla.complete_due,
            created_at_ms: v.created_at,
            completed_at_ms: d.completed_at,
            completion_event: d.completion,
            extra_visits: d.extra_visits,
            conflicts: d.conflicts.into_iter().map(|c| c.message).collect(),
            timeline: v.timeline.into_iter().map(Into::into).collect(),
            notes: v.notes.into_iter().map(Into::into).collect(),
            photos: v.photos.into_iter().map(Into::into).collect(),
        }
    }
}

/// Work a crew found in the field and reports as a new task.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldReport {
    /// Category (Open311 service code, e.g. `pothole`).
    pub category: String,
    /// Short title.
    pub title: String,
    /// What is wrong.
    pub description: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Accuracy of the point, in metres.
    #[uniffi(default = None)]
    pub accuracy_m: Option<f64>,
    /// Street address, if known.
    #[uniffi(default = None)]
    pub address: Option<String>,
    /// District code, if known (the server routes the point otherwise).
    #[uniffi(default = None)]
    pub district: Option<String>,
    /// How urgent.
    pub priority: TaskPriority,
}

impl From<FieldReport> for CoreFieldReport {
    fn from(r: FieldReport) -> Self {
        CoreFieldReport {
            category: r.category,
            title: r.title,
            description: r.description,
            point: GeoPoint {
                lat: r.lat,
                lon: r.lon,
                accuracy_m: r.accuracy_m,
            },
            address: r.address,
            district: r.district,
            priority: r.priority.into(),
        }
    }
}

/// Where the phone is.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Position {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
    /// When the fix was taken (ms since the epoch).
    pub at_ms: i64,
    /// Horizontal accuracy in metres.
    #[uniffi(default = None)]
    pub accuracy_m: Option<f64>,
}

/// One stop of the crew's day order ([`crate::client::TarmimClient::day_order`]).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PlannedStop {
    /// Task id.
    pub task_id: String,
    /// Title.
    pub title: String,
    /// Priority.
    pub priority: TaskPriority,
    /// Estimated arrival (ms since the epoch).
    pub arrive_at_ms: i64,
    /// Estimated end of the work (ms since the epoch).
    pub finish_at_ms: i64,
    /// Estimated road distance from the previous stop (or the phone), metres.
    pub travel_m: f64,
    /// The completion deadline, if the service sets one (ms since the epoch).
    pub complete_due_ms: Option<i64>,
    /// How late the work would end, ms (0 when on time or with no deadline).
    pub late_ms: i64,
}

/// A local change the server refused; the task was reset to the server's copy (or
/// removed from the phone, when it is not this crew's to see).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedChange {
    /// The task.
    pub task_id: String,
    /// Why, for code: `forbidden`, `out_of_scope`, `read_only_field`,
    /// `invalid_transition`, `history_rewritten`, `impersonation`, `malformed`.
    pub code: String,
    /// Why, in plain words.
    pub message: String,
}

/// How a sync reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncTransport {
    /// The sync WebSocket.
    WebSocket,
    /// The HTTP fallback.
    Http,
}

/// What [`crate::TarmimClient::sync_now`] did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// How it reached the server.
    pub transport: SyncTransport,
    /// Tasks whose local changes were sent.
    pub sent: u32,
    /// Tasks that arrived or changed from the server.
    pub received: u32,
    /// Tasks whose sent changes the server acknowledged (they are durable there).
    pub acknowledged: u32,
    /// Changes the server refused (the tasks were reset).
    pub refused: Vec<RefusedChange>,
    /// Local changes still waiting for the server.
    pub pending_changes: u64,
    /// Photos still waiting to be uploaded.
    pub pending_uploads: u64,
}

/// The background sync's state, for a status line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// Not running.
    Stopped,
    /// Connecting.
    Connecting,
    /// Connected and up to date; changes arrive live.
    Live,
    /// No connection; the next attempt is scheduled.
    Offline {
        /// Why.
        reason: String,
        /// When the next attempt is due, in milliseconds.
        retry_in_ms: u64,
    },
    /// The server no longer accepts the credentials: open the client again with the new
    /// password. The loop has stopped.
    LoginRequired {
        /// What the server said.
        reason: String,
    },
    /// The user's account is disabled: the phone dropped the user's tasks (see
    /// `TarmimError::AccountDisabled`). The loop has stopped.
    AccountDisabled {
        /// What the server said.
        reason: String,
    },
}

/// A photo in the phone's outbox and how far its upload got.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoUpload {
    /// The photo's hash.
    pub hash: String,
    /// The task it was added to first.
    pub task_id: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// Bytes the server has confirmed holding.
    pub uploaded_bytes: u64,
    /// `pending`, `uploaded` or `refused`.
    pub state: String,
    /// The last failure, to show (a refused upload says why).
    pub last_error: Option<String>,
    /// Not retried before this time (ms since the epoch).
    pub next_attempt_at_ms: i64,
}

impl From<OutboxEntry> for PhotoUpload {
    fn from(e: OutboxEntry) -> Self {
        PhotoUpload {
            task_id: e.task().map(ToString::to_string),
            state: match e.state {
                UploadState::Pending => "pending",
                UploadState::Uploaded => "uploaded",
                UploadState::Refused { .. } => "refused",
            }
            .into(),
            hash: e.hash,
            bytes: e.size,
            uploaded_bytes: e.confirmed,
            last_error: e.last_error,
            next_attempt_at_ms: e.next_attempt_at,
        }
    }
}
