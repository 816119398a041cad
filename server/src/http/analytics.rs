//! Managers' analytics API (`crate::domain::analytics`): measures, trends, scorecards,
//! reports and messages by kind and channel, the tasks behind a number, the before/after gallery and the districts' polygons. Managers,
//! dispatchers (their districts) and admins (all); crews and call-centre operators get
//! 403. Every tabular answer is also CSV with `format=csv`. The answers are built by
//! [`crate::domain::analytics::answers`].

use crate::domain::analytics::answers::{Analytics, Answer, Params};
use crate::domain::analytics::scan;
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{Forbidden, Unauthorized};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const TAG: &str = "analytics";

fn analytics(state: &AppState) -> Analytics<'_> {
    Analytics {
        db: &state.db,
        engine: scan::engine(state.analytics.as_ref()),
        zone: &state.zone,
        timezone: &state.config.timezone,
        config: &state.config.analytics,
    }
}

fn respond(a: Answer) -> Response {
    match a {
        Answer::Json(v) => Json(v).into_response(),
        Answer::Csv { name, body } => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            body,
        )
            .into_response(),
    }
}

/// Measures per unit over a local date range.
#[utoipa::path(get, path = "/api/v1/analytics/measures", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{by, from, to, timezone, rows: [{key, label, received, closed, backlog, completed, ack_p50_min, ack_p90_min, complete_p50_min, complete_p90_min, sla_ack_pct, sla_complete_pct, sla: {urgent|high|normal|low: {due, met, pct}}, sla_ack_by_priority, reopen_rate, rating_mean, rating_counts, rating_response_rate, photo_share, flagged_photos}]}`; CSV with `format=csv`"),
        (status = 400, description = "bad date, range or `by`"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_measures(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    Ok(respond(analytics(&state).measures(&who, &p).await?))
}

/// A measure over time, per bucket.
#[utoipa::path(get, path = "/api/v1/analytics/trend", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{measure, interval, from, to, timezone, series: [{key, label, points: [{period, value}]}]}`; CSV (key, label, period, value) with `format=csv`"),
        (status = 400, description = "bad date, range, measure, interval or `by`"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_trend(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    Ok(respond(analytics(&state).trend(&who, &p).await?))
}

/// The scorecard: units scored and ranked by the documented formula.
#[utoipa::path(get, path = "/api/v1/analytics/scorecard", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{level, from, to, formula: {text, weights, threshold, min_tasks, ack_target_minutes}, rows: [{key, label, score, rank, below_threshold, insufficient, components, tasks, penalties, penalty_amount, thanks, complaints}]}` (`thanks`, `complaints`: citizens' messages filed in the range naming the unit, beside the score); CSV with `format=csv`"),
        (status = 400, description = "bad date, range or level"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_scorecard(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    Ok(respond(analytics(&state).scorecard(&who, &p).await?))
}

/// Reports and messages filed in the range by kind and channel.
#[utoipa::path(get, path = "/api/v1/analytics/messages", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{from, to, kinds, channels, rows: [{kind, channel, count}]}`: field reports (`request`, `violation`) and citizens' messages (`complaint`, `criticism`, `suggestion`, `idea`, `thanks`) filed in the range, by channel (`web`, `open311`, `call_centre`, `crew` = a crew's phone field report, `dispatcher`, `other`), in the caller's districts (a message's own district, else its task's); CSV with `format=csv`"),
        (status = 400, description = "bad date, range or filter"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_messages(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    Ok(respond(analytics(&state).messages(&who, &p).await?))
}

/// The tasks behind a number.
#[utoipa::path(get, path = "/api/v1/analytics/tasks", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{rows: [{id, title, category, district, crew, contractor, priority, status, created_at, acknowledged_at, completed_at, ack_min, complete_min, sla_ack_met, sla_complete_met, reopened, reopen_count, rating, before_photo, after_photo, flagged_photos}]}` (times RFC 3339 in the city's zone), in the order of the time that puts a task behind the measure (creation, completion or closure), paged by `limit`/`offset`; CSV with `format=csv`"),
        (status = 400, description = "bad date, range, level, measure or page"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_tasks(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    Ok(respond(analytics(&state).tasks(&who, &p).await?))
}

/// Before/after pairs of tasks completed in the range.
#[utoipa::path(get, path = "/api/v1/analytics/gallery", tag = TAG, security(("bearer" = [])), params(Params),
    responses(
        (status = 200, description = "`{rows: [{task, title, district, category, completed_at, before: {thumb, display}, after: {thumb, display}}]}` (public derivative URLs), latest first; CSV with `format=csv`"),
        (status = 400, description = "bad date, range or page"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_gallery(
    State(state): State<AppState>,
    who: Identity,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    Ok(respond(analytics(&state).gallery(&who, &p).await?))
}

/// The caller's districts as GeoJSON (for the choropleth).
#[utoipa::path(get, path = "/api/v1/analytics/districts", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection; properties code, name, region"),
        Unauthorized,
        Forbidden,
    ))]
pub async fn get_districts(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(analytics(&state).districts(&who).await?))
}

/// The analytics routes and their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_measures))
        .routes(routes!(get_trend))
        .routes(routes!(get_scorecard))
        .routes(routes!(get_messages))
        .routes(routes!(get_tasks))
        .routes(routes!(get_gallery))
        .routes(routes!(get_districts))
}
