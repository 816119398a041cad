//! A citizen's word on a completed job, through the tracking code (design §2 rules 4 and
//! 6, §6): a rating of 1 to 5 stars with an optional comment, or "not fixed" with a photo
//! (and an optional comment), within the task's feedback window after completion
//! (`TARMIM_FEEDBACK_WINDOW_DAYS`, stored in each task as its reopen window).
//!
//! - A rating becomes a `Rated` event by the code's citizen actor
//!   ([`super::public_view::citizen_actor`]: a pseudonym, never the code). The document holds
//!   one rating per task (the fold's rule), so a rating given after another code already
//!   rated the task is kept in `citizen_feedback` only, and the answer says so.
//! - "Not fixed": the photo goes through the photo pipeline first (sniffed, verified under
//!   limits, EXIF stripped, derivatives made; [`crate::domain::photo::ingest::ingest_bytes`]), so
//!   a corrupt photo changes nothing; then the photo is referenced as evidence and a
//!   `Reopened` event appended, in one commit. The task keeps its crew (the fold keeps the
//!   assignee), so it is back in that crew's sync scope and on its phones; the ack timer
//!   only watches `assigned` jobs, so instead the district's dispatchers get a `reopened`
//!   alert and the task's completion timer is re-armed (its original span from now).
//!
//! Once per code and kind: a row in `citizen_feedback` (migration 0008) is claimed
//! `pending` before the document is edited and marked `done` after the commit is durable.
//! The document stays the authority — the edit looks for this pseudonym's event first —
//! so a retry after a crash between the two records nothing twice, and a refused edit
//! releases the claim so the citizen may try again later (e.g. once the job is done).

use super::public_view::{self, TrackError, citizen_actor};
use crate::base::time::now_millis;
use crate::domain::citizen::Citizens;
use crate::domain::dispatch::assign;
use crate::domain::dispatch::{DispatchError, edit};
use crate::domain::photo::PhotoError;
use crate::domain::photo::ingest::{self, IngestError};
use crate::storage::citizens as records;
use crate::storage::dispatch::{self as dispatch_store, TimerKind};
use crate::storage::{Db, DbError};
use serde::Serialize;
use sync_core::task::{EventKind, PhotoKind, PhotoRef, TaskError, TaskView};
use sync_core::{Actor, Role};
use utoipa::ToSchema;

/// Longest comment, in characters (the document's limit for short texts).
pub const MAX_COMMENT: usize = 1000;

pub use crate::storage::citizens::FeedbackRow;

/// Claims `(code, kind)`: inserts a pending row, or returns the row already there.
async fn claim(db: &Db, r: &FeedbackRow) -> Result<Option<FeedbackRow>, DbError> {
    if records::claim_feedback(db, r).await? {
        return Ok(None);
    }
    records::feedback(db, &r.code, &r.kind).await
}

/// What was recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recorded {
    /// `rated` or `reopened`.
    pub outcome: String,
    /// Whether it went into the task itself (false: a rating kept beside the task's one).
    pub in_task: bool,
    /// Plain English.
    pub message: String,
}

/// Checks a comment: trimmed, at most [`MAX_COMMENT`] characters.
pub fn check_comment(comment: &str) -> Result<String, TrackError> {
    let c = comment.trim();
    if c.chars().count() > MAX_COMMENT {
        return Err(TrackError::Invalid(format!(
            "a comment is at most {MAX_COMMENT} characters"
        )));
    }
    if c.chars()
        .any(|ch| ch.is_control() && ch != '\n' && ch != '\t')
    {
        return Err(TrackError::Invalid(
            "a comment cannot contain control characters".into(),
        ));
    }
    Ok(c.to_owned())
}

fn event_by(view: &TaskView, me: &Actor, kind: &str) -> Option<String> {
    view.timeline
        .iter()
        .find(|e| {
            e.event.actor.role == Role::Citizen
                && e.event.actor.user == me.user
                && e.event.kind.name() == kind
        })
        .map(|e| e.event.id.clone())
}

/// What the edit closure found (the closure can only say "nothing to do").
enum Skip {
    AlreadyByThisCode,
    NotOpen(String),
    RatedByAnother,
}

fn not_open(e: &DispatchError) -> Option<String> {
    match e {
        DispatchError::Task(TaskError::Transition { why, .. }) => Some(why.clone()),
        _ => None,
    }
}

