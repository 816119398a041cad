//! GET requests: the standard filters (`service_request_id`, `service_code`,
//! `start_date`/`end_date`, `status`), the common extensions (`page`/`page_size`,
//! `updated_after`/`updated_before`, `extensions=true`) and ours (`lat`, `long`,
//! `radius`: reports near a point, for an app to show before filing).
//!
//! Rules: `service_request_id` (a comma list, at most [`MAX_IDS`]) ignores every other
//! filter, as the spec says. A `start_date`…`end_date` span over 90 days is refused
//! (400); one of them alone spans 90 days from it; with no date, update or id filter the
//! last 90 days are listed. `page_size` is 1…[`MAX_PAGE_SIZE`] (default
//! [`DEFAULT_PAGE_SIZE`]; a larger one is refused with 400); `page` starts at 1. Newest
//! first (requested time, then id).
//!
//! Only public fields are shown: never the citizen's contact details, the crew or the
//! dispatchers' notes. `extensions=true` adds `extended_attributes` (the internal and
//! FixMyStreet statuses, district, priority, supporters, the attribute answers) and
//! `notes`: the report's history in plain words, with the citizens' updates.

use super::format::{Node, datetime, opt_datetime, parse_datetime};
use super::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_SPAN_DAYS, Open311Error, Params, param_nonblank, status,
};
use crate::base::time::now_millis;
use crate::domain::citizen::{self, Citizens, duplicates};
use crate::storage::open311::{self as records, RequestExtra, RequestFilter};
use crate::storage::{Db, IdentityStore};
use jiff::tz::TimeZone;
use std::collections::HashMap;
use sync_core::session::ServerStore;
use sync_core::task::{EventKind, Outcome, PhotoKind, Status, TaskDoc, TaskView};
use sync_core::{DocId, Millis};

/// The most ids in one `service_request_id` list.
pub const MAX_IDS: usize = 200;
/// The largest `radius`, metres.
pub const MAX_RADIUS_M: f64 = 5000.0;
const DAY_MS: i64 = 86_400_000;

/// A parsed GET requests query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// `service_request_id`s.
    pub ids: Vec<String>,
    /// `service_code`s.
    pub services: Vec<String>,
    /// Requested at or after.
    pub start: Option<Millis>,
    /// Requested at or before.
    pub end: Option<Millis>,
    /// Updated at or after.
    pub updated_after: Option<Millis>,
    /// Updated at or before.
    pub updated_before: Option<Millis>,
    /// `Some(false)` open only, `Some(true)` closed only.
    pub closed: Option<bool>,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub page_size: u32,
    /// `extensions=true`.
    pub extensions: bool,
    /// (lat, lon, radius in metres).
    pub near: Option<(f64, f64, f64)>,
}

fn list(p: &Params, key: &str) -> Vec<String> {
    p.iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn time_param(p: &Params, key: &str, city: &TimeZone) -> Result<Option<Millis>, Open311Error> {
    match param_nonblank(p, key) {
        None => Ok(None),
        Some(v) => parse_datetime(v, city).map(Some).ok_or_else(|| {
            Open311Error::BadRequest(format!(
                "{key} must be an ISO 8601 datetime such as 2026-11-29T00:00:00+03:30, not {v:?}"
            ))
        }),
    }
}

fn number<T: std::str::FromStr>(p: &Params, key: &str) -> Result<Option<T>, Open311Error> {
    match param_nonblank(p, key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Open311Error::BadRequest(format!("{key} must be a whole number, not {v:?}"))
        }),
    }
}

