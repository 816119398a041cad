//! Managers' analytics API (`crate::domain::analytics`): measures, trends, scorecards, the tasks
//! behind a number, the before/after gallery and the districts' polygons. Managers,
//! dispatchers (their districts) and admins (all); crews and call-centre operators get
//! 403. Every tabular answer is also CSV with `format=csv`.

use crate::base::time::now_millis;
use crate::domain::analytics::{
    self, By, CommonParams, evidence, export, measures, period, scorecard,
};
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::storage::DistrictStore;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const TAG: &str = "analytics";

/// Every query parameter the analytics endpoints take (each uses its own subset).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// First local day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last local day, included (default: today in the city's zone). At most 400 days.
    pub to: Option<String>,
    /// Only this district.
    pub district: Option<String>,
    /// Only this region.
    pub region: Option<String>,
    /// Only this category (service code).
    pub category: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Grouping: `district`, `region`, `category`, `crew`, `contractor`.
    pub by: Option<String>,
    /// Scorecard / evidence level (same values as `by`; the scorecard takes district, crew, contractor).
    pub level: Option<String>,
    /// Evidence: the unit's key ("" for tasks with none).
    pub key: Option<String>,
    /// Trend / evidence: a numeric measure name.
    pub measure: Option<String>,
    /// Trend: `day`, `week` or `month`.
    pub interval: Option<String>,
    /// Page size (evidence: default 100, gallery: 50; at most 1000).
    pub limit: Option<String>,
    /// Rows to skip.
    pub offset: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl Params {
    fn common(&self) -> CommonParams {
        CommonParams {
            from: self.from.clone(),
            to: self.to.clone(),
            district: self.district.clone(),
            region: self.region.clone(),
            category: self.category.clone(),
            priority: self.priority.clone(),
        }
    }

    fn csv(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("") | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "unknown format {other:?}: expected json or csv"
            ))),
        }
    }

    fn number(what: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest(format!("`{what}` must be a whole number, not {s:?}"))
                })
            })
            .transpose()
    }

    fn page(&self, default_limit: i64) -> Result<(i64, i64), ApiError> {
        let limit = Self::number("limit", &self.limit)?.or(Some(default_limit));
        let offset = Self::number("offset", &self.offset)?;
        Ok(evidence::page(limit, offset)?)
    }
}

fn engine(state: &AppState) -> measures::Engine<'_> {
    analytics::scan::engine(state.analytics.as_ref())
}

fn csv_response(body: String, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

fn answer<T: Serialize>(
    csv: bool,
    rows: &[T],
    template: &T,
    name: &str,
    json: impl FnOnce() -> Value,
) -> Response {
    if csv {
        csv_response(export::csv(rows, template), name)
    } else {
        Json(json()).into_response()
    }
}

/// Measures per unit over a local date range.
#[utoipa::path(get, path = "/api/v1/analytics/measures", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{by, from, to, timezone, rows: [{key, label, received, closed, backlog, completed, ack_p50_min, ack_p90_min, complete_p50_min, complete_p90_min, sla_ack_pct, sla_complete_pct, sla: {urgent|high|normal|low: {due, met, pct}}, sla_ack_by_priority, reopen_rate, rating_mean, rating_counts, rating_response_rate, photo_share, flagged_photos}]}`; CSV with `format=csv`"),
        (status = 400, description = "bad date, range or `by`"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "not a manager, dispatcher or admin"),
    ))]
pub async fn get_measures(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let tz = state.zone.clone();
    let f = p.common().filter(&who, &tz)?;
    let by = By::parse("by", p.by.as_deref().unwrap_or("district"))?;
    let csv = p.csv()?;
    let rows = measures::measures(&state.db, engine(&state), &f, by, now_millis()).await?;
    Ok(answer(
        csv,
        &rows,
        &measures::MeasureRow::default(),
        "measures",
        || {
            json!({
                "by": by.as_str(),
                "from": f.range.from.to_string(),
                "to": f.range.to.to_string(),
                "timezone": state.config.timezone,
                "rows": rows,
            })
        },
    ))
}

/// One CSV line of a trend.
#[derive(Debug, Clone, Default, Serialize)]
struct TrendLine {
    key: String,
    label: String,
    period: String,
    value: Option<f64>,
}

/// A measure over time, per bucket.
#[utoipa::path(get, path = "/api/v1/analytics/trend", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{measure, interval, from, to, timezone, series: [{key, label, points: [{period, value}]}]}`; CSV (key, label, period, value) with `format=csv`"),
        (status = 400, description = "bad date, range, measure, interval or `by`"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "not a manager, dispatcher or admin"),
    ))]
