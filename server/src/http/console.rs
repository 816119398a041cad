//! The dispatcher's console API (the page itself is served by [`crate::http::pages`]).
//!
//! Authentication: the page logs in with `POST /api/v1/login` and keeps the bearer token
//! in the tab's `sessionStorage`; every call, the live event stream included, sends it
//! in `Authorization`. No cookie, hence no cross-site request to forge. Dispatchers and
//! managers see only their districts; call-centre operators file reports anywhere in
//! the city and see no queue.
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/console/bootstrap` | who am I, tile URL, districts (GeoJSON), services |
//! | `GET /api/v1/console/tasks` | open tasks of my districts |
//! | `GET /api/v1/console/tasks/{id}` | the task with its timeline (superseded events, conflicts), notes, photos, timers, alerts |
//! | `POST /api/v1/console/tasks` | file a report (call centre, dispatcher) → 201 |
//! | `POST …/tasks/{id}/assign` | `{crew, note?, override?}`: assign or reassign |
//! | `POST …/tasks/{id}/auto-assign` | run the automatic choice now |
//! | `POST …/tasks/{id}/priority` | `{priority, reason}` |
//! | `POST …/tasks/{id}/cancel` | `{reason}` |
//! | `POST …/tasks/{id}/duplicate` | `{of}` |
//! | `POST …/tasks/{id}/notes` | `{text}` |
//! | `GET /api/v1/console/alerts` | unresolved alerts of my districts |
//! | `GET /api/v1/console/events` | Server-Sent Events: `change` whenever a task or alert of my districts changes (on any replica) |

use crate::domain::dispatch::assign::{self, AutoOutcome};
use crate::domain::dispatch::{DispatchError, edit, steer};
use crate::domain::identity::{Identity, UserRole};
use crate::domain::intake::{self, Filed, Report};
use crate::domain::schema::TaskViewSchema;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorBody;
use crate::storage::dispatch::{self as store, Alert, QueueRow};
use crate::storage::{DistrictStore, DocStore, IdentityStore};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::convert::Infallible;
use sync_core::DocId;
use sync_core::session::TaskScopes;
use sync_core::task::{Priority, Source, TaskView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The console's API routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bootstrap))
        .routes(routes!(tasks, create))
        .routes(routes!(task))
        .routes(routes!(assign))
        .routes(routes!(auto_assign))
        .routes(routes!(priority))
        .routes(routes!(cancel))
        .routes(routes!(duplicate))
        .routes(routes!(note))
        .routes(routes!(alerts))
        .routes(routes!(events))
}

fn console_user(who: &Identity) -> Result<(), ApiError> {
    match who.role {
        UserRole::Dispatcher | UserRole::Manager | UserRole::CallCentre => Ok(()),
        _ => Err(ApiError::Forbidden(
            "the console is for dispatchers, managers and call-centre operators".into(),
        )),
    }
}

fn task_id(s: &str) -> Result<DocId, ApiError> {
    DocId::new(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `GET /api/v1/console/bootstrap`.
#[utoipa::path(get, path = "/api/v1/console/bootstrap", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Who am I, tile URL, my districts (GeoJSON), services", body = Object),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
    ))]
pub async fn bootstrap(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Value>, ApiError> {
    console_user(&who)?;
    let all = state.db.districts().await?;
    let features: Vec<Value> = all
        .iter()
        .filter(|d| who.role == UserRole::CallCentre || who.districts.contains(&d.code))
        .map(crate::domain::geo::feature)
        .collect();
    let services: Vec<Value> = state
        .db
        .services()
        .await?
        .into_iter()
        .map(|s| json!({"code": s.code, "name": s.name, "default_priority": s.default_priority}))
        .collect();
    Ok(Json(json!({
        "me": {"login": who.login, "role": who.role, "districts": who.districts, "user_id": who.user_id},
        "tile_url": state.config.tile_url,
        "districts": {"type": "FeatureCollection", "features": features},
        "services": services,
    })))
}

/// `GET /api/v1/console/tasks`.
#[utoipa::path(get, path = "/api/v1/console/tasks", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Open tasks of my districts", body = Vec<QueueRow>),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
    ))]
pub async fn tasks(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<QueueRow>>, ApiError> {
    console_user(&who)?;
    Ok(Json(store::open_tasks(&state.db, &who.districts).await?))
}

/// A task as the console shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskDetail {
    /// The task (timeline with outcomes, conflicts, notes, photos).
    #[schema(value_type = TaskViewSchema)]
    pub task: TaskView,
    /// Pending timers: `[kind, due_at, crew]`.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub timers: Vec<(String, i64, Option<String>)>,
    /// Alerts about it.
    pub alerts: Vec<Alert>,
    /// Citizens' tracking codes on it, as people read them (dispatchers read them to
    /// callers on the phone): `{code, role}`, the reporter's first.
    pub tracking_codes: Vec<TrackingCode>,
    /// Open reports of the same category near it, in the caller's districts (nearest
    /// first): candidates to merge it into (design §6). Empty for a closed task.
    pub nearby: Vec<NearbyTask>,
}

/// A possible duplicate, as the console offers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyTask {
    /// Task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status (wire name).
    pub status: String,
    /// Metres away.
    pub distance_m: f64,
    /// Citizens who supported it.
    pub supporters: u64,
}

/// A tracking code as the console shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingCode {
    /// `XXXX-XXXX-XXXX`.
    pub code: String,
    /// `reporter` or `supporter`.
    #[schema(value_type = String)]
    pub role: crate::domain::citizen::tracking::Role,
}

/// `GET /api/v1/console/tasks/{id}`.
#[utoipa::path(get, path = "/api/v1/console/tasks/{id}", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    responses(
        (status = 200, description = "The task, timers and alerts", body = TaskDetail),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
    ))]
pub async fn task(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    console_user(&who)?;
    let id = task_id(&id)?;
    let (doc, _) = edit::load(&state.dispatch, &id).await?;
    let view = doc.view().map_err(DispatchError::from)?;
    let visible = view
        .derived
        .district
        .as_ref()
        .is_some_and(|d| who.districts.contains(d));
    if !visible {
        // The same answer as a missing task: no probing other districts.
        return Err(ApiError::NotFound(format!("no task {id}")));
    }
    Ok(Json(TaskDetail {
        timers: store::pending_timers(&state.db, id.as_str()).await?,
        alerts: store::task_alerts(&state.db, id.as_str()).await?,
        tracking_codes: crate::domain::citizen::tracking::codes_of(&state.db, &id)
            .await?
            .into_iter()
            .map(|t| TrackingCode {
                code: crate::domain::citizen::tracking::display(&t.code),
                role: t.role,
            })
            .collect(),
        nearby: nearby(&state, &who, &view).await?,
        task: view,
    }))
}

/// Open same-category reports within the Open311 duplicate radius of `view`'s point
/// that the caller may see.
async fn nearby(
    state: &AppState,
    who: &Identity,
    view: &TaskView,
) -> Result<Vec<NearbyTask>, ApiError> {
    if view.derived.status.is_closed() {
        return Ok(Vec::new());
    }
    let found = crate::domain::citizen::duplicates::nearby(
        &state.db,
        &view.category,
        view.point.lat,
        view.point.lon,
        state.config.open311.duplicate_radius_m,
        Some(&view.id),
    )
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for n in found {
        let row = state.db.task_row(&n.task).await?;
        if row
            .and_then(|r| r.district)
            .is_some_and(|d| who.districts.contains(&d))
        {
            out.push(NearbyTask {
                id: n.task.to_string(),
                title: n.title,
                status: n.status,
                distance_m: n.distance_m,
                supporters: n.supporters,
            });
        }
    }
    Ok(out)
}

/// `POST /api/v1/console/tasks`: file a report.
#[utoipa::path(post, path = "/api/v1/console/tasks", tag = "console", operation_id = "create_task", security(("bearer" = [])),
    request_body = Report,
    responses(
        (status = 201, description = "Filed (and dispatched if urgent)", body = Filed),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 422, description = "Outside every district", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    who: Identity,
    body: Result<Json<Report>, JsonRejection>,
) -> Result<(StatusCode, Json<Filed>), ApiError> {
    let source = match who.role {
        UserRole::CallCentre => Source::CallCentre,
        UserRole::Dispatcher => Source::Dispatcher,
        _ => {
            return Err(ApiError::Forbidden(
                "only call-centre operators and dispatchers file reports here".into(),
            ));
        }
    };
    let Json(report) = body?;
    let actor = who
        .actor()
        .ok_or_else(|| ApiError::Forbidden("no role to file as".into()))?;
    let filed = intake::create_task(&state.dispatch, &actor, source, report).await?;
    Ok((StatusCode::CREATED, Json(filed)))
}

/// `POST …/assign` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The crew.
    pub crew: String,
    /// A note for the event's reason.
    #[serde(default)]
    pub note: Option<String>,
    /// Assign even an off-duty or out-of-district crew; the reason is recorded.
    #[serde(default, rename = "override")]
    pub override_reason: Option<String>,
}

/// `POST /api/v1/console/tasks/{id}/assign`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/assign", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "The task after the assignment", body = TaskViewSchema),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Refused by the dispatch rules", body = ErrorBody),
    ))]
pub async fn assign(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<AssignRequest>, JsonRejection>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    let Json(req) = body?;
    let done = assign::assign_by_dispatcher(
        &state.dispatch,
        &who,
        &id,
        &req.crew,
        req.note.as_deref(),
        req.override_reason.as_deref(),
    )
    .await?;
    Ok(Json(done.view))
}

/// `POST /api/v1/console/tasks/{id}/auto-assign`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/auto-assign", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    responses(
        (status = 200, description = "What the automatic choice did", body = AutoOutcome),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
    ))]
pub async fn auto_assign(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<AutoOutcome>, ApiError> {
    let id = task_id(&id)?;
    let (doc, _) = edit::load(&state.dispatch, &id).await?;
    let view = doc.view().map_err(DispatchError::from)?;
    assign::check_district(&who, view.derived.district.as_deref())?;
    Ok(Json(assign::auto_assign(&state.dispatch, &id).await?))
}

/// `POST …/priority` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityRequest {
    /// New priority.
    #[schema(value_type = crate::domain::schema::PriorityName)]
    pub priority: Priority,
    /// Why.
    pub reason: String,
}

/// `POST /api/v1/console/tasks/{id}/priority`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/priority", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = PriorityRequest,
    responses(
        (status = 200, description = "The task", body = TaskViewSchema),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Refused by the dispatch rules", body = ErrorBody),
    ))]
pub async fn priority(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<PriorityRequest>, JsonRejection>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    let Json(req) = body?;
    Ok(Json(
        steer::reprioritize(&state.dispatch, &who, &id, req.priority, &req.reason)
            .await?
            .view,
    ))
}

/// `POST …/cancel` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why.
    pub reason: String,
}

/// `POST /api/v1/console/tasks/{id}/cancel`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/cancel", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "The task", body = TaskViewSchema),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Refused by the dispatch rules", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<ReasonRequest>, JsonRejection>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    let Json(req) = body?;
    Ok(Json(
        steer::cancel(&state.dispatch, &who, &id, &req.reason)
            .await?
            .view,
    ))
}

/// `POST …/duplicate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateRequest {
    /// The surviving task.
    pub of: String,
}

