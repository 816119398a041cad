//! What a citizen may see of a report, given its tracking code (design §6): the public
//! part of the task only — category, title, description (the citizen's own words),
//! district, point, status and a timeline in plain words, the expected date, the before
//! and after photos as public derivatives (only photos the server holds processed; the
//! "before" side is the crew's before photos, then the photos the report was filed with),
//! how many people support the report, and whether rating or "not fixed" is open.
//!
//! Never shown: crew names or ids, users, devices, notes, internal reasons (assignment
//! scoring, escalations, priority changes, cancellation reasons), other citizens' words,
//! original photos.
//!
//! A report merged into another (its status is Duplicate through a `MarkedDuplicate`
//! event) is followed to the surviving task, so its reporter and supporters follow the
//! survivor; the view says so.

use super::codes::{self, Tracking};
use super::messages;
use crate::base::time::now_millis;
use crate::domain::citizen::Citizens;
use crate::domain::dispatch::{DispatchError, edit};
use crate::domain::photo::{PhotoError, Variant};
use crate::storage::DbError;
use crate::storage::citizens;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sync_core::task::{EventKind, Outcome, PhotoKind, PhotoRef, Status, TaskView};
use sync_core::{Actor, DeviceId, DocId, Role};
use utoipa::ToSchema;

/// How many merges are followed before giving up (a cycle can only come from a forged
/// or broken history).
const MAX_HOPS: usize = 8;

/// Why a citizen's request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// No such code — or text that cannot be a code: the same answer for both.
    #[error("no report has this tracking code")]
    UnknownCode,
    /// Malformed input (stars, comment, missing photo).
    #[error("{0}")]
    Invalid(String),
    /// Not possible now: the task is not completed, or the window has closed.
    #[error("{0}")]
    NotOpen(String),
    /// This code already did it.
    #[error("{0}")]
    Already(String),
    /// The photo was refused (corrupt, not an image, over the limits, unsupported type).
    #[error(transparent)]
    Photo(PhotoError),
    /// Too many requests from this address.
    #[error("too many tracking-code requests from here; try again in {0} s")]
    TooMany(u64),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Editing the task failed.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
}

/// A code and the task it leads to.
#[derive(Debug, Clone)]
pub struct Followed {
    /// The code as stored.
    pub tracking: Tracking,
    /// The task the code now follows (the survivor of any merges).
    pub view: TaskView,
    /// The task the code was issued on, when it was merged into `view`.
    pub merged_from: Option<DocId>,
}

/// The citizen holding `code` as an actor in task documents. The user id is a
/// pseudonym (a hash of the code), never the code: documents reach crews' phones and
/// consoles, and the code is the citizen's secret.
pub fn citizen_actor(code: &str) -> Actor {
    let digest = Sha256::digest(format!("tarmim-tracking-code:{code}").as_bytes());
    Actor {
        user: format!("citizen-{}", hex::encode(&digest[..6])),
        role: Role::Citizen,
        crew: None,
        // A fixed, valid device id.
        device: DeviceId::new("web-tracking").expect("a valid device id"),
    }
}

/// Resolves a typed code and follows merges to the surviving task.
pub async fn follow(c: &Citizens<'_>, input: &str) -> Result<Followed, TrackError> {
    let tracking = codes::resolve(&c.dispatch.store, input)
        .await?
        .ok_or(TrackError::UnknownCode)?;
    let mut task = tracking.task.clone();
    let mut merged_from = None;
    for _ in 0..MAX_HOPS {
        let view = match edit::load(c.dispatch, &task).await {
            Ok((doc, _)) => doc.view().map_err(DispatchError::from)?,
            // A code whose task was never committed (a crash between the two): unknown.
            Err(DispatchError::NotFound(_)) => return Err(TrackError::UnknownCode),
            Err(e) => return Err(e.into()),
        };
        match survivor(&view) {
            Some(next) if next != task => {
                merged_from.get_or_insert_with(|| tracking.task.clone());
                task = next;
            }
            _ => {
                return Ok(Followed {
                    tracking,
                    view,
                    merged_from,
                });
            }
        }
    }
    Err(TrackError::Dispatch(DispatchError::Invalid(format!(
        "task {} is merged more than {MAX_HOPS} times over",
        tracking.task
    ))))
}

