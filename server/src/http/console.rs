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

use crate::base::time::now_millis;
use crate::domain::dispatch::assign::{self, AutoOutcome};
use crate::domain::dispatch::desk::{self, ConsoleUser, TaskDetail};
use crate::domain::dispatch::steer;
use crate::domain::identity::{self, CutKind, Identity};
use crate::domain::intake::{self, Filed, Filer, Report};
use crate::domain::schema::TaskViewSchema;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{
    BadRequest, Conflict, ErrorBody, Forbidden, TaskEditRefused, TaskNotFound, Unauthorized,
};
use crate::storage::dispatch::Alert;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use sync_core::DocId;
use sync_core::task::{Priority, TaskView};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The console's API routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bootstrap))
        .routes(routes!(create))
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

/// The caller admitted to the console ([`ConsoleUser::admit`]) before the rest of the
/// request is read.
impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ConsoleUser::admit(
            Identity::from_request_parts(parts, state).await?,
        )?)
    }
}

/// The caller admitted to file reports ([`Filer::admit`]) before the report is read.
impl FromRequestParts<AppState> for Filer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Filer::admit(
            &Identity::from_request_parts(parts, state).await?,
        )?)
    }
}

fn task_id(s: &str) -> Result<DocId, ApiError> {
    DocId::new(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `GET /api/v1/console/bootstrap`.
#[utoipa::path(get, path = "/api/v1/console/bootstrap", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Who am I, tile URL, my districts (GeoJSON), services", body = Object),
        Unauthorized,
        Forbidden,
    ))]
pub async fn bootstrap(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Json<desk::Bootstrap>, ApiError> {
    Ok(Json(
        desk::bootstrap(&state.db, &user, state.config.tile_url.as_deref()).await?,
    ))
}

/// `GET /api/v1/console/tasks/{id}`.
#[utoipa::path(get, path = "/api/v1/console/tasks/{id}", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    responses(
        (status = 200, description = "The task, timers and alerts", body = TaskDetail),
        BadRequest,
        Unauthorized,
        Forbidden,
        TaskNotFound,
    ))]
pub async fn task(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    let id = task_id(&id)?;
    let radius_m = state.config.open311.duplicate_radius_m;
    Ok(Json(
        desk::task(&state.dispatch, &user, &id, radius_m).await?,
    ))
}

/// `POST /api/v1/console/tasks`: file a report.
#[utoipa::path(post, path = "/api/v1/console/tasks", tag = "console", operation_id = "create_task", security(("bearer" = [])),
    request_body = Report,
    responses(
        (status = 201, description = "Filed (and dispatched if urgent)", body = Filed),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 422, description = "Outside every district", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    filer: Filer,
    body: Result<Json<Report>, JsonRejection>,
) -> Result<(StatusCode, Json<Filed>), ApiError> {
    let Json(report) = body?;
    let filed = intake::file(&state.dispatch, &filer, report).await?;
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
        TaskEditRefused,
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
        BadRequest,
        Unauthorized,
        Forbidden,
        TaskNotFound,
        Conflict,
    ))]
pub async fn auto_assign(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<AutoOutcome>, ApiError> {
    let id = task_id(&id)?;
    Ok(Json(
        assign::auto_assign_by_dispatcher(&state.dispatch, &who, &id).await?,
    ))
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
        TaskEditRefused,
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
        TaskEditRefused,
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
        TaskEditRefused,
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
        TaskEditRefused,
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
        Unauthorized,
        Forbidden,
    ))]
pub async fn alerts(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Json<Vec<Alert>>, ApiError> {
    Ok(Json(desk::alerts(&state.db, &user).await?))
}

/// `GET /api/v1/console/events`: a `hello` event, then a `change` event (data: the
/// touched scopes) whenever a task or alert of the caller's districts changes, on this
/// replica or another. The page refetches what it shows. Ends at shutdown, and when the
/// caller's session is cut on any replica (logout, revoked tokens, a disabled user, new
/// districts): a last `closed` event says why, and nothing is sent after the cut.
#[utoipa::path(get, path = "/api/v1/console/events", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-Sent Events: `hello`, then `change` events \
            (`{\"scopes\": [...]}`); a last `closed` event (`{\"reason\": \"token_revoked\"}` or \
            `{\"reason\": \"scopes_changed\"}`) when the session is cut", content_type = "text/event-stream", body = String),
        Unauthorized,
        Forbidden,
    ))]
pub async fn events(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // As for a sync socket: registered, then the identity read again, so that no cut
    // falls in between (`domain::sessions`).
    let guard = state
        .hub()
        .sessions()
        .register(&user.identity().user_id, user.identity().token_hash);
    let who = identity::reauthenticate(&state.db, user.identity(), now_millis()).await?;
    let user = ConsoleUser::admit(who)?;
    let sub = desk::follow(state.hub(), &user);
    let stop = state.hub().shutdown_signal();
    let stream = futures_util::stream::unfold(
        (sub, stop, guard, Phase::Hello),
        |(sub, mut stop, mut guard, phase)| async move {
            match phase {
                Phase::Hello => {
                    let hello = Event::default().event("hello").data("{}");
                    return Some((Ok(hello), (sub, stop, guard, Phase::Live)));
                }
                Phase::Done => return None,
                Phase::Live => {}
            }
            let woke = tokio::select! {
                biased;
                kind = guard.cut() => Woke::Cut(kind),
                _ = stop.wait_for(|s| *s) => Woke::Stop,
                scopes = sub.next() => Woke::Scopes(scopes),
            };
            let scopes = match woke {
                Woke::Cut(kind) => {
                    return Some((Ok(closed(kind)), (sub, stop, guard, Phase::Done)));
                }
                Woke::Stop => return None,
                Woke::Scopes(scopes) => scopes,
            };
            // A change taken just as the session was cut is not sent.
            if let Some(kind) = guard.is_cut() {
                return Some((Ok(closed(kind)), (sub, stop, guard, Phase::Done)));
            }
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let data = json!({"scopes": names}).to_string();
            Some((
                Ok(Event::default().event("change").data(data)),
                (sub, stop, guard, Phase::Live),
            ))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// What woke the console's event stream.
enum Woke {
    Cut(CutKind),
    Stop,
    Scopes(Vec<sync_core::ScopeId>),
}

/// Where the console's event stream is.
enum Phase {
    Hello,
    Live,
    Done,
}

/// The last event of a cut stream.
fn closed(kind: CutKind) -> Event {
    let reason = match kind {
        CutKind::Revoked => "token_revoked",
        CutKind::Rescoped => "scopes_changed",
    };
    Event::default()
        .event("closed")
        .data(json!({"reason": reason}).to_string())
}