/// `POST /api/v1/console/tasks/{id}/duplicate`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/duplicate", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = DuplicateRequest,
    responses(
        (status = 200, description = "The task", body = TaskViewSchema),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Refused by the dispatch rules", body = ErrorBody),
    ))]
pub async fn duplicate(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<DuplicateRequest>, JsonRejection>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    let Json(req) = body?;
    let of = task_id(&req.of)?;
    Ok(Json(
        steer::mark_duplicate(&state.dispatch, &who, &id, &of)
            .await?
            .view,
    ))
}

/// `POST …/notes` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// The note.
    pub text: String,
}

/// `POST /api/v1/console/tasks/{id}/notes`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/notes", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = NoteRequest,
    responses(
        (status = 200, description = "The task", body = TaskViewSchema),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
        (status = 404, description = "No such task in the caller's districts", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Refused by the dispatch rules", body = ErrorBody),
    ))]
pub async fn note(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<NoteRequest>, JsonRejection>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    let Json(req) = body?;
    Ok(Json(
        steer::add_note(&state.dispatch, &who, &id, &req.text)
            .await?
            .view,
    ))
}

/// `GET /api/v1/console/alerts`.
#[utoipa::path(get, path = "/api/v1/console/alerts", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Unresolved alerts of my districts", body = Vec<Alert>),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
    ))]