/// The task a duplicate was merged into: the applied `MarkedDuplicate` of a task whose
/// status is Duplicate.
fn survivor(view: &TaskView) -> Option<DocId> {
    if view.derived.status != Status::Duplicate {
        return None;
    }
    view.timeline
        .iter()
        .rev()
        .find_map(|e| match &e.event.kind {
            EventKind::MarkedDuplicate { of } if e.outcome == Outcome::Applied => Some(of.clone()),
            _ => None,
        })
}

/// A code and a name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Named {
    /// Code (`pothole`, `D01`).
    pub code: String,
    /// Name as stored (the local, Persian one).
    pub name: String,
    /// English name, where one is stored (districts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
}

/// A WGS84 point.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Point {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// One line of the public timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Step {
    /// When (ms since the Unix epoch, as the event claims).
    pub at: i64,
    /// What happened: `received`, `routed`, `assigned`, `accepted`, `started`, `paused`,
    /// `completed`, `verified`, `reopened`, `cancelled`, `merged`, `rated`.
    pub kind: String,
    /// The same in plain English (the page has its own words, Persian and English).
    pub text: String,
    /// Stars, for `rated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stars: Option<u8>,
    /// Whether this code's holder did it (their rating, their "not fixed").
    pub yours: bool,
}

/// A photo's public derivatives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicPhoto {
    /// Thumbnail URL (320 px on the long side).
    pub thumb: String,
    /// Display URL (1280 px on the long side).
    pub display: String,
    /// Stored width of the original.
    pub width: i64,
    /// Stored height.
    pub height: i64,
}

/// Before and after photos.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Photos {
    /// The problem before the work: the crew's before photos (taken when work started),
    /// then the photos the report was filed with (the citizen's, from the report page or
    /// an Open311 app). A later "not fixed" photo is not among them.
    pub before: Vec<PublicPhoto>,
    /// Taken when work was completed.
    pub after: Vec<PublicPhoto>,
}

/// What the code's holder may do now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedbackState {
    /// Rating and "not fixed" are open now (the task is completed or verified and the
    /// window has not closed).
    pub open: bool,
    /// Until when (ms), when the task is completed.
    pub until: Option<i64>,
    /// The window's length in days (as the task stores it).
    pub window_days: f64,
    /// Why not open, in plain English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_because: Option<String>,
    /// This code's rating, if given.
    pub rated: Option<u8>,
    /// Whether this code already said "not fixed".
    pub said_not_fixed: bool,
    /// May rate now.
    pub can_rate: bool,
    /// May say "not fixed" now.
    pub can_say_not_fixed: bool,
}

/// The merge the code was followed through.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Merged {
    /// Plain English.
    pub message: String,
}

/// Everything the tracking page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackView {
    /// The code as people read it (`XXXX-XXXX-XXXX`).
    pub code: String,
    /// What the citizen sent: `request` or `violation` (field work, a task), or a
    /// message: `complaint`, `criticism`, `suggestion`, `idea`, `thanks`.
    pub kind: String,
    /// Set when the report was merged into the one shown.
    pub merged: Option<Merged>,
    /// The service.
    pub category: Named,
    /// Title.
    pub title: String,
    /// Description (the reporter's words).
    pub description: String,
    /// Street address, if given.
    pub address: Option<String>,
    /// The district.
    pub district: Option<Named>,
    /// Where (a message may have no place).
    pub point: Option<Point>,
    /// Status (wire name: `queued`, `assigned`, `in_progress`, `completed`, …).
    pub status: String,
    /// The status in plain English.
    pub status_text: String,
    /// When reported (ms).
    pub created_at: i64,
    /// When the city expects it done (the SLA's completion time, ms).
    pub expected_by: Option<i64>,
    /// When it was completed (ms).
    pub completed_at: Option<i64>,
    /// What happened, oldest first.
    pub timeline: Vec<Step>,
    /// Before and after photos.
    pub photos: Photos,
    /// How many citizens support the report (besides its reporter).
    pub supporters: usize,
    /// Rating and "not fixed".
    pub feedback: FeedbackState,
    /// A staff member's answer to a message.
    pub answer: Option<AnswerView>,
    /// The map's tile URL template, if configured (else a plain background).
    pub tile_url: Option<String>,
}