/// Rates a completed task: see the module docs.
pub async fn rate(
    c: &Citizens<'_>,
    code_input: &str,
    stars: i64,
    comment: &str,
) -> Result<Recorded, TrackError> {
    if !(1..=5).contains(&stars) {
        return Err(TrackError::Invalid(format!(
            "a rating is 1 to 5 stars, not {stars}"
        )));
    }
    let stars = stars as u8;
    let comment = check_comment(comment)?;
    let Open { f, code, me, now } = open(c, code_input, "rating", "rated", already_rated).await?;
    let task = f.view.id.clone();
    let claimed = claim(
        &c.dispatch.store,
        &FeedbackRow {
            code: code.clone(),
            kind: "rating".into(),
            task: task.to_string(),
            stars: Some(i32::from(stars)),
            comment: comment.clone(),
            photo: None,
            event: None,
            state: "pending".into(),
            created_at: now,
            done_at: None,
        },
    )
    .await?;
    if claimed.is_some_and(|r| r.state == "done") {
        return Err(already_rated());
    }
    let mut skip = None;
    let edited = edit::edit(c.dispatch, &task, |doc, v| {
        if event_by(v, &me, "rated").is_some() {
            skip = Some(Skip::AlreadyByThisCode);
            return Ok(None);
        }
        if let Some(why) = public_view::closed_because(v, now) {
            skip = Some(Skip::NotOpen(why));
            return Ok(None);
        }
        if v.derived.rating.is_some() {
            skip = Some(Skip::RatedByAnother);
            return Ok(None);
        }
        let rated = EventKind::Rated {
            stars,
            comment: comment.clone(),
        };
        match doc.append_event(&me, now, rated) {
            Ok(id) => Ok(Some(id)),
            Err(e) => Err(e.into()),
        }
    })
    .await;
    let edited = match edited {
        Ok(x) => x,
        Err(e) => {
            records::release_feedback(&c.dispatch.store, &code, "rating").await?;
            return Err(match not_open(&e) {
                Some(why) => TrackError::NotOpen(capitalise(&why)),
                None => e.into(),
            });
        }
    };
    match (edited, skip) {
        (Some(done), _) => {
            done_or_log(c, &code, "rating", Some(&done.value)).await;
            metrics::counter!("tarmim_citizen_feedback_total", "kind" => "rating").increment(1);
            Ok(Recorded {
                outcome: "rated".into(),
                in_task: true,
                message: "Thank you: your rating was recorded.".into(),
            })
        }
        (None, Some(Skip::RatedByAnother)) => {
            done_or_log(c, &code, "rating", None).await;
            metrics::counter!("tarmim_citizen_feedback_total", "kind" => "rating").increment(1);
            Ok(Recorded {
                outcome: "rated".into(),
                in_task: false,
                message: "Thank you: your rating was recorded beside the first one given on \
                          this report."
                    .into(),
            })
        }
        (None, Some(Skip::AlreadyByThisCode)) => {
            done_or_log(c, &code, "rating", None).await;
            Err(already_rated())
        }
        (None, Some(Skip::NotOpen(why))) => {
            records::release_feedback(&c.dispatch.store, &code, "rating").await?;
            Err(TrackError::NotOpen(capitalise(&why)))
        }
        (None, None) => {
            records::release_feedback(&c.dispatch.store, &code, "rating").await?;
            Err(TrackError::NotOpen(
                "The report cannot be rated now.".into(),
            ))
        }
    }
}

/// Says "not fixed" with a photo: see the module docs.
pub async fn not_fixed(
    c: &Citizens<'_>,
    code_input: &str,
    photo: Vec<u8>,
    comment: &str,
) -> Result<Recorded, TrackError> {
    let comment = check_comment(comment)?;
    if photo.is_empty() {
        return Err(TrackError::Invalid(
            "a photo of the problem is needed to say it is not fixed".into(),
        ));
    }
    let Open { f, code, me, now } =
        open(c, code_input, "not_fixed", "reopened", already_not_fixed).await?;
    let task = f.view.id.clone();
    // The photo first: a refused one leaves nothing behind and changes nothing.
    let stored = ingest::ingest_bytes(
        &c.dispatch.store,
        c.photos,
        photo,
        task.as_str(),
        Some(PhotoKind::Evidence.as_str()),
        me.device.as_str(),
    )
    .await
    .map_err(|e| match e {
        IngestError::Refused(p) => TrackError::Photo(p),
        IngestError::Busy => TrackError::Photo(PhotoError::Busy),
        IngestError::Db(d) => TrackError::Db(d),
        other => TrackError::Photo(PhotoError::Internal(other.to_string())),
    })?;
    let claimed = claim(
        &c.dispatch.store,
        &FeedbackRow {
            code: code.clone(),
            kind: "not_fixed".into(),
            task: task.to_string(),
            stars: None,
            comment: comment.clone(),
            photo: Some(stored.hash.clone()),
            event: None,
            state: "pending".into(),
            created_at: now,
            done_at: None,
        },
    )
    .await?;
    if claimed.is_some_and(|r| r.state == "done") {
        return Err(already_not_fixed());
    }
    let evidence = PhotoRef {
        hash: stored.hash.clone(),
        kind: PhotoKind::Evidence,
        // The citizen's EXIF time and place stay with the private original.
        taken_at: None,
        taken_point: None,
        author: me.user.clone(),
        device: me.device.to_string(),
        bytes: u64::try_from(stored.bytes).unwrap_or(0),
        mime: stored.mime.clone(),
        added_at: now,
    };
    let reason = if comment.is_empty() {
        "not fixed (the citizen's photo is attached)".to_owned()
    } else {
        comment.clone()
    };
    let mut skip = None;
    let edited = edit::edit(c.dispatch, &task, |doc, v| {
        if event_by(v, &me, "reopened").is_some() {
            skip = Some(Skip::AlreadyByThisCode);
            return Ok(None);
        }
        if let Some(why) = public_view::closed_because(v, now) {
            skip = Some(Skip::NotOpen(why));
            return Ok(None);
        }
        doc.add_photo(&me, evidence.clone())?;
        let id = doc.append_event(
            &me,
            now,
            EventKind::Reopened {
                reason: reason.clone(),
            },
        )?;
        Ok(Some(id))
    })
    .await;
    let edited = match edited {
        Ok(x) => x,
        Err(e) => {
            records::release_feedback(&c.dispatch.store, &code, "not_fixed").await?;
            return Err(match not_open(&e) {
                Some(why) => TrackError::NotOpen(capitalise(&why)),
                None => e.into(),
            });
        }
    };
    match (edited, skip) {
        (Some(done), _) => {
            done_or_log(c, &code, "not_fixed", Some(&done.value)).await;
            metrics::counter!("tarmim_citizen_feedback_total", "kind" => "not_fixed").increment(1);
            back_to_work(c, &done.view, now).await;
            Ok(Recorded {
                outcome: "reopened".into(),
                in_task: true,
                message: "Thank you: the report is reopened and the crew will come back.".into(),
            })
        }
        (None, Some(Skip::AlreadyByThisCode)) => {
            done_or_log(c, &code, "not_fixed", None).await;
            Err(already_not_fixed())
        }
        (None, Some(Skip::NotOpen(why))) => {
            records::release_feedback(&c.dispatch.store, &code, "not_fixed").await?;
            Err(TrackError::NotOpen(capitalise(&why)))
        }
        (None, _) => {
            records::release_feedback(&c.dispatch.store, &code, "not_fixed").await?;
            Err(TrackError::NotOpen(
                "The report cannot be reopened now.".into(),
            ))
        }
    }
}