pub async fn alerts(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<Alert>>, ApiError> {
    console_user(&who)?;
    Ok(Json(store::alerts(&state.db, &who.districts, 100).await?))
}

/// `GET /api/v1/console/events`: a `hello` event, then a `change` event (data: the
/// touched scopes) whenever a task or alert of the caller's districts changes, on this
/// replica or another. The page refetches what it shows. Ends at shutdown.
#[utoipa::path(get, path = "/api/v1/console/events", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-Sent Events: `hello`, then `change` events (`{\"scopes\": [...]}`)", content_type = "text/event-stream", body = String),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not allowed for this role", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    console_user(&who)?;
    let scopes: Vec<_> = who
        .districts
        .iter()
        .filter_map(|d| TaskScopes::district(d))
        .collect();
    let sub = state.hub().subscribe(&scopes);
    let stop = state.hub().shutdown_signal();
    let stream =
        futures_util::stream::unfold((sub, stop, true), |(sub, mut stop, first)| async move {
            if first {
                let hello = Event::default().event("hello").data("{}");
                return Some((Ok(hello), (sub, stop, false)));
            }
            let scopes = tokio::select! {
                scopes = sub.next() => scopes,
                _ = stop.wait_for(|s| *s) => return None,
            };
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let data = json!({"scopes": names}).to_string();
            Some((
                Ok(Event::default().event("change").data(data)),
                (sub, stop, false),
            ))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
