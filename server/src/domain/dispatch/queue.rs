//! The console's complete queue: one page of the caller's districts' tasks at a time, with
//! the total, the counts per state (new, assigned, acknowledged, late, to verify),
//! filters (service, priority, crew, district, late) and a search that takes a task id,
//! a tracking code as people type it, or words of the title or address. The page size is
//! bounded; nothing is left out silently — `total` says how many match.

use super::DispatchError;
use super::desk::ConsoleUser;
use crate::base::time::now_millis;
use crate::domain::citizen::codes;
use crate::storage::Db;
use crate::storage::queue::{self as store, QueuePage, QueueQuery, QueueState};
use serde::Deserialize;
use sync_core::task::Priority;
use utoipa::IntoParams;

/// The largest page.
pub const MAX_PAGE: i64 = 500;
/// The page when none is asked for.
pub const DEFAULT_PAGE: i64 = 100;

/// What the caller asks for (query string).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// `open` (default: every open task not waiting for verification), `new`, `assigned`,
    /// `acknowledged`, `late` or `to_verify`.
    pub state: Option<String>,
    /// Service code.
    pub service: Option<String>,
    /// `urgent`, `high`, `normal` or `low`.
    pub priority: Option<String>,
    /// Crew id.
    pub crew: Option<String>,
    /// One of the caller's districts.
    pub district: Option<String>,
    /// Only tasks past a due time.
    pub late: Option<bool>,
    /// A task id, a tracking code, or words of the title or address.
    pub q: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// One page of the caller's queue.
pub async fn page(
    db: &Db,
    user: &ConsoleUser,
    p: &QueueParams,
) -> Result<QueuePage, DispatchError> {
    let state = match nonempty(&p.state) {
        None => QueueState::Open,
        Some(s) => QueueState::parse(&s).ok_or_else(|| {
            DispatchError::Invalid(format!(
                "state is one of open, new, assigned, acknowledged, late, to_verify, not {s:?}"
            ))
        })?,
    };
    let priority = match nonempty(&p.priority) {
        None => None,
        Some(s) => Some(
            Priority::parse(&s)
                .ok_or_else(|| {
                    DispatchError::Invalid(format!(
                        "priority is one of urgent, high, normal, low, not {s:?}"
                    ))
                })?
                .as_str()
                .to_owned(),
        ),
    };
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(DispatchError::Invalid(format!(
            "limit is 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    let offset = p.offset.unwrap_or(0);
    if offset < 0 {
        return Err(DispatchError::Invalid("offset cannot be negative".into()));
    }
    let text = nonempty(&p.q);
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(DispatchError::Invalid(
            "a search is at most 200 characters".into(),
        ));
    }
    let districts = user.identity().districts.clone();
    let district = nonempty(&p.district);
    if let Some(d) = &district
        && !districts.contains(d)
    {
        // Another district's queue is empty to this caller, not an error to probe with.
        return Ok(QueuePage {
            rows: Vec::new(),
            total: 0,
            counts: Default::default(),
        });
    }
    let q = QueueQuery {
        districts,
        state,
        service: nonempty(&p.service),
        priority,
        crew: nonempty(&p.crew),
        district,
        late: p.late.unwrap_or(false),
        tracking_code: text.as_deref().and_then(codes::normalise),
        text,
        now: now_millis(),
        limit,
        offset,
    };
    Ok(store::queue_page(db, &q).await?)
}
