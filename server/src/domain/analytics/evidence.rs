//! The tasks behind a number (the same cohort the measure counts, for one unit) and the
//! before/after gallery of completed tasks, both paged.

use super::{AnalyticsError, By, Filter};
use crate::storage::Db;
use crate::storage::analytics::{self as records, Cohort};
use jiff::tz::TimeZone;
use serde::Serialize;

/// Largest page.
pub const MAX_LIMIT: i64 = 1000;

/// Which tasks a measure counts (see `measures`' table).
fn cohort(measure: &str) -> Result<Cohort, AnalyticsError> {
    super::measures::check_measure(measure)?;
    Ok(match measure {
        "closed" => Cohort::Closed,
        "backlog" => Cohort::Open,
        "completed"
        | "complete_p50_min"
        | "complete_p90_min"
        | "rating_mean"
        | "rating_response_rate"
        | "photo_share" => Cohort::Completed,
        "ack_p50_min" | "ack_p90_min" | "sla_ack_pct" => Cohort::CreatedByAcker,
        _ => Cohort::Created,
    })
}

/// One task of the evidence list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskRow {
    /// Task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Service code.
    pub category: String,
    /// District.
    pub district: Option<String>,
    /// Attributed crew.
    pub crew: Option<String>,
    /// Its contractor.
    pub contractor: Option<String>,
    /// Priority.
    pub priority: String,
    /// Status.
    pub status: String,
    /// RFC 3339 in the city's zone.
    pub created_at: String,
    /// First acknowledgement.
    pub acknowledged_at: Option<String>,
    /// Completion.
    pub completed_at: Option<String>,
    /// Minutes from creation to acknowledgement.
    pub ack_min: Option<f64>,
    /// Minutes from creation to completion.
    pub complete_min: Option<f64>,
    /// Acknowledged in time (null: no due time, or not due yet).
    pub sla_ack_met: Option<bool>,
    /// Completed in time.
    pub sla_complete_met: Option<bool>,
    /// Reopened at least once.
    pub reopened: bool,
    /// Times reopened.
    pub reopen_count: i32,
    /// Rating 1..5.
    pub rating: Option<i16>,
    /// Has a before photo.
    pub before_photo: bool,
    /// Has an after photo (the completion's).
    pub after_photo: bool,
    /// Photos flagged by the EXIF place/time check.
    pub flagged_photos: i64,
}

fn met(done: Option<i64>, due: Option<i64>, now: i64, live: bool) -> Option<bool> {
    match (done, due) {
        (_, None) => None,
        (Some(d), Some(due)) => Some(d <= due),
        (None, Some(due)) if due < now && live => Some(false),
        (None, Some(_)) => None,
    }
}

fn minutes(ms: i64) -> f64 {
    (ms as f64 / 60_000.0 * 100.0).round() / 100.0
}

/// `GET /api/v1/analytics/tasks`: the tasks behind `measure` for unit `key` of `level`
/// (all units when `level` is none), in the order of the time that puts a task behind
/// the measure (creation, completion or closure), earliest first.
#[allow(clippy::too_many_arguments)]
pub async fn tasks(
    db: &Db,
    f: &Filter,
    level: Option<By>,
    key: Option<&str>,
    measure: &str,
    limit: i64,
    offset: i64,
    tz: &TimeZone,
    now_ms: i64,
) -> Result<Vec<TaskRow>, AnalyticsError> {
    let c = cohort(measure)?;
    let unit = match level {
        Some(by) => Some((
            by,
            key.ok_or_else(|| AnalyticsError::BadRequest("`key` is required with `level`".into()))?,
        )),
        None => None,
    };
    let range = (f.range.start_ms, f.range.end_ms);
    let rows = records::cohort_tasks(db, &f.facts(), c, range, unit, limit, offset).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let live = !matches!(r.status.as_str(), "cancelled" | "duplicate");
            TaskRow {
                created_at: super::period::rfc3339(r.created_at, tz),
                acknowledged_at: r.acknowledged_at.map(|t| super::period::rfc3339(t, tz)),
                completed_at: r.completed_at.map(|t| super::period::rfc3339(t, tz)),
                ack_min: r.acknowledged_at.map(|t| minutes(t - r.created_at)),
                complete_min: r.completed_at.map(|t| minutes(t - r.created_at)),
                sla_ack_met: met(r.acknowledged_at, r.ack_due, now_ms, live),
                sla_complete_met: met(r.completed_at, r.complete_due, now_ms, live),
                reopened: r.reopen_count > 0,
                reopen_count: r.reopen_count,
                rating: r.rating,
                before_photo: r.before_photo.is_some(),
                after_photo: r.after_photo.is_some(),
                flagged_photos: r.flagged,
                id: r.id,
                title: r.title,
                category: r.category,
                district: r.district,
                crew: r.crew,
                contractor: r.contractor,
                priority: r.priority,
                status: r.status,
            }
        })
        .collect())
}

/// A photo's public derivatives.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhotoUrls {
    /// 320 px.
    pub thumb: String,
    /// 1280 px.
    pub display: String,
}

impl PhotoUrls {
    fn of(hash: &str) -> PhotoUrls {
        PhotoUrls {
            thumb: format!("/api/v1/photos/{hash}/thumb"),
            display: format!("/api/v1/photos/{hash}/display"),
        }
    }
}

/// One before/after pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GalleryRow {
    /// Task id.
    pub task: String,
    /// Title.
    pub title: String,
    /// District.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
    /// RFC 3339 in the city's zone.
    pub completed_at: String,
    /// The first before photo.
    pub before: PhotoUrls,
    /// The completion's after photo.
    pub after: PhotoUrls,
}

/// `GET /api/v1/analytics/gallery`: tasks completed in the range with a before and an
/// after photo, latest first. Only photos the server holds and has processed (a row in
/// `photos`, so their public derivatives exist): a reference whose upload has not
/// arrived yet would show as a broken image.
pub async fn gallery(
    db: &Db,
    f: &Filter,
    limit: i64,
    offset: i64,
    tz: &TimeZone,
) -> Result<Vec<GalleryRow>, AnalyticsError> {
    let range = (f.range.start_ms, f.range.end_ms);
    let rows = records::gallery_pairs(db, &f.facts(), range, limit, offset).await?;
    Ok(rows
        .into_iter()
        .map(|r| GalleryRow {
            completed_at: super::period::rfc3339(r.completed_at, tz),
            before: PhotoUrls::of(&r.before_photo),
            after: PhotoUrls::of(&r.after_photo),
            task: r.id,
            title: r.title,
            district: r.district,
            category: r.category,
        })
        .collect())
}

/// Checks `limit`/`offset` (defaults 100 and 0).
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), AnalyticsError> {
    let limit = limit.unwrap_or(100);
    let offset = offset.unwrap_or(0);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AnalyticsError::BadRequest(format!(
            "`limit` must be 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    if offset < 0 {
        return Err(AnalyticsError::BadRequest(format!(
            "`offset` must not be negative, not {offset}"
        )));
    }
    Ok((limit, offset))
}
