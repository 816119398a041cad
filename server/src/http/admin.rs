//! Administration routes (admins only).
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/admin/audit` | the staff audit log, newest first: `limit`, `offset`, `format=csv` (reading it as CSV is itself recorded as an export) |
//! | `GET`, `POST /api/v1/admin/services` | services (retired too) with SLA terms and attributes; create one |
//! | `PUT /api/v1/admin/services/{code}` | replace a service (names, category, priority, SLA, attributes) |
//! | `PUT /api/v1/admin/services/{code}/sla` | one priority's (or every priority's) SLA terms |
//! | `PUT /api/v1/admin/services/{code}/attributes` | the Open311 attributes |
//! | `POST /api/v1/admin/services/{code}/retire` | retire (refused with open tasks) |
//! | `GET /api/v1/admin/districts` | districts, regions, neighbours, auto-assignment |
//! | `POST /api/v1/admin/districts/import` | import or replace polygons from GeoJSON |
//! | `PUT /api/v1/admin/districts/{code}` | region and auto-assignment |
//! | `GET`, `POST /api/v1/admin/crews` | crews with members; create one |
//! | `PUT /api/v1/admin/crews/{id}` | edit (name, district, skills, contractor) |
//! | `POST /api/v1/admin/crews/{id}/retire` | retire (refused with open tasks; members disabled) |
//! | `GET`, `POST /api/v1/admin/users` | users; create one |
//! | `POST /api/v1/admin/users/{login}/disable`, `…/enable` | disable (tokens revoked) or enable |
//! | `POST /api/v1/admin/users/{login}/password` | reset the password (tokens revoked) |
//! | `PUT /api/v1/admin/users/{login}/access` | role, crew, contractor, districts (tokens revoked) |
//! | `GET /api/v1/admin/contractors` | contractors with crews and penalty schedules |
//! | `PUT /api/v1/admin/contractors/{name}/terms` | a contractor's penalty schedule |
//! | `GET`, `POST /api/v1/admin/open311-keys` | Open311 keys; issue one (shown once) |
//! | `POST /api/v1/admin/open311-keys/{name}/revoke` | revoke a key |
//!
//! Each handler checks the caller is an admin ([`Admin::of`]) and calls one function of
//! `domain::admin`, which the command line calls too and which writes the audit row.

use crate::domain::admin::Admin;
use crate::domain::admin::contracts::{
    self, Contractor, IssuedKey, KeyInfo, KeyRequest, TermsInput,
};
use crate::domain::admin::crews::{self, AdminCrew, CrewInput};
use crate::domain::admin::districts::{
    self, AdminDistrict, DistrictImport, DistrictSettings, Imported,
};
use crate::domain::admin::services::{self, AdminService, AttributeInput, ServiceInput};
use crate::domain::admin::users::{self, Access, AdminUser, NewPassword, UserInput};
use crate::domain::audit;
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{AdminConflict, AdminNotFound, AdminUnknown};
use crate::http::openapi::{BadRequest, Forbidden, Unauthorized};
use crate::storage::audit::AuditEntry;
use crate::storage::penalties::Terms;
use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_log))
        .routes(routes!(list_services, create_service))
        .routes(routes!(edit_service))
        .routes(routes!(service_sla))
        .routes(routes!(service_attributes))
        .routes(routes!(retire_service))
        .routes(routes!(list_districts))
        .routes(routes!(import_districts))
        .routes(routes!(update_district))
        .routes(routes!(list_crews, create_crew))
        .routes(routes!(edit_crew))
        .routes(routes!(retire_crew))
        .routes(routes!(list_users, create_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(user_password))
        .routes(routes!(user_access))
        .routes(routes!(list_contractors))
        .routes(routes!(contractor_terms))
        .routes(routes!(list_keys, issue_key))
        .routes(routes!(revoke_key))
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

/// A JSON body, or 400 with what is wrong in it.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// `GET /api/v1/admin/services`.
#[utoipa::path(get, path = "/api/v1/admin/services", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every service, retired ones too", body = Vec<AdminService>),
        Unauthorized, Forbidden))]
pub async fn list_services(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<AdminService>>, ApiError> {
    Admin::of(&who)?;
    Ok(Json(services::list(&state.db).await?))
}

/// `POST /api/v1/admin/services`.
#[utoipa::path(post, path = "/api/v1/admin/services", tag = "admin", security(("bearer" = [])),
    request_body = ServiceInput,
    responses((status = 201, description = "Created", body = AdminService),
        BadRequest, Unauthorized, Forbidden, AdminConflict))]
pub async fn create_service(
    State(state): State<AppState>,
    who: Identity,
    b: Result<Json<ServiceInput>, JsonRejection>,
) -> Result<(StatusCode, Json<AdminService>), ApiError> {
    let by = Admin::of(&who)?;
    let input = body(b)?;
    Ok((
        StatusCode::CREATED,
        Json(services::create(&state.db, &by, &input).await?),
    ))
}

/// `PUT /api/v1/admin/services/{code}`.
#[utoipa::path(put, path = "/api/v1/admin/services/{code}", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "Service code")),
    request_body = ServiceInput,
    responses((status = 200, description = "The service as stored", body = AdminService),
        BadRequest, Unauthorized, Forbidden, AdminNotFound, AdminConflict))]
pub async fn edit_service(
    State(state): State<AppState>,
    who: Identity,
    Path(code): Path<String>,
    b: Result<Json<ServiceInput>, JsonRejection>,
) -> Result<Json<AdminService>, ApiError> {
    let by = Admin::of(&who)?;
    let input = body(b)?;
    Ok(Json(services::edit(&state.db, &by, &code, &input).await?))
}

/// `PUT /api/v1/admin/services/{code}/sla`: `priority` none sets the terms of every
/// priority; an omitted term is cleared.
#[utoipa::path(put, path = "/api/v1/admin/services/{code}/sla", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "Service code")),
    request_body = SlaRequest,
    responses((status = 200, description = "The service as stored", body = AdminService),
        BadRequest, Unauthorized, Forbidden, AdminNotFound, AdminConflict))]
pub async fn service_sla(
    State(state): State<AppState>,
    who: Identity,
    Path(code): Path<String>,
    b: Result<Json<SlaRequest>, JsonRejection>,
) -> Result<Json<AdminService>, ApiError> {
    let by = Admin::of(&who)?;
    let r = body(b)?;
    Ok(Json(
        services::set_sla(
            &state.db,
            &by,
            &code,
            r.priority.as_deref(),
            r.ack_minutes,
            r.complete_minutes,
        )
        .await?,
    ))
}

/// SLA terms to set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaRequest {
    /// `urgent`, `high`, `normal` or `low` (none: every priority).
    #[serde(default)]
    pub priority: Option<String>,
    /// Acknowledge within (1 to 525600 minutes).
    #[serde(default)]
    pub ack_minutes: Option<i64>,
    /// Complete within (1 to 525600 minutes).
    #[serde(default)]
    pub complete_minutes: Option<i64>,
}

/// `PUT /api/v1/admin/services/{code}/attributes`.
#[utoipa::path(put, path = "/api/v1/admin/services/{code}/attributes", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "Service code")),
    request_body = Vec<AttributeInput>,
    responses((status = 200, description = "The service as stored", body = AdminService),
        BadRequest, Unauthorized, Forbidden, AdminNotFound, AdminConflict))]
pub async fn service_attributes(
    State(state): State<AppState>,
    who: Identity,
    Path(code): Path<String>,
    b: Result<Json<Vec<AttributeInput>>, JsonRejection>,
) -> Result<Json<AdminService>, ApiError> {
    let by = Admin::of(&who)?;
    let attrs = body(b)?;
    Ok(Json(
        services::set_attributes(&state.db, &by, &code, &attrs).await?,
    ))
}

/// `POST /api/v1/admin/services/{code}/retire`.
#[utoipa::path(post, path = "/api/v1/admin/services/{code}/retire", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "Service code")),
    responses((status = 200, description = "The service, retired", body = AdminService),
        Unauthorized, Forbidden, AdminNotFound, AdminConflict))]
pub async fn retire_service(
    State(state): State<AppState>,
    who: Identity,
    Path(code): Path<String>,
) -> Result<Json<AdminService>, ApiError> {
    let by = Admin::of(&who)?;
    Ok(Json(services::retire(&state.db, &by, &code).await?))
}

/// `GET /api/v1/admin/districts`.
#[utoipa::path(get, path = "/api/v1/admin/districts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every district", body = Vec<AdminDistrict>),
        Unauthorized, Forbidden))]
pub async fn list_districts(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<AdminDistrict>>, ApiError> {
    Admin::of(&who)?;
    Ok(Json(districts::list(&state.db).await?))
}

/// `POST /api/v1/admin/districts/import`.
#[utoipa::path(post, path = "/api/v1/admin/districts/import", tag = "admin", security(("bearer" = [])),
    request_body = DistrictImport,
    responses((status = 200, description = "What was imported", body = Imported),
        BadRequest, Unauthorized, Forbidden))]
pub async fn import_districts(
    State(state): State<AppState>,
    who: Identity,
    b: Result<Json<DistrictImport>, JsonRejection>,
) -> Result<Json<Imported>, ApiError> {
    let by = Admin::of(&who)?;
    let req = body(b)?;
    Ok(Json(districts::import_json(&state.db, &by, &req).await?))
}

/// `PUT /api/v1/admin/districts/{code}`.
#[utoipa::path(put, path = "/api/v1/admin/districts/{code}", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "District code")),
    request_body = DistrictSettings,
    responses((status = 200, description = "The district", body = AdminDistrict),
        BadRequest, Unauthorized, Forbidden, AdminNotFound))]
pub async fn update_district(
    State(state): State<AppState>,
    who: Identity,
    Path(code): Path<String>,
    b: Result<Json<DistrictSettings>, JsonRejection>,
) -> Result<Json<AdminDistrict>, ApiError> {
    let by = Admin::of(&who)?;
    let s = body(b)?;
    Ok(Json(districts::update(&state.db, &by, &code, &s).await?))
}

/// `GET /api/v1/admin/crews`.
#[utoipa::path(get, path = "/api/v1/admin/crews", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every crew, retired ones too", body = Vec<AdminCrew>),
        Unauthorized, Forbidden))]
pub async fn list_crews(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<AdminCrew>>, ApiError> {
    Admin::of(&who)?;
    Ok(Json(crews::list(&state.db).await?))
}

/// `POST /api/v1/admin/crews`.
#[utoipa::path(post, path = "/api/v1/admin/crews", tag = "admin", security(("bearer" = [])),
    request_body = CrewInput,
    responses((status = 201, description = "Created", body = AdminCrew),
        BadRequest, Unauthorized, Forbidden, AdminConflict, AdminUnknown))]
pub async fn create_crew(
    State(state): State<AppState>,
    who: Identity,
    b: Result<Json<CrewInput>, JsonRejection>,
) -> Result<(StatusCode, Json<AdminCrew>), ApiError> {
    let by = Admin::of(&who)?;
    let input = body(b)?;
    Ok((
        StatusCode::CREATED,
        Json(crews::create(&state.db, &by, &input).await?),
    ))
}

/// `PUT /api/v1/admin/crews/{id}`.
#[utoipa::path(put, path = "/api/v1/admin/crews/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Crew id")),
    request_body = CrewInput,
    responses((status = 200, description = "The crew", body = AdminCrew),
        BadRequest, Unauthorized, Forbidden, AdminNotFound, AdminConflict, AdminUnknown))]
pub async fn edit_crew(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    b: Result<Json<CrewInput>, JsonRejection>,
) -> Result<Json<AdminCrew>, ApiError> {
    let by = Admin::of(&who)?;
    let input = body(b)?;
    Ok(Json(crews::edit(&state.db, &by, &id, &input).await?))
}

/// `POST /api/v1/admin/crews/{id}/retire`.
#[utoipa::path(post, path = "/api/v1/admin/crews/{id}/retire", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Crew id")),
    responses((status = 200, description = "The crew, retired", body = AdminCrew),
        Unauthorized, Forbidden, AdminNotFound, AdminConflict))]
pub async fn retire_crew(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<AdminCrew>, ApiError> {
    let by = Admin::of(&who)?;
    Ok(Json(crews::retire(&state.db, &by, &id).await?))
}

/// `GET /api/v1/admin/users`.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every user", body = Vec<AdminUser>),
        Unauthorized, Forbidden))]
pub async fn list_users(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<AdminUser>>, ApiError> {
    Admin::of(&who)?;
    Ok(Json(users::list(&state.db).await?))
}

/// `POST /api/v1/admin/users`.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = UserInput,
    responses((status = 201, description = "Created", body = AdminUser),
        BadRequest, Unauthorized, Forbidden, AdminConflict, AdminUnknown))]
pub async fn create_user(
    State(state): State<AppState>,
    who: Identity,
    b: Result<Json<UserInput>, JsonRejection>,
) -> Result<(StatusCode, Json<AdminUser>), ApiError> {
    let by = Admin::of(&who)?;
    let input = body(b)?;
    Ok((
        StatusCode::CREATED,
        Json(users::create(&state.db, &by, &input).await?),
    ))
}

/// `POST /api/v1/admin/users/{login}/disable`.
#[utoipa::path(post, path = "/api/v1/admin/users/{login}/disable", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path, description = "Login")),
    responses((status = 200, description = "The user, disabled; their tokens revoked", body = AdminUser),
        Unauthorized, Forbidden, AdminNotFound, AdminConflict))]
pub async fn disable_user(
    State(state): State<AppState>,
    who: Identity,
    Path(login): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let by = Admin::of(&who)?;
    Ok(Json(
        users::set_disabled(&state.db, &by, &login, true).await?,
    ))
}

/// `POST /api/v1/admin/users/{login}/enable`.
#[utoipa::path(post, path = "/api/v1/admin/users/{login}/enable", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path, description = "Login")),
    responses((status = 200, description = "The user, enabled", body = AdminUser),
        Unauthorized, Forbidden, AdminNotFound))]
pub async fn enable_user(
    State(state): State<AppState>,
    who: Identity,
    Path(login): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let by = Admin::of(&who)?;
    Ok(Json(
        users::set_disabled(&state.db, &by, &login, false).await?,
    ))
}

/// `POST /api/v1/admin/users/{login}/password`.
#[utoipa::path(post, path = "/api/v1/admin/users/{login}/password", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path, description = "Login")),
    request_body = NewPassword,
    responses((status = 200, description = "The user; their tokens revoked", body = AdminUser),
        BadRequest, Unauthorized, Forbidden, AdminNotFound))]
pub async fn user_password(
    State(state): State<AppState>,
    who: Identity,
    Path(login): Path<String>,
    b: Result<Json<NewPassword>, JsonRejection>,
) -> Result<Json<AdminUser>, ApiError> {
    let by = Admin::of(&who)?;
    let p = body(b)?;
    Ok(Json(
        users::reset_password(&state.db, &by, &login, &p.password).await?,
    ))
}

/// `PUT /api/v1/admin/users/{login}/access`.
#[utoipa::path(put, path = "/api/v1/admin/users/{login}/access", tag = "admin", security(("bearer" = [])),
    params(("login" = String, Path, description = "Login")),
    request_body = Access,
    responses((status = 200, description = "The user; their tokens revoked", body = AdminUser),
        BadRequest, Unauthorized, Forbidden, AdminNotFound, AdminConflict, AdminUnknown))]
pub async fn user_access(
    State(state): State<AppState>,
    who: Identity,
    Path(login): Path<String>,
    b: Result<Json<Access>, JsonRejection>,
) -> Result<Json<AdminUser>, ApiError> {
    let by = Admin::of(&who)?;
    let a = body(b)?;
    Ok(Json(users::set_access(&state.db, &by, &login, &a).await?))
}

/// `GET /api/v1/admin/contractors`.
#[utoipa::path(get, path = "/api/v1/admin/contractors", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Contractors with their crews and schedules", body = Vec<Contractor>),
        Unauthorized, Forbidden))]
pub async fn list_contractors(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<Contractor>>, ApiError> {
    Admin::of(&who)?;
    Ok(Json(contracts::contractors(&state.db).await?))
}

/// `PUT /api/v1/admin/contractors/{name}/terms`.
#[utoipa::path(put, path = "/api/v1/admin/contractors/{name}/terms", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "The contractor")),
    request_body = TermsInput,
    responses((status = 200, description = "The schedule as stored", body = Terms),
        BadRequest, Unauthorized, Forbidden))]
pub async fn contractor_terms(
    State(state): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
    b: Result<Json<TermsInput>, JsonRejection>,
) -> Result<Json<Terms>, ApiError> {
    let by = Admin::of(&who)?;
    let t = body(b)?;
    Ok(Json(
        contracts::set_terms(&state.db, &by, &contracts::terms_of(&name, &t)).await?,
    ))
}

/// `GET /api/v1/admin/open311-keys`.
#[utoipa::path(get, path = "/api/v1/admin/open311-keys", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every key (never the key itself)", body = Vec<KeyInfo>),
        Unauthorized, Forbidden))]
pub async fn list_keys(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    Admin::of(&who)?;
    Ok(Json(contracts::keys(&state.db).await?))
}

/// `POST /api/v1/admin/open311-keys`.
#[utoipa::path(post, path = "/api/v1/admin/open311-keys", tag = "admin", security(("bearer" = [])),
    request_body = KeyRequest,
    responses((status = 201, description = "The key, shown only now", body = IssuedKey),
        BadRequest, Unauthorized, Forbidden, AdminConflict))]
pub async fn issue_key(
    State(state): State<AppState>,
    who: Identity,
    b: Result<Json<KeyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let by = Admin::of(&who)?;
    let r = body(b)?;
    Ok((
        StatusCode::CREATED,
        Json(contracts::issue_key(&state.db, &by, &r.name).await?),
    ))
}

/// `POST /api/v1/admin/open311-keys/{name}/revoke`.
#[utoipa::path(post, path = "/api/v1/admin/open311-keys/{name}/revoke", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "The key's name")),
    responses((status = 204, description = "Revoked"),
        Unauthorized, Forbidden, AdminNotFound))]
pub async fn revoke_key(
    State(state): State<AppState>,
    who: Identity,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let by = Admin::of(&who)?;
    contracts::revoke_key(&state.db, &by, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