/// The reopened task goes back to work: its crew's phones already pull it (the commit's
/// scopes include the crew); the district is alerted and the completion timer re-armed.
/// The reopen is durable already, so failures here are logged, never returned.
async fn back_to_work(c: &Citizens<'_>, view: &TaskView, now: i64) {
    let Some(district) = view.derived.district.clone() else {
        return;
    };
    let crew = view.derived.assignee.as_deref().unwrap_or("no crew");
    let message = format!(
        "task {}: a citizen says it is not fixed (photo attached); reopened, back with {crew}",
        view.id
    );
    if let Err(e) = assign::alert(c.dispatch, &district, Some(&view.id), "reopened", message).await
    {
        tracing::error!(task = %view.id, error = %e, "could not alert the district about a reopened task");
    }
    if let Some(due) = view.sla.complete_due {
        let span = due.saturating_sub(view.created_at).max(60 * 60 * 1000);
        let due = now.saturating_add(span);
        if let Err(e) = dispatch_store::arm_timer(
            &c.dispatch.store,
            view.id.as_str(),
            TimerKind::Complete,
            due,
            None,
        )
        .await
        {
            tracing::error!(task = %view.id, error = %e, "could not re-arm a reopened task's completion timer");
        }
    }
}

/// Marks a claim done after a durable commit; a failure is only logged (the document,
/// which is the authority, already holds the event).
async fn done_or_log(c: &Citizens<'_>, code: &str, kind: &str, event: Option<&str>) {
    if let Err(e) =
        records::mark_feedback_done(&c.dispatch.store, code, kind, event, now_millis()).await
    {
        tracing::error!(error = %e, kind, "could not mark citizen feedback done");
    }
}

/// A code whose task takes this kind of feedback now.
struct Open {
    f: public_view::Followed,
    code: String,
    me: Actor,
    now: i64,
}

/// The checks both kinds of feedback make before anything is written: the code
/// resolves (following merges), this code has not given `kind` already (its row done,
/// or its `event` in the document after a crash between the two), and the task is
/// completed and inside its window.
async fn open(
    c: &Citizens<'_>,
    code_input: &str,
    kind: &str,
    event: &str,
    already: fn() -> TrackError,
) -> Result<Open, TrackError> {
    let f = public_view::follow(c, code_input).await?;
    let code = f.tracking.code.clone();
    let me = citizen_actor(&code);
    if let Some(r) = records::feedback(&c.dispatch.store, &code, kind).await?
        && r.state == "done"
    {
        return Err(already());
    }
    let now = now_millis();
    if event_by(&f.view, &me, event).is_some() {
        records::mark_feedback_done(&c.dispatch.store, &code, kind, None, now).await?;
        return Err(already());
    }
    if let Some(why) = public_view::closed_because(&f.view, now) {
        return Err(TrackError::NotOpen(capitalise(&why)));
    }
    Ok(Open { f, code, me, now })
}

fn already_rated() -> TrackError {
    TrackError::Already("you have already rated this report".into())
}

fn already_not_fixed() -> TrackError {
    TrackError::Already("you have already said this report is not fixed".into())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