/// A staff member's answer, as the citizen reads it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerView {
    /// The answer.
    pub text: String,
    /// When it was given (ms).
    pub at: i64,
}

/// Plain English for a status.
pub fn status_text(s: Status) -> &'static str {
    match s {
        Status::New | Status::Queued => "Received: waiting for a crew",
        Status::Assigned => "A crew has been assigned",
        Status::Acknowledged => "The crew has accepted the job",
        Status::InProgress => "Work is in progress",
        Status::Paused => "Work is paused",
        Status::Completed => "Completed",
        Status::Verified => "Completed and checked by the city",
        Status::Reopened => "Reopened: the crew will come back",
        Status::Cancelled => "Closed without work",
        Status::Duplicate => "Merged into another report",
    }
}

/// The public timeline: applied events a citizen should see, in plain words.
fn timeline(view: &TaskView, me: &Actor, districts: &[(String, String)]) -> Vec<Step> {
    let mut out = Vec::new();
    for e in &view.timeline {
        if let Outcome::Superseded { .. } = e.outcome {
            continue;
        }
        let yours = e.event.actor.role == Role::Citizen && e.event.actor.user == me.user;
        let (kind, text, stars) = match &e.event.kind {
            EventKind::Created => ("received", "Report received".to_owned(), None),
            EventKind::Routed { district } => {
                let name = districts
                    .iter()
                    .find(|(c, _)| c == district)
                    .map(|(_, n)| n.as_str())
                    .unwrap_or(district);
                ("routed", format!("Sent to the {name} district"), None)
            }
            EventKind::Assigned { .. } => ("assigned", "A crew was assigned".to_owned(), None),
            EventKind::Acknowledged => ("accepted", "The crew accepted the job".to_owned(), None),
            EventKind::Started => ("started", "Work started".to_owned(), None),
            EventKind::Paused { .. } => ("paused", "Work paused".to_owned(), None),
            EventKind::Completed { .. } if e.outcome == Outcome::Applied => {
                ("completed", "Work completed".to_owned(), None)
            }
            EventKind::Completed { .. } => continue,
            EventKind::Verified => ("verified", "The city checked the work".to_owned(), None),
            EventKind::Rejected { .. } => (
                "rejected",
                "The city checked the work and sent the crew back".to_owned(),
                None,
            ),
            EventKind::Reopened { .. } => (
                "reopened",
                "A citizen said it is not fixed: reopened".to_owned(),
                None,
            ),
            EventKind::Cancelled { .. } => ("cancelled", "Closed without work".to_owned(), None),
            EventKind::MarkedDuplicate { .. } => (
                "merged",
                "Merged into another report of the same problem".to_owned(),
                None,
            ),
            EventKind::Rated { stars, .. } => {
                ("rated", format!("Rated {stars} of 5"), Some(*stars))
            }
            // Internal: priority changes and escalations are the city's business.
            EventKind::Reprioritized { .. } | EventKind::Escalated { .. } => continue,
        };
        out.push(Step {
            at: e.event.at,
            kind: kind.to_owned(),
            text,
            stars,
            yours,
        });
    }
    out
}

