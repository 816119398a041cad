//! The input checks a write makes before it touches the document (text lengths, codes,
//! points, event payloads, photo references), also used by `validate` on what a device
//! sends.

use super::TaskError;
use crate::ids::{Actor, DocId, Role};
use crate::task::model::*;

/// Limits on free text, in characters.
const MAX_TITLE: usize = 200;
pub(super) const MAX_TEXT: usize = 4000;
const MAX_SHORT: usize = 1000;
const MAX_CODE: usize = 128;

fn invalid(msg: impl Into<String>) -> TaskError {
    TaskError::Invalid(msg.into())
}

pub(super) fn check_text(what: &str, s: &str, min: usize, max: usize) -> Result<(), TaskError> {
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
        EventKind::Rejected { reason } => {
            // The crew is sent back: it must be told why.
            if reason.trim().is_empty() {
                return Err(invalid("a rejection needs a reason"));
            }
            check_text("reason", reason, 1, MAX_SHORT)
        }
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
