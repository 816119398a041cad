//! Verification: a dispatcher judges a crew's completed work from its photos and either
//! **verifies** it (`Verified`, final) or **rejects** it with a reason (`Rejected`: the
//! task goes back to the same crew as `reopened`, and the rejection counts against it).
//!
//! Both are events in the task's document, committed through [`edit`] like every other
//! server-side edit, so the crew's phones receive a rejection over their open connections
//! and the fold's rules (only a completed task, only a dispatcher) judge it as they would
//! judge the same event pushed by a device. Verifying or rejecting a task outside the
//! caller's districts is answered as if it did not exist.
//!
//! [`evidence`] is what the dispatcher judges from: each photo of the task with its
//! public sizes, the original for the roles allowed it, its EXIF time and place and the
//! place-and-time flags (`domain::photo::flag`) in plain words.

use super::desk::ConsoleUser;
use super::edit::{self, Edited};
use super::{Dispatch, DispatchError};
use crate::base::time::now_millis;
use crate::domain::audit;
use crate::domain::identity::{Identity, UserRole};
use crate::storage::dispatch::{self as store, QueueRow, TimerKind};
use crate::storage::photos as records;
use serde::Serialize;
use serde_json::json;
use sync_core::DocId;
use sync_core::task::{EventKind, PhotoKind, Status, TaskView};
use utoipa::ToSchema;

/// How many completed tasks the "to verify" list shows at once.
const TO_VERIFY_SHOWN: i64 = 500;

/// The completed tasks of the caller's districts, the longest waiting first.
pub async fn to_verify(d: &Dispatch, user: &ConsoleUser) -> Result<Vec<QueueRow>, DispatchError> {
    Ok(store::completed_tasks(&d.store, &user.identity().districts, TO_VERIFY_SHOWN).await?)
}

/// Verifies the completion of `task`.
pub async fn verify(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
) -> Result<Edited<()>, DispatchError> {
    let done = decide(d, who, task, EventKind::Verified).await?;
    disarm(d, task).await?;
    audit::record(
        &d.store,
        &audit::Who::of(who),
        "verify",
        Some(task.as_str()),
        json!({}),
    )
    .await;
    Ok(done)
}

/// Rejects the completion of `task`: back to the same crew, with `reason` (required).
pub async fn reject(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    reason: &str,
) -> Result<Edited<()>, DispatchError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(DispatchError::Invalid(
            "a rejection needs a reason of 1 to 500 characters".into(),
        ));
    }
    let kind = EventKind::Rejected {
        reason: reason.to_owned(),
    };
    let done = decide(d, who, task, kind).await?;
    let detail = json!({"reason": reason, "crew": done.view.derived.assignee});
    audit::record(
        &d.store,
        &audit::Who::of(who),
        "reject",
        Some(task.as_str()),
        detail,
    )
    .await;
    Ok(done)
}

/// Appends the dispatcher's decision after the role and district checks; the state check
/// (only a completed task) is the fold's, inside the compare-and-swap edit, so of two
/// dispatchers deciding at once one commits and the other is told the task is no longer
/// completed.
async fn decide(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    kind: EventKind,
) -> Result<Edited<()>, DispatchError> {
    if who.role != UserRole::Dispatcher {
        return Err(DispatchError::Forbidden(
            "only dispatchers verify or reject completed work".into(),
        ));
    }
    let actor = who
        .actor()
        .ok_or_else(|| DispatchError::Forbidden("this login does not edit tasks".into()))?;
    let now = now_millis();
    edit::edit(d, task, |doc, v| {
        check_district(who, task, v)?;
        doc.append_event(&actor, now, kind.clone())?;
        Ok(Some(()))
    })
    .await?
    .ok_or(DispatchError::Busy)
}

/// A task outside the caller's districts is "not found", as it is on the desk.
fn check_district(who: &Identity, task: &DocId, v: &TaskView) -> Result<(), DispatchError> {
    match v.derived.district.as_deref() {
        Some(d) if who.districts.iter().any(|x| x == d) => Ok(()),
        _ => Err(DispatchError::NotFound(format!("no task {task}"))),
    }
}

/// A verified task has no deadline left to miss.
async fn disarm(d: &Dispatch, task: &DocId) -> Result<(), DispatchError> {
    for k in [TimerKind::Ack, TimerKind::Complete] {
        store::disarm_timer(&d.store, task.as_str(), k, now_millis()).await?;
    }
    Ok(())
}

/// What the dispatcher judges a completion from.
#[derive(Debug, Serialize, ToSchema)]
pub struct Evidence {
    /// Task id.
    pub task: String,
    /// Status (wire name).
    pub status: String,
    /// Whether the caller may verify or reject it now (a dispatcher, and it is completed).
    pub decidable: bool,
    /// How many completions of this task were rejected before.
    pub rejections: u32,
    /// The photos: before ones first, then after, then evidence; oldest first within each.
    pub photos: Vec<PhotoEvidence>,
}

