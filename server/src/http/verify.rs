//! Verification routes of the console: the "to verify" list, a task's photo evidence, and
//! the dispatcher's decision (thin over `domain::dispatch::verify`).
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/console/verify` | completed tasks of my districts, the longest waiting first |
//! | `GET /api/v1/console/tasks/{id}/evidence` | the task's photos: sizes, original (staff), EXIF time and place, flags in plain words |
//! | `POST …/tasks/{id}/verify` | accept the work (→ `verified`) |
//! | `POST …/tasks/{id}/reject` | `{reason}` (required): back to the same crew (→ `reopened`) |

use crate::domain::dispatch::desk::ConsoleUser;
use crate::domain::dispatch::verify::{self, Evidence};
use crate::domain::identity::Identity;
use crate::domain::schema::TaskViewSchema;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Forbidden, TaskEditRefused, TaskNotFound, Unauthorized};
use crate::storage::dispatch::QueueRow;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use sync_core::DocId;
use sync_core::task::TaskView;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The verification routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(to_verify))
        .routes(routes!(evidence))
        .routes(routes!(verify_task))
        .routes(routes!(reject_task))
}

fn task_id(s: &str) -> Result<DocId, ApiError> {
    DocId::new(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `GET /api/v1/console/verify`.
#[utoipa::path(get, path = "/api/v1/console/verify", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "Completed tasks of my districts waiting for verification, the longest waiting first", body = Vec<QueueRow>),
        Unauthorized,
        Forbidden,
    ))]
pub async fn to_verify(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Json<Vec<QueueRow>>, ApiError> {
    Ok(Json(verify::to_verify(&state.dispatch, &user).await?))
}

/// `GET /api/v1/console/tasks/{id}/evidence`.
#[utoipa::path(get, path = "/api/v1/console/tasks/{id}/evidence", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    responses(
        (status = 200, description = "The task's photos with their facts and flags", body = Evidence),
        BadRequest,
        Unauthorized,
        Forbidden,
        TaskNotFound,
    ))]
pub async fn evidence(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Result<Json<Evidence>, ApiError> {
    let id = task_id(&id)?;
    Ok(Json(verify::evidence(&state.dispatch, &user, &id).await?))
}

/// `POST /api/v1/console/tasks/{id}/verify`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/verify", tag = "console", operation_id = "verify_task", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    responses(
        (status = 200, description = "The task, verified", body = TaskViewSchema),
        TaskEditRefused,
    ))]
pub async fn verify_task(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    Ok(Json(verify::verify(&state.dispatch, &who, &id).await?.view))
}

/// `POST …/reject` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why the work is not accepted (1 to 500 characters); the crew sees it.
    pub reason: String,
}

/// `POST /api/v1/console/tasks/{id}/reject`.
#[utoipa::path(post, path = "/api/v1/console/tasks/{id}/reject", tag = "console", operation_id = "reject_task", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`T-…`)")),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "The task, reopened to the same crew", body = TaskViewSchema),
        TaskEditRefused,
    ))]
pub async fn reject_task(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<RejectRequest>, JsonRejection>,
) -> Result<Json<TaskView>, ApiError> {
    let id = task_id(&id)?;
    let Json(req) = body?;
    Ok(Json(
        verify::reject(&state.dispatch, &who, &id, &req.reason)
            .await?
            .view,
    ))
}
