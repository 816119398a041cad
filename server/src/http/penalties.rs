//! Penalty routes (thin over `domain::penalties`).
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/penalties` | penalties in my view (manager: my districts; admin: all; contractor's representative: my contractor's), newest fact first; `status`, `contractor` |
//! | `GET /api/v1/penalties/{id}` | one penalty with its evidence and steps |
//! | `POST /api/v1/penalties/{id}/decision` | a manager: `{action: confirm\|reduce\|waive, amount?, reason}` |
//! | `POST /api/v1/penalties/{id}/appeal` | the contractor's representative: `{note}` |
//! | `GET /api/v1/penalties/statement` | a contractor's statement: `contractor`, `from`, `to`, `format=csv` |
//! | `GET /api/v1/contractor/tasks` | a contractor's representative: its contractor's tasks |

use crate::domain::analytics::period;
use crate::domain::identity::Identity;
use crate::domain::penalties::decide::{self, Decision};
use crate::domain::penalties::statement::{self, Statement};
use crate::domain::penalties::{self};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Forbidden, PenaltyConflict, PenaltyNotFound, Unauthorized};
use crate::storage::penalties::{ContractorTask, Penalty};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The penalty routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(statement_of))
        .routes(routes!(one))
        .routes(routes!(decision))
        .routes(routes!(appeal))
        .routes(routes!(contractor_tasks))
}

fn penalty_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::BadRequest(format!("a penalty id is a positive number, not {s:?}"))
    })
}

/// `GET /api/v1/penalties` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `proposed`, `confirmed`, `waived` or `appealed`.
    pub status: Option<String>,
    /// Only this contractor's.
    pub contractor: Option<String>,
}

/// `GET /api/v1/penalties`.
#[utoipa::path(get, path = "/api/v1/penalties", tag = "penalties", operation_id = "list_penalties", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "Penalties in the caller's view, newest fact first (at most 1000)", body = Vec<Penalty>),
        BadRequest,
        Unauthorized,
        Forbidden,
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: Identity,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Vec<Penalty>>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(
        penalties::list(
            &state.db,
            &who,
            p.status.as_deref(),
            p.contractor.as_deref(),
        )
        .await?,
    ))
}

/// `GET /api/v1/penalties/{id}`.
#[utoipa::path(get, path = "/api/v1/penalties/{id}", tag = "penalties", operation_id = "get_penalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Penalty number")),
    responses(
        (status = 200, description = "The penalty with its evidence and steps", body = Penalty),
        BadRequest,
        Unauthorized,
        Forbidden,
        PenaltyNotFound,
    ))]
pub async fn one(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Penalty>, ApiError> {
    Ok(Json(
        penalties::get(&state.db, &who, penalty_id(&id)?).await?,
    ))
}

/// `POST /api/v1/penalties/{id}/decision`.
#[utoipa::path(post, path = "/api/v1/penalties/{id}/decision", tag = "penalties", operation_id = "decide_penalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Penalty number")),
    request_body = Decision,
    responses(
        (status = 200, description = "The penalty as decided", body = Penalty),
        BadRequest,
        Unauthorized,
        Forbidden,
        PenaltyNotFound,
        PenaltyConflict,
    ))]
pub async fn decision(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> Result<Json<Penalty>, ApiError> {
    let id = penalty_id(&id)?;
    let Json(d) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(decide::decide(&state.db, &who, id, &d).await?))
}

/// An appeal.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Appeal {
    /// Why the penalty is wrong (required).
    pub note: String,
}

/// `POST /api/v1/penalties/{id}/appeal`.
#[utoipa::path(post, path = "/api/v1/penalties/{id}/appeal", tag = "penalties", operation_id = "appeal_penalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Penalty number")),
    request_body = Appeal,
    responses(
        (status = 200, description = "The penalty, under appeal", body = Penalty),
        BadRequest,
        Unauthorized,
        Forbidden,
        PenaltyNotFound,
        PenaltyConflict,
    ))]
pub async fn appeal(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<Appeal>, JsonRejection>,
) -> Result<Json<Penalty>, ApiError> {
    let id = penalty_id(&id)?;
    let Json(a) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(decide::appeal(&state.db, &who, id, &a.note).await?))
}

/// `GET /api/v1/penalties/statement` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    /// The contractor (a representative's own by default).
    pub contractor: Option<String>,
    /// First day, `YYYY-MM-DD` in the city's zone (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, included (default: today).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/penalties/statement`.
#[utoipa::path(get, path = "/api/v1/penalties/statement", tag = "penalties", operation_id = "penalty_statement", security(("bearer" = [])),
    params(StatementParams),
    responses(
        (status = 200, description = "The contractor's statement (JSON, or CSV with `format=csv`)", body = Statement),
        BadRequest,
        Unauthorized,
        Forbidden,
        PenaltyNotFound,
    ))]
pub async fn statement_of(
    State(state): State<AppState>,
    who: Identity,
    params: Result<Query<StatementParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format is json or csv, not {other:?}"
            )));
        }
    };
    let contractor = p
        .contractor
        .filter(|c| !c.is_empty())
        .or_else(|| who.contractor.clone())
        .ok_or_else(|| ApiError::BadRequest("`contractor` is required".into()))?;
    let range = period::range(p.from.as_deref(), p.to.as_deref(), &state.zone)?;
    let s = statement::statement(&state.db, &who, &contractor, &range, &state.zone).await?;
    if csv {
        crate::domain::audit::record(
            &state.db,
            &crate::domain::audit::Who::of(&who),
            "export",
            Some(&contractor),
            serde_json::json!({"what": "penalty_statement", "from": s.from, "to": s.to}),
        )
        .await;
        let mut r = statement::csv(&s, &state.zone).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(r);
    }
    Ok(Json(s).into_response())
}

/// `GET /api/v1/contractor/tasks`.
#[utoipa::path(get, path = "/api/v1/contractor/tasks", tag = "penalties", operation_id = "contractor_tasks", security(("bearer" = [])),
    responses(
        (status = 200, description = "My contractor's tasks, newest first (at most 1000)", body = Vec<ContractorTask>),
        Unauthorized,
        Forbidden,
    ))]
pub async fn contractor_tasks(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<ContractorTask>>, ApiError> {
    Ok(Json(penalties::contractor_tasks(&state.db, &who).await?))
}