/// One photo with its facts and flags.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoEvidence {
    /// SHA-256 (hex): the photo's address.
    pub hash: String,
    /// `before`, `after` or `evidence`.
    pub kind: String,
    /// Who took it.
    pub author: String,
    /// When it was added to the task (the device's clock).
    pub added_at: i64,
    /// Whether the server holds its bytes yet (a phone may still be uploading).
    pub uploaded: bool,
    /// When the server stored it.
    pub received_at: Option<i64>,
    /// The thumbnail (public, no metadata).
    pub thumb_url: Option<String>,
    /// The display size (public, no metadata).
    pub display_url: Option<String>,
    /// The original, for dispatchers and managers of the task's district (bearer token).
    pub original_url: Option<String>,
    /// Pixel size of the original.
    pub width: Option<i64>,
    /// Pixel size of the original.
    pub height: Option<i64>,
    /// EXIF time, if the camera wrote one.
    pub exif_taken_at: Option<i64>,
    /// EXIF latitude.
    pub exif_lat: Option<f64>,
    /// EXIF longitude.
    pub exif_lon: Option<f64>,
    /// Metres from the task's point, when EXIF has a position.
    pub distance_m: Option<f64>,
    /// Flags raised: `far_from_task`, `before_task`, `no_exif_place`, `no_exif_time`,
    /// `not_uploaded`.
    pub flags: Vec<String>,
    /// The flags (and their absence) in plain English words; the page translates the codes.
    pub words: Vec<String>,
}

/// The task's photos with their facts, for a console user whose districts hold the task.
pub async fn evidence(
    d: &Dispatch,
    user: &ConsoleUser,
    id: &DocId,
) -> Result<Evidence, DispatchError> {
    let who = user.identity();
    let (doc, _) = edit::load(d, id).await?;
    let view = doc.view()?;
    let sees = view
        .derived
        .district
        .as_deref()
        .is_some_and(|x| who.districts.iter().any(|y| y == x));
    if !sees {
        return Err(DispatchError::NotFound(format!("no task {id}")));
    }
    let originals = matches!(who.role, UserRole::Dispatcher | UserRole::Manager);
    let mut refs = view.photos.clone();
    let rank = |k: PhotoKind| match k {
        PhotoKind::Before => 0,
        PhotoKind::After => 1,
        PhotoKind::Evidence => 2,
    };
    refs.sort_by(|a, b| {
        (rank(a.kind), a.added_at, &a.hash).cmp(&(rank(b.kind), b.added_at, &b.hash))
    });
    let mut photos = Vec::with_capacity(refs.len());
    for r in refs {
        // Only a photo whose bytes were sent for this task (or by the device that
        // referenced it) is evidence; a reference alone shows no stored photo.
        let row =
            crate::domain::photo::serve::for_reference(&d.store, id.as_str(), &r.hash, &r.device)
                .await?;
        photos.push(photo_evidence(
            &r.hash, r.kind, &r.author, r.added_at, row, originals,
        ));
    }
    Ok(Evidence {
        task: id.to_string(),
        status: view.derived.status.as_str().to_owned(),
        decidable: who.role == UserRole::Dispatcher && view.derived.status == Status::Completed,
        rejections: view.derived.rejections,
        photos,
    })
}

fn photo_evidence(
    hash: &str,
    kind: PhotoKind,
    author: &str,
    added_at: i64,
    row: Option<records::PhotoRow>,
    originals: bool,
) -> PhotoEvidence {
    let mut flags = Vec::new();
    let mut words = Vec::new();
    let Some(p) = row else {
        flags.push("not_uploaded".to_owned());
        words.push("Not uploaded yet: the phone is still sending it.".to_owned());
        return PhotoEvidence {
            hash: hash.to_owned(),
            kind: kind.as_str().to_owned(),
            author: author.to_owned(),
            added_at,
            uploaded: false,
            received_at: None,
            thumb_url: None,
            display_url: None,
            original_url: None,
            width: None,
            height: None,
            exif_taken_at: None,
            exif_lat: None,
            exif_lon: None,
            distance_m: None,
            flags,
            words,
        };
    };
    if p.far_from_task {
        flags.push("far_from_task".to_owned());
        words.push(match p.distance_m {
            Some(m) => format!("Taken {m:.0} m from the task's place."),
            None => "Taken far from the task's place.".to_owned(),
        });
    }
    if p.before_task {
        flags.push("before_task".to_owned());
        words.push("Taken before the task was reported.".to_owned());
    }
    if p.exif_lat.is_none() || p.exif_lon.is_none() {
        flags.push("no_exif_place".to_owned());
        words.push("The camera recorded no place.".to_owned());
    } else if !p.far_from_task {
        words.push(match p.distance_m {
            Some(m) => format!("Taken {m:.0} m from the task's place."),
            None => "Taken near the task's place.".to_owned(),
        });
    }
    if p.exif_taken_at.is_none() {
        flags.push("no_exif_time".to_owned());
        words.push("The camera recorded no time.".to_owned());
    }
    let base = format!("/api/v1/photos/{hash}");
    PhotoEvidence {
        hash: hash.to_owned(),
        kind: kind.as_str().to_owned(),
        author: author.to_owned(),
        added_at,
        uploaded: true,
        received_at: Some(p.uploaded_at),
        thumb_url: Some(format!("{base}/thumb")),
        display_url: Some(format!("{base}/display")),
        original_url: originals.then(|| format!("{base}/original")),
        width: Some(p.width),
        height: Some(p.height),
        exif_taken_at: p.exif_taken_at,
        exif_lat: p.exif_lat,
        exif_lon: p.exif_lon,
        distance_m: p.distance_m,
        flags,
        words,
    }
}