pub async fn get_trend(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let tz = state.zone.clone();
    let f = p.common().filter(&who, &tz)?;
    let measure = p.measure.clone().unwrap_or_else(|| "received".into());
    measures::check_measure(&measure)?;
    let interval = period::Interval::parse(p.interval.as_deref().unwrap_or("day"))?;
    let by = match p.by.as_deref().filter(|s| !s.is_empty()) {
        Some(b) => Some(By::parse("by", b)?),
        None => None,
    };
    let csv = p.csv()?;
    let buckets = period::buckets(&f.range, interval, &tz)?;
    let series = measures::trend(
        &state.db,
        engine(&state),
        &f,
        by,
        &buckets,
        &measure,
        now_millis(),
    )
    .await?;
    let lines: Vec<TrendLine> = series
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|pt| TrendLine {
                key: s.key.clone(),
                label: s.label.clone(),
                period: pt.period.clone(),
                value: pt.value,
            })
        })
        .collect();
    Ok(answer(csv, &lines, &TrendLine::default(), "trend", || {
        json!({
            "measure": measure,
            "interval": interval.as_str(),
            "from": f.range.from.to_string(),
            "to": f.range.to.to_string(),
            "timezone": state.config.timezone,
            "series": series,
        })
    }))
}

/// The scorecard: units scored and ranked by the documented formula.
#[utoipa::path(get, path = "/api/v1/analytics/scorecard", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{level, from, to, formula: {text, weights, threshold, min_tasks, ack_target_minutes}, rows: [{key, label, score, rank, below_threshold, insufficient, components, tasks}]}`; CSV with `format=csv`"),
        (status = 400, description = "bad date, range or level"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "not a manager, dispatcher or admin"),
    ))]
pub async fn get_scorecard(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let tz = state.zone.clone();
    let f = p.common().filter(&who, &tz)?;
    let level = By::parse("level", p.level.as_deref().unwrap_or("district"))?;
    let csv = p.csv()?;
    let cfg = &state.config.analytics;
    let rows =
        scorecard::scorecard(&state.db, engine(&state), &f, level, cfg, now_millis()).await?;
    Ok(answer(
        csv,
        &rows,
        &scorecard::ScoreRow::default(),
        "scorecard",
        || {
            json!({
                "level": level.as_str(),
                "from": f.range.from.to_string(),
                "to": f.range.to.to_string(),
                "formula": scorecard::formula(cfg),
                "rows": rows,
            })
        },
    ))
}

/// The tasks behind a number.
#[utoipa::path(get, path = "/api/v1/analytics/tasks", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{rows: [{id, title, category, district, crew, contractor, priority, status, created_at, acknowledged_at, completed_at, ack_min, complete_min, sla_ack_met, sla_complete_met, reopened, reopen_count, rating, before_photo, after_photo, flagged_photos}]}` (times RFC 3339 in the city's zone), paged by `limit`/`offset`; CSV with `format=csv`"),
        (status = 400, description = "bad date, range, level, measure or page"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "not a manager, dispatcher or admin"),
    ))]
pub async fn get_tasks(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let tz = state.zone.clone();
    let f = p.common().filter(&who, &tz)?;
    let level = match p.level.as_deref().filter(|s| !s.is_empty()) {
        Some(l) => Some(By::parse("level", l)?),
        None => None,
    };
    let measure = p.measure.clone().unwrap_or_else(|| "received".into());
    let (limit, offset) = p.page(100)?;
    let csv = p.csv()?;
    let rows = evidence::tasks(
        &state.db,
        &f,
        level,
        p.key.as_deref(),
        &measure,
        limit,
        offset,
        &tz,
        now_millis(),
    )
    .await?;
    Ok(answer(
        csv,
        &rows,
        &evidence::TaskRow::default(),
        "tasks",
        || json!({"measure": measure, "limit": limit, "offset": offset, "rows": rows}),
    ))
}

/// Before/after pairs of tasks completed in the range.
#[utoipa::path(get, path = "/api/v1/analytics/gallery", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{rows: [{task, title, district, category, completed_at, before: {thumb, display}, after: {thumb, display}}]}` (public derivative URLs), latest first; CSV with `format=csv`"),
        (status = 400, description = "bad date, range or page"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "not a manager, dispatcher or admin"),
    ))]
pub async fn get_gallery(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let tz = state.zone.clone();
    let f = p.common().filter(&who, &tz)?;
    let (limit, offset) = p.page(50)?;
    let csv = p.csv()?;
    let rows = evidence::gallery(&state.db, &f, limit, offset, &tz).await?;
    Ok(answer(
        csv,
        &rows,
        &evidence::GalleryRow::default(),
        "gallery",
        || json!({"limit": limit, "offset": offset, "rows": rows}),
    ))
}

/// The caller's districts as GeoJSON (for the choropleth).
#[utoipa::path(get, path = "/api/v1/analytics/districts", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection; properties code, name, region"),
        (status = 401, description = "not logged in"),
        (status = 403, description = "not a manager, dispatcher or admin"),
    ))]
pub async fn get_districts(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Value>, ApiError> {
    let scope = analytics::Scope::of(&who)?;
    let features: Vec<Value> = state
        .db
        .districts()
        .await?
        .iter()
        .filter(|d| scope.sees(&d.code))
        .map(crate::domain::geo::feature)
        .collect();
    Ok(Json(
        json!({"type": "FeatureCollection", "features": features}),
    ))
}

/// The analytics routes and their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_measures))
        .routes(routes!(get_trend))
        .routes(routes!(get_scorecard))
        .routes(routes!(get_tasks))
        .routes(routes!(get_gallery))
        .routes(routes!(get_districts))
}