/// Whether `photo` is one the report was filed with: an evidence photo added by the
/// actor who created the task (the report page's or an Open311 key's filer, the call
/// centre, a crew's field report), as opposed to a citizen's later "not fixed" photo or a
/// crew's own evidence.
fn filed_with(view: &TaskView, photo: &PhotoRef) -> bool {
    let creator = view
        .timeline
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::Created))
        .map(|e| &e.event.actor);
    photo.kind == PhotoKind::Evidence
        && creator.is_some_and(|a| a.user == photo.author && a.device.as_str() == photo.device)
}

/// The photos `shown` selects that the server holds processed, as public URLs.
async fn public_photos(
    c: &Citizens<'_>,
    view: &TaskView,
    shown: impl Fn(&PhotoRef) -> bool,
) -> Result<Vec<PublicPhoto>, TrackError> {
    let mut refs: Vec<_> = view.photos.iter().filter(|p| shown(p)).collect();
    refs.sort_by(|a, b| (a.added_at, &a.hash).cmp(&(b.added_at, &b.hash)));
    let mut out = Vec::new();
    for p in refs {
        let row = crate::domain::photo::serve::for_reference(
            &c.dispatch.store,
            view.id.as_str(),
            &p.hash,
            &p.device,
        )
        .await?;
        if let Some(row) = row {
            out.push(PublicPhoto {
                thumb: format!("/api/v1/photos/{}/{}", row.hash, Variant::Thumb.as_str()),
                display: format!("/api/v1/photos/{}/{}", row.hash, Variant::Display.as_str()),
                width: row.width,
                height: row.height,
            });
        }
    }
    Ok(out)
}

/// When the feedback window of a completed task closes; `None` when it is not completed.
pub fn window_end(view: &TaskView) -> Option<i64> {
    match view.derived.status {
        Status::Completed | Status::Verified => view
            .derived
            .completed_at
            .map(|at| at.saturating_add(view.reopen_window_ms)),
        _ => None,
    }
}

/// Why rating or "not fixed" is not open now, in plain English; `None` when it is.
pub fn closed_because(view: &TaskView, now: i64) -> Option<String> {
    match window_end(view) {
        None => Some(format!(
            "you can rate the work or say it is not fixed once it is completed; it is {} now",
            status_text(view.derived.status).to_lowercase()
        )),
        Some(end) if now > end => Some(format!(
            "the {} day window to rate the work or say it is not fixed has closed",
            days(view.reopen_window_ms)
        )),
        Some(_) => None,
    }
}

fn days(ms: i64) -> f64 {
    (ms as f64 / 86_400_000.0 * 100.0).round() / 100.0
}

/// This code's own feedback, from the document (its events) and the feedback table.
pub async fn given(
    c: &Citizens<'_>,
    code: &str,
    view: &TaskView,
) -> Result<(Option<u8>, bool), TrackError> {
    let me = citizen_actor(code);
    let mut rated = None;
    let mut not_fixed = false;
    for e in &view.timeline {
        if e.event.actor.role != Role::Citizen || e.event.actor.user != me.user {
            continue;
        }
        match &e.event.kind {
            EventKind::Rated { stars, .. } => rated = Some(*stars),
            EventKind::Reopened { .. } => not_fixed = true,
            _ => {}
        }
    }
    for row in citizens::feedback_of_code(&c.dispatch.store, code).await? {
        if row.state != "done" {
            continue;
        }
        match row.kind.as_str() {
            "rating" => {
                rated = rated.or(row.stars.and_then(|s| u8::try_from(s).ok()));
            }
            "not_fixed" => not_fixed = true,
            _ => {}
        }
    }
    Ok((rated, not_fixed))
}

/// The tracking page's view of a code.
pub async fn view(c: &Citizens<'_>, input: &str) -> Result<TrackView, TrackError> {
    if let Some(t) = codes::resolve(&c.dispatch.store, input).await?
        && messages::is_message(t.task.as_str())
    {
        return messages::public_view(&c.dispatch.store, &t.code, t.task.as_str(), c.tile_url)
            .await?
            .ok_or(TrackError::UnknownCode);
    }
    let f = follow(c, input).await?;
    render(c, &f.view, Some(&f.tracking.code), f.merged_from.is_some()).await
}

