//! The call centre's desk API (`/console/desk.html`), for call-centre operators: find
//! a caller (`GET /api/v1/desk/callers`), file for them (`POST /api/v1/desk/reports`),
//! the district of a point and nearby duplicates (`GET /api/v1/desk/district`,
//! `GET /api/v1/desk/nearby`), add them as a supporter instead
//! (`POST /api/v1/desk/reports/{id}/support`), read any task (`GET /api/v1/desk/tasks/{id}`)
//! and add a caller's note to it (`POST /api/v1/desk/tasks/{id}/notes`),
//! and log the call (`POST /api/v1/desk/calls`, `POST /api/v1/desk/calls/{id}/end`). The
//! managers' call figures are `GET /api/v1/analytics/calls`. The work is in
//! [`crate::domain::callcentre`].

use crate::domain::callcentre::callers::{self, Found};
use crate::domain::callcentre::calls::{self, Call, CallFigures, EndCall};
use crate::domain::callcentre::filing::{self, CallerNote, DeskReceipt, DeskReport, DeskSupport};
use crate::domain::callcentre::{DeskError, Operator};
use crate::domain::citizen::public_view::{self, Named, TrackView};
use crate::domain::citizen::report::{self, Nearby};
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Conflict, ErrorBody, Forbidden, Unauthorized};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const TAG: &str = "desk";

/// The desk's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find_caller))
        .routes(routes!(file_report))
        .routes(routes!(district))
        .routes(routes!(nearby))
        .routes(routes!(support))
        .routes(routes!(task))
        .routes(routes!(note))
        .routes(routes!(start_call))
        .routes(routes!(end_call))
        .routes(routes!(call_figures))
}

fn operator(who: &Identity) -> Result<Operator, ApiError> {
    Ok(Operator::admit(who)?)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// What the operator typed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    /// A phone number (`0912 345 6789`, `+98…`, `0098…`, Persian digits), a tracking code
    /// or a task id.
    pub q: String,
    /// The call in progress (`C-…`): a caller found by phone is logged on it.
    #[serde(default)]
    pub call: Option<String>,
}

/// Finds a caller and their earlier reports.
#[utoipa::path(get, path = "/api/v1/desk/callers", operation_id = "desk_find_caller", tag = TAG, security(("bearer" = [])),
    params(FindQuery),
    responses(
        (status = 200, description = "The caller's reports, newest first", body = Found),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No report has this code or id", body = ErrorBody),
    ))]
pub async fn find_caller(
    State(state): State<AppState>,
    who: Identity,
    q: Result<Query<FindQuery>, QueryRejection>,
) -> Result<Json<Found>, ApiError> {
    let op = operator(&who)?;
    let q = query(q)?;
    let desk = state.desk();
    let (found, caller) = callers::find(&desk, &q.q).await?;
    if let (Some(call), Some(caller)) = (q.call.as_deref(), caller.as_deref()) {
        match calls::found_caller(&desk, &op, call, caller).await {
            Ok(()) => {}
            // The lookup stands; an unknown call id is the page's mistake, said plainly.
            Err(DeskError::Db(e)) => return Err(ApiError::Db(e)),
            Err(e) => tracing::info!(call, error = %e, "lookup's call not noted"),
        }
    }
    Ok(Json(found))
}

/// Files a report or message for the caller.
#[utoipa::path(post, path = "/api/v1/desk/reports", operation_id = "desk_file_report", tag = TAG, security(("bearer" = [])),
    request_body = DeskReport,
    responses(
        (status = 201, description = "Filed: the tracking code to read aloud, and whether it goes by SMS", body = DeskReceipt),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 422, description = "The point is outside every district", body = ErrorBody),
    ))]
pub async fn file_report(
    State(state): State<AppState>,
    who: Identity,
    b: Result<Json<DeskReport>, JsonRejection>,
) -> Result<(StatusCode, Json<DeskReceipt>), ApiError> {
    let op = operator(&who)?;
    let r = body(b)?;
    let done = filing::file(&state.desk(), &op, r).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// A point.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PointQuery {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// The district a point falls in.
#[utoipa::path(get, path = "/api/v1/desk/district", operation_id = "desk_district", tag = TAG, security(("bearer" = [])),
    params(PointQuery),
    responses(
        (status = 200, description = "The district", body = Named),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 422, description = "Outside every district", body = ErrorBody),
    ))]
pub async fn district(
    State(state): State<AppState>,
    who: Identity,
    q: Result<Query<PointQuery>, QueryRejection>,
) -> Result<Json<Named>, ApiError> {
    operator(&who)?;
    let q = query(q)?;
    Ok(Json(
        report::district_at(&state.citizens(), q.lat, q.lon).await?,
    ))
}

/// A service and a point.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearbyQuery {
    /// The service code.
    pub service: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// Open reports of the same service nearby: offer "add this caller as a supporter".
