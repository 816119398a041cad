//! Administration routes (admins only).
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/admin/audit` | the staff audit log, newest first: `limit`, `offset`, `format=csv` (reading it as CSV is itself recorded as an export) |

use crate::domain::audit;
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Forbidden, Unauthorized};
use crate::storage::audit::AuditEntry;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

/// `GET /api/v1/admin/audit` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Rows, 1 to 10000 (default 100).
    pub limit: Option<i64>,
    /// Rows skipped, newest first (default 0).
    pub offset: Option<i64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/admin/audit`.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "Audit rows, newest first (JSON array, or CSV with `format=csv`)", body = Vec<AuditEntry>,
            headers(("X-Total-Count" = i64, description = "Rows in the whole log"))),
        BadRequest,
        Unauthorized,
        Forbidden,
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    who: Identity,
    params: Result<Query<AuditParams>, QueryRejection>,
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
    let (rows, total) = audit::read(
        &state.db,
        &who,
        p.limit.unwrap_or(100),
        p.offset.unwrap_or(0),
        csv,
    )
    .await?;
    let mut resp = if csv {
        let mut r = audit::csv(&rows).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        r
    } else {
        Json(rows).into_response()
    };
    resp.headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    Ok(resp)
}