/// What staff who change nothing (the call centre's desk) see of a task or message: the
/// same public view, with the reporter's code if the task has one. A merged task is
/// shown as it is (its status says it was merged), not followed.
pub async fn staff_view(c: &Citizens<'_>, id: &DocId) -> Result<TrackView, TrackError> {
    let codes = codes::codes_of(&c.dispatch.store, id).await?;
    let reporter = codes.iter().find(|t| t.role == codes::Role::Reporter);
    if messages::is_message(id.as_str()) {
        let Some(t) = reporter else {
            return Err(TrackError::UnknownCode);
        };
        return messages::public_view(&c.dispatch.store, &t.code, id.as_str(), c.tile_url)
            .await?
            .ok_or(TrackError::UnknownCode);
    }
    let view = edit::load(c.dispatch, id)
        .await?
        .0
        .view()
        .map_err(DispatchError::from)?;
    render(c, &view, reporter.map(|t| t.code.as_str()), false).await
}

/// The public view of task `v`, as the holder of `code` (none: nobody's) sees it.
async fn render(
    c: &Citizens<'_>,
    v: &TaskView,
    code: Option<&str>,
    merged: bool,
) -> Result<TrackView, TrackError> {
    let kind = crate::storage::messages::report_origin(&c.dispatch.store, v.id.as_str())
        .await?
        .map(|(k, _)| k)
        .unwrap_or_else(|| "request".to_owned());
    let now = now_millis();
    let me = citizen_actor(code.unwrap_or(""));
    let district = match &v.derived.district {
        Some(code) => Some(Named {
            code: code.clone(),
            name: citizens::district_name(&c.dispatch.store, code)
                .await?
                .unwrap_or_else(|| code.clone()),
            name_en: citizens::district_name_en(&c.dispatch.store, code).await?,
        }),
        None => None,
    };
    let districts: Vec<(String, String)> = district
        .iter()
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect();
    let category = Named {
        code: v.category.clone(),
        name: citizens::service_name(&c.dispatch.store, &v.category)
            .await?
            .unwrap_or_else(|| v.category.clone()),
        name_en: None,
    };
    let (rated, said_not_fixed) = match code {
        Some(code) => given(c, code, v).await?,
        None => (None, false),
    };
    let closed = closed_because(v, now);
    let open = closed.is_none();
    let supporters = codes::codes_of(&c.dispatch.store, &v.id)
        .await?
        .iter()
        .filter(|t| t.role == codes::Role::Supporter)
        .count();
    Ok(TrackView {
        code: code.map(codes::display).unwrap_or_default(),
        kind,
        merged: merged.then(|| Merged {
            message: "Your report was merged into this report of the same problem; \
                      you now follow this one."
                .into(),
        }),
        category,
        title: v.title.clone(),
        description: v.description.clone(),
        address: v.address.clone(),
        district,
        point: Some(Point {
            lat: v.point.lat,
            lon: v.point.lon,
        }),
        status: v.derived.status.as_str().to_owned(),
        status_text: status_text(v.derived.status).to_owned(),
        created_at: v.created_at,
        expected_by: v.sla.complete_due,
        completed_at: v.derived.completed_at,
        timeline: timeline(v, &me, &districts),
        photos: Photos {
            before: {
                let mut before = public_photos(c, v, |p| p.kind == PhotoKind::Before).await?;
                before.extend(public_photos(c, v, |p| filed_with(v, p)).await?);
                before
            },
            after: public_photos(c, v, |p| p.kind == PhotoKind::After).await?,
        },
        supporters,
        feedback: FeedbackState {
            open,
            until: window_end(v),
            window_days: days(v.reopen_window_ms),
            closed_because: closed,
            rated,
            said_not_fixed,
            can_rate: open && rated.is_none(),
            can_say_not_fixed: open && !said_not_fixed,
        },
        answer: None,
        tile_url: c.tile_url.clone(),
    })
}
