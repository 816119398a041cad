//! The OpenAPI 3 document of the whole HTTP API, served at `GET /api/openapi.json`.
//!
//! The document is not written by hand: every handler carries a `#[utoipa::path]`
//! annotation and is registered with `utoipa_axum::routes!` on an `OpenApiRouter`, so a
//! route and its entry come from the same line (see [`crate::http::api_router`]). This
//! module holds what is not any one handler's: the document's title and description, the
//! `bearer` security scheme, the shared error body, the error answers many operations
//! share ([`Unauthorized`], [`Forbidden`], …: list them in a handler's `responses(…)`
//! beside its own tuples), and the handler that serves the finished document (built
//! once, when the router is).

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// Where the document is served.
pub const PATH: &str = "/api/openapi.json";

/// The media type of the document (as OGC API landing pages link it).
pub const MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.1";

/// Every JSON error answer: `{"error": <code>, "message": <plain words>}` (see
/// [`crate::http::error::ApiError`]).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // A schema only: bodies are written by `ApiError`.
pub struct ErrorBody {
    /// Machine-readable code (`bad_request`, `unauthorized`, `not_found`, …).
    pub error: String,
    /// Plain words for people.
    pub message: String,
}

/// 401: the bearer token is missing, malformed or expired (`unauthorized`), or its user is
/// disabled (`account_disabled`).
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "No, bad or expired token (`unauthorized`), or the token's user is disabled \
        (`account_disabled`)"
)]
pub struct Unauthorized(pub ErrorBody);

/// 403: the caller's role may not do this.
#[derive(IntoResponses)]
#[response(status = 403, description = "Not allowed for this role")]
pub struct Forbidden(pub ErrorBody);

/// 400: the id in the path or the JSON body does not parse.
#[derive(IntoResponses)]
#[response(status = 400, description = "Malformed id or body")]
pub struct BadRequest(pub ErrorBody);

/// 404: no such task where the caller may see it.
#[derive(IntoResponses)]
#[response(status = 404, description = "No such task in the caller's districts")]
pub struct TaskNotFound(pub ErrorBody);

/// 404: no such penalty where the caller may see it.
#[derive(IntoResponses)]
#[response(status = 404, description = "No such penalty in the caller's view")]
pub struct PenaltyNotFound(pub ErrorBody);

/// 409: the penalty's state does not allow this (waived, already decided or appealed).
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Not allowed in the penalty's state, or changed concurrently"
)]
pub struct PenaltyConflict(pub ErrorBody);

/// 404: no such service, district, crew, user or key (admin routes).
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such service, district, crew, user or key"
)]
pub struct AdminNotFound(pub ErrorBody);

/// 409: an admin change clashes with the current state.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "A taken code, a retired thing, open tasks in the way, or the last admin"
)]
pub struct AdminConflict(pub ErrorBody);

/// 422: an admin change names something that does not exist.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Names an unknown district, crew or service"
)]
pub struct AdminUnknown(pub ErrorBody);

/// 409: the task changed between reading and writing it.
#[derive(IntoResponses)]
#[response(status = 409, description = "Changed concurrently; retry")]
pub struct Conflict(pub ErrorBody);

/// 422: the task lifecycle's rules refuse the change.
#[derive(IntoResponses)]
#[response(status = 422, description = "Refused by the dispatch rules")]
pub struct DispatchRefused(pub ErrorBody);

/// Every refusal of a dispatcher's edit of one task: [`BadRequest`], [`Unauthorized`],
/// [`Forbidden`], [`TaskNotFound`], [`Conflict`] and [`DispatchRefused`].
pub struct TaskEditRefused;

impl IntoResponses for TaskEditRefused {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        [
            BadRequest::responses(),
            Unauthorized::responses(),
            Forbidden::responses(),
            TaskNotFound::responses(),
            Conflict::responses(),
            DispatchRefused::responses(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// 429: over a rate limit.
#[derive(IntoResponses)]
#[response(status = 429, description = "Rate limited")]
pub struct RateLimited(pub ErrorBody);

/// 400 on a GIS route: an `f` other than `json`.
#[derive(IntoResponses)]
#[response(status = 400, description = "An unknown f")]
pub struct UnknownFormat(pub ErrorBody);

/// Open311's 400, with the spec's error body in the route's format.
#[derive(IntoResponses)]
#[response(status = 400, description = "bad input (spec error body)")]
pub struct Open311BadInput;

/// Open311's 403 for a POST without a valid `api_key` (spec error body).
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "missing or wrong api_key (spec error body)"
)]
pub struct Open311WrongKey;

/// Open311's 404 for an unknown `service_request_id` (spec error body).
#[derive(IntoResponses)]
#[response(status = 404, description = "no such request (spec error body)")]
pub struct Open311NoSuchRequest;

/// Open311's 413 (spec error body).
#[derive(IntoResponses)]
#[response(
    status = 413,
    description = "a media file or body over its limit (spec error body)"
)]
pub struct Open311TooLarge;

/// The `bearer` security scheme: the token `POST /api/v1/login` returns.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `POST /api/v1/login`, sent as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's root: what every route's entry is merged into.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tarmim",
        description = "A city's citizen-request system: intake, dispatch, field crews' sync, \
                       photos, the integrity channel and public GIS data. Errors are JSON \
                       `{\"error\", \"message\"}`; a route the server does not know answers \
                       404 `{\"error\": \"no_such_route\"}` and a known route with another \
                       method 405 `{\"error\": \"method_not_allowed\"}`.",
        license(name = "AGPL-3.0-or-later"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "Login, logout, who am I"),
        (name = "sync", description = "Phones' document sync (WebSocket and HTTP fallback)"),
        (name = "crews", description = "Crews' duty and positions; the crew list"),
        (name = "console", description = "The dispatcher's console API"),
        (name = "desk", description = "The call centre's desk: callers, filing for them, the call log"),
        (name = "photos", description = "tus 1.0 photo uploads, derivatives and originals"),
        (name = "integrity", description = "The anonymous integrity channel (docs/integrity.md)"),
        (name = "gis", description = "Public task data: GeoJSON and OGC API - Features"),
        (name = "outbox", description = "Notifications and routing jobs given up after their retries"),
        (name = "push", description = "A device's push registration: how a phone in a pocket is woken (no task content goes through a provider)"),
        (name = "pages", description = "Web pages"),
        (name = "meta", description = "This document"),
        (name = "admin", description = "Administration: services, districts, crews, users, contractors' schedules, Open311 keys, the staff audit log"),
        (name = "penalties", description = "Contractors' penalties: proposals, decisions, appeals, statements"),
        (name = "roster", description = "Crews' shift rosters and the coverage of urgent skills"),
    )
)]
pub struct ApiDoc;

/// The base document (no paths yet).
pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The finished document as JSON, handed to [`openapi_json`] by an extension layer.
#[derive(Clone)]
pub struct Document(pub Arc<str>);

impl Document {
    /// Serialises the document once.
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Document {
        // Serialising plain data cannot fail; an empty object would still be JSON.
        Document(Arc::from(doc.to_json().unwrap_or_else(|_| "{}".to_owned())))
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    let mut resp = doc.0.to_string().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