/// Parses and checks the query parameters.
pub fn parse(p: &Params, city: &TimeZone, now: Millis) -> Result<Query, Open311Error> {
    let mut q = Query {
        ids: list(p, "service_request_id"),
        services: list(p, "service_code"),
        start: time_param(p, "start_date", city)?,
        end: time_param(p, "end_date", city)?,
        updated_after: time_param(p, "updated_after", city)?,
        updated_before: time_param(p, "updated_before", city)?,
        page: number(p, "page")?.unwrap_or(1),
        page_size: number(p, "page_size")?.unwrap_or(DEFAULT_PAGE_SIZE),
        extensions: param_nonblank(p, "extensions").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        ..Query::default()
    };
    if q.ids.len() > MAX_IDS {
        return Err(Open311Error::BadRequest(format!(
            "at most {MAX_IDS} service_request_ids at once"
        )));
    }
    if q.page == 0 {
        return Err(Open311Error::BadRequest("page starts at 1".into()));
    }
    if q.page_size == 0 || q.page_size > MAX_PAGE_SIZE {
        return Err(Open311Error::BadRequest(format!(
            "page_size must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let (mut open, mut closed) = (false, false);
    for s in list(p, "status") {
        match s.to_ascii_lowercase().as_str() {
            "open" => open = true,
            "closed" => closed = true,
            _ => {
                return Err(Open311Error::BadRequest(format!(
                    "status must be open or closed, not {s:?}"
                )));
            }
        }
    }
    q.closed = match (open, closed) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    };
    let span = MAX_SPAN_DAYS * DAY_MS;
    match (q.start, q.end) {
        (Some(s), Some(e)) => {
            if e < s {
                return Err(Open311Error::BadRequest(
                    "end_date is before start_date".into(),
                ));
            }
            if e - s > span {
                return Err(Open311Error::BadRequest(format!(
                    "start_date to end_date may span at most {MAX_SPAN_DAYS} days"
                )));
            }
        }
        (Some(s), None) => q.end = Some(s.saturating_add(span)),
        (None, Some(e)) => q.start = Some(e.saturating_sub(span)),
        (None, None) => {
            if q.ids.is_empty() && q.updated_after.is_none() && q.updated_before.is_none() {
                q.start = Some(now - span);
            }
        }
    }
    let near = (
        param_nonblank(p, "lat"),
        param_nonblank(p, "long"),
        param_nonblank(p, "radius"),
    );
    if near != (None, None, None) {
        let lat = super::requests::coordinate(p, "lat", 90.0)?;
        let lon = super::requests::coordinate(p, "long", 180.0)?;
        let radius = match near.2 {
            None => 100.0,
            Some(r) => r
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= MAX_RADIUS_M)
                .ok_or_else(|| {
                    Open311Error::BadRequest(format!(
                        "radius must be a number of metres, above 0 and at most {MAX_RADIUS_M}"
                    ))
                })?,
        };
        q.near = Some((lat, lon, radius));
    }
    Ok(q)
}

/// The ids of the tasks the query selects, in answer order.
pub async fn find(db: &Db, q: &Query) -> Result<Vec<DocId>, Open311Error> {
    if !q.ids.is_empty() {
        return Ok(q
            .ids
            .iter()
            .filter_map(|i| DocId::new(i.as_str()).ok())
            .collect());
    }
    let filter = RequestFilter {
        services: q.services.clone(),
        statuses: q.closed.map(citizen::status::names),
        created_from: q.start,
        created_to: q.end,
        updated_from: q.updated_after,
        updated_to: q.updated_before,
        near: q.near,
        limit: i64::from(q.page_size),
        offset: i64::from(q.page - 1) * i64::from(q.page_size),
    };
    Ok(records::find_requests(db, &filter)
        .await?
        .into_iter()
        .filter_map(|id| DocId::new(id).ok())
        .collect())
}

pub use crate::storage::open311::CitizenUpdate;

/// A public photo URL of the task (after photo, else the citizen's evidence).
pub fn photo_url(view: &TaskView, base: &str) -> Option<String> {
    let pick = |k: PhotoKind| view.photos.iter().find(|p| p.kind == k);
    pick(PhotoKind::After)
        .or_else(|| pick(PhotoKind::Evidence))
        .map(|p| format!("{base}/api/v1/photos/{}/display", p.hash))
}

/// The status after an applied event, for events that set one.
pub fn status_after(kind: &EventKind) -> Option<Status> {
    Some(match kind {
        EventKind::Routed { .. } => Status::Queued,
        EventKind::Assigned { .. } => Status::Assigned,
        EventKind::Acknowledged => Status::Acknowledged,
        EventKind::Started => Status::InProgress,
        EventKind::Paused { .. } => Status::Paused,
        EventKind::Completed { .. } => Status::Completed,
        EventKind::Verified => Status::Verified,
        EventKind::Reopened { .. } | EventKind::Rejected { .. } => Status::Reopened,
        EventKind::Cancelled { .. } => Status::Cancelled,
        EventKind::MarkedDuplicate { .. } => Status::Duplicate,
        _ => return None,
    })
}

/// The event in plain public words (no crew, no internal notes).
pub fn event_words(kind: &EventKind) -> String {
    match kind {
        EventKind::Created => "Report received.".into(),
        EventKind::Routed { district } => format!("Sent to district {district}."),
        EventKind::Assigned { .. } => "A crew has been assigned.".into(),
        EventKind::Acknowledged => "The crew has accepted the job.".into(),
        EventKind::Started => "Work has started.".into(),
        EventKind::Paused { .. } => "Work is paused.".into(),
        EventKind::Completed { .. } => "The crew reports the problem fixed.".into(),
        EventKind::Verified => "The city has checked the fix.".into(),
        EventKind::Rejected { .. } => {
            "Reopened: the city checked the fix and sent the crew back.".into()
        }
        EventKind::Reopened { .. } => "Reopened: the citizen says it is not fixed.".into(),
        EventKind::Cancelled { .. } => "Closed without action.".into(),
        EventKind::MarkedDuplicate { of } => format!("Duplicate of report {of}."),
        EventKind::Rated { stars, .. } => format!("The citizen rated the fix {stars} of 5."),
        EventKind::Reprioritized { priority, .. } => {
            format!("Priority changed to {}.", priority.as_str())
        }
        EventKind::Escalated { .. } => "Escalated: it is taking longer than it should.".into(),
    }
}

fn status_notes(view: &TaskView) -> Option<String> {
    match view.derived.status {
        Status::Duplicate => view
            .timeline
            .iter()
            .rev()
            .find_map(|e| match &e.event.kind {
                EventKind::MarkedDuplicate { of } if e.outcome == Outcome::Applied => {
                    Some(format!("Duplicate of report {of}."))
                }
                _ => None,
            }),
        Status::Cancelled => Some("Closed without action.".into()),
        Status::Completed => Some("Fixed.".into()),
        Status::Verified => Some("Fixed; the city has checked the fix.".into()),
        Status::Reopened => Some("Reopened: the citizen says it is not fixed.".into()),
        _ => None,
    }
}

/// Loads the tasks and renders the `service_requests` answer (in the order of `ids`;
/// unknown ids are left out).
pub async fn render(
    c: &Citizens<'_>,
    ids: &[DocId],
    extensions: bool,
    base: &str,
) -> Result<Node, Open311Error> {
    let city = &c.zone;
    let docs = if ids.is_empty() {
        Vec::new()
    } else {
        c.dispatch
            .store
            .load_many(ids)
            .await
            .map_err(|e| Open311Error::Internal(e.to_string()))?
    };
    let mut views: HashMap<String, TaskView> = HashMap::new();
    for (id, d) in docs {
        match TaskDoc::load(&d.bytes).and_then(|d| d.view()) {
            Ok(v) => {
                views.insert(id.to_string(), v);
            }
            Err(e) => tracing::warn!(task = %id, error = %e, "unreadable task skipped"),
        }
    }
    let keys: Vec<String> = ids
        .iter()
        .map(|i| i.to_string())
        .filter(|i| views.contains_key(i))
        .collect();
    let services: HashMap<String, String> = c
        .dispatch
        .store
        .services()
        .await?
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    let districts: HashMap<String, String> = records::district_names(&c.dispatch.store)
        .await?
        .into_iter()
        .collect();
    let extras: HashMap<String, RequestExtra> = records::request_extras(&c.dispatch.store, &keys)
        .await?
        .into_iter()
        .map(|e| (e.task.clone(), e))
        .collect();
    let updates = if extensions {
        records::citizen_updates(&c.dispatch.store, &keys).await?
    } else {
        Vec::new()
    };
    let mut items = Vec::new();
    for id in &keys {
        let Some(v) = views.get(id) else { continue };
        let extra = extras.get(id);
        let st = v.derived.status;
        let updated = sync_core::session::device::last_event_at(v);
        let agency = v.derived.district.as_ref().map(|d| match districts.get(d) {
            Some(name) => format!("District {d} ({name})"),
            None => format!("District {d}"),
        });
        let mut n = Node::obj([
            ("service_request_id", Node::text(id)),
            ("status", Node::text(citizen::status::open_or_closed(st))),
            ("status_notes", Node::opt_text(status_notes(v))),
            (
                "service_name",
                Node::text(
                    services
                        .get(&v.category)
                        .cloned()
                        .unwrap_or_else(|| v.category.clone()),
                ),
            ),
            ("service_code", Node::text(&v.category)),
            ("description", Node::text(&v.description)),
            ("agency_responsible", Node::opt_text(agency)),
            ("service_notice", Node::Null),
            (
                "requested_datetime",
                Node::Text(datetime(v.created_at, city)),
            ),
            (
                "updated_datetime",
                Node::Text(datetime(updated.max(v.created_at), city)),
            ),
            ("expected_datetime", opt_datetime(v.sla.complete_due, city)),
            ("address", Node::opt_text(v.address.clone())),
            ("address_id", Node::Null),
            ("zipcode", Node::Null),
            ("lat", Node::Num(v.point.lat)),
            ("long", Node::Num(v.point.lon)),
            (
                "media_url",
                Node::opt_text(
                    extra
                        .and_then(|e| e.media_url.clone())
                        .or_else(|| photo_url(v, base)),
                ),
            ),
        ]);
        if extensions {
            let supporters = duplicates::supporters(&c.dispatch.store, &v.id).await?;
            let answers: serde_json::Value = extra
                .and_then(|e| serde_json::from_str(&e.attributes).ok())
                .unwrap_or(serde_json::json!({}));
            let attrs = match answers {
                serde_json::Value::Object(m) => m
                    .into_iter()
                    .map(|(k, v)| {
                        let node = match v {
                            serde_json::Value::Array(a) => Node::List {
                                item: "value",
                                items: a
                                    .into_iter()
                                    .map(|x| Node::Text(x.as_str().unwrap_or_default().to_owned()))
                                    .collect(),
                            },
                            other => Node::Text(other.as_str().unwrap_or_default().to_owned()),
                        };
                        Node::obj([("code", Node::Text(k)), ("value", node)])
                    })
                    .collect(),
                _ => Vec::new(),
            };
            n.push(
                "extended_attributes",
                Node::obj([
                    ("internal_status", Node::text(st.as_str())),
                    ("fms_status", Node::text(status::fms(st).as_str())),
                    ("district", Node::opt_text(v.derived.district.clone())),
                    ("priority", Node::text(v.derived.priority.as_str())),
                    ("source", Node::text(v.source.as_str())),
                    ("supporters", Node::Int(supporters as i64)),
                    (
                        "attributes",
                        Node::List {
                            item: "attribute",
                            items: attrs,
                        },
                    ),
                ]),
            );
            n.push("notes", notes(v, &updates, city));
        }
        items.push(n);
    }
    Ok(Node::List {
        item: "request",
        items,
    })
}

fn notes(v: &TaskView, updates: &[CitizenUpdate], city: &TimeZone) -> Node {
    let mut out: Vec<(Millis, Node)> = Vec::new();
    for e in &v.timeline {
        if e.outcome == Outcome::Applied || matches!(e.outcome, Outcome::ExtraVisit) {
            let kind = match &e.event.kind {
                EventKind::Created => "opened",
                EventKind::Completed { .. }
                | EventKind::Cancelled { .. }
                | EventKind::MarkedDuplicate { .. } => "closed",
                _ => "activity",
            };
            out.push((
                e.event.at,
                Node::obj([
                    ("datetime", Node::Text(datetime(e.event.at, city))),
                    ("summary", Node::text(e.event.kind.name())),
                    ("type", Node::text(kind)),
                    ("description", Node::Text(event_words(&e.event.kind))),
                ]),
            ));
        }
    }
    for u in updates.iter().filter(|u| u.task == v.id.as_str()) {
        out.push((
            u.at,
            Node::obj([
                ("datetime", Node::Text(datetime(u.at, city))),
                ("summary", Node::text("citizen_update")),
                ("type", Node::text("activity")),
                ("description", Node::text(&u.description)),
            ]),
        ));
    }
    out.sort_by_key(|(at, _)| *at);
    Node::List {
        item: "note",
        items: out.into_iter().map(|(_, n)| n).collect(),
    }
}

/// GET requests; `base` is the server's public base URL, for media links
/// ([`crate::base::public_url`]).
pub async fn requests(c: &Citizens<'_>, p: &Params, base: &str) -> Result<Node, Open311Error> {
    let q = parse(p, c.zone, now_millis())?;
    let ids = find(&c.dispatch.store, &q).await?;
    render(c, &ids, q.extensions, base).await
}

/// GET requests/{id}: a one-element list, 404 for an unknown id.
pub async fn one(c: &Citizens<'_>, id: &str, p: &Params, base: &str) -> Result<Node, Open311Error> {
    let extensions =
        param_nonblank(p, "extensions").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let not_found = || Open311Error::NotFound(format!("no request {id:?}"));
    let task = DocId::new(id).map_err(|_| not_found())?;
    let node = render(c, &[task], extensions, base).await?;
    match &node {
        Node::List { items, .. } if items.is_empty() => Err(not_found()),
        _ => Ok(node),
    }
}