#[utoipa::path(get, path = "/api/v1/desk/nearby", operation_id = "desk_nearby", tag = TAG, security(("bearer" = [])),
    params(NearbyQuery),
    responses(
        (status = 200, description = "Open reports nearby, nearest first", body = Vec<Nearby>),
        BadRequest,
        Unauthorized,
        Forbidden,
    ))]
pub async fn nearby(
    State(state): State<AppState>,
    who: Identity,
    q: Result<Query<NearbyQuery>, QueryRejection>,
) -> Result<Json<Vec<Nearby>>, ApiError> {
    operator(&who)?;
    let q = query(q)?;
    Ok(Json(
        report::nearby(&state.citizens(), &q.service, q.lat, q.lon).await?,
    ))
}

/// Adds the caller as a supporter of an open report instead of filing a duplicate.
#[utoipa::path(post, path = "/api/v1/desk/reports/{id}/support", operation_id = "desk_support", tag = TAG, security(("bearer" = [])),
    params(("id" = String, Path, description = "The open report's task id (`T-…`)")),
    request_body = DeskSupport,
    responses(
        (status = 201, description = "The caller's supporter code", body = DeskReceipt),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No open report with this id", body = ErrorBody),
    ))]
pub async fn support(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    b: Result<Json<DeskSupport>, JsonRejection>,
) -> Result<(StatusCode, Json<DeskReceipt>), ApiError> {
    let op = operator(&who)?;
    let s = body(b)?;
    let done = filing::support(&state.desk(), &op, &id, s).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// Any task or message, read-only: its public fields, timeline and photos.
#[utoipa::path(get, path = "/api/v1/desk/tasks/{id}", operation_id = "desk_task", tag = TAG, security(("bearer" = [])),
    params(("id" = String, Path, description = "Task (`T-…`) or message (`M-…`) id")),
    responses(
        (status = 200, description = "The public view", body = TrackView),
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
pub async fn task(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<TrackView>, ApiError> {
    operator(&who)?;
    let unknown = || ApiError::NotFound(format!("no task {id:?}"));
    let doc = sync_core::DocId::new(id.trim().to_uppercase()).map_err(|_| unknown())?;
    let view = public_view::staff_view(&state.citizens(), &doc)
        .await
        .map_err(DeskError::from)?;
    Ok(Json(view))
}

/// Adds a caller's note to a task (the one change an operator makes).
#[utoipa::path(post, path = "/api/v1/desk/tasks/{id}/notes", operation_id = "desk_caller_note", tag = TAG, security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = CallerNote,
    responses(
        (status = 204, description = "Added"),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such task", body = ErrorBody),
        Conflict,
    ))]
pub async fn note(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    b: Result<Json<CallerNote>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let op = operator(&who)?;
    let n = body(b)?;
    filing::caller_note(&state.desk(), &op, &id, n).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a call (the operator picked up).
#[utoipa::path(post, path = "/api/v1/desk/calls", operation_id = "desk_start_call", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 201, description = "The call", body = Call),
        Unauthorized,
        Forbidden,
    ))]
pub async fn start_call(
    State(state): State<AppState>,
    who: Identity,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    let op = operator(&who)?;
    let call = calls::start(&state.desk(), &op).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

/// Ends a call with its outcome.
#[utoipa::path(post, path = "/api/v1/desk/calls/{id}/end", operation_id = "desk_end_call", tag = TAG, security(("bearer" = [])),
    params(("id" = String, Path, description = "The call (`C-…`)")),
    request_body = EndCall,
    responses(
        (status = 200, description = "The call, ended", body = Call),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such call", body = ErrorBody),
        Conflict,
    ))]
pub async fn end_call(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    b: Result<Json<EndCall>, JsonRejection>,
) -> Result<Json<Call>, ApiError> {
    let op = operator(&who)?;
    let e = body(b)?;
    Ok(Json(calls::end(&state.desk(), &op, &id, e).await?))
}

/// A local date range.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    #[serde(default)]
    pub to: Option<String>,
}

/// The call centre's figures: calls per day and hour, handling time, first-contact
/// resolution, reports by channel.
#[utoipa::path(get, path = "/api/v1/analytics/calls", operation_id = "analytics_calls", tag = "analytics", security(("bearer" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "The figures", body = CallFigures),
        BadRequest,
        Unauthorized,
        Forbidden,
    ))]
pub async fn call_figures(
    State(state): State<AppState>,
    who: Identity,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<CallFigures>, ApiError> {
    calls::check_reader(&who)?;
    let q = query(q)?;
    Ok(Json(
        calls::figures(
            &state.desk(),
            &who,
            q.from.as_deref(),
            q.to.as_deref(),
            &state.config.timezone,
        )
        .await?,
    ))
}
