//! Public GIS endpoints: tasks as a GeoJSON download and as an **OGC API – Features**
//! service (Part 1: Core and GeoJSON), so QGIS, GDAL/OGR and web maps open them directly.
//! No login; only public fields ([`crate::domain::gis`] says which); every page is bounded
//! (`limit` ≤ 10,000) and answers carry `Cache-Control: public, max-age=30`.
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/gis/tasks.geojson` | a FeatureCollection; `bbox`, `datetime`, `status`, `category`, `limit` (default 1,000), `offset` |
//! | `GET /ogc` | landing page: links to itself, the OpenAPI document, conformance, collections |
//! | `GET /ogc/conformance` | Core + GeoJSON conformance classes |
//! | `GET /ogc/collections` | `tasks` (points) and `districts` (polygons) |
//! | `GET /ogc/collections/{tasks,districts}` | one collection with its extent |
//! | `GET /ogc/collections/{…}/items` | features; `bbox`, `datetime`, `limit` (default 100), `offset`; `next`/`prev` links, `numberMatched`, `numberReturned`, `timeStamp` |
//! | `GET /ogc/collections/{…}/items/{featureId}` | one feature, 404 if unknown |
//!
//! Every answer is JSON (`f=json`, the default; `application/geo+json` for features);
//! another `f` is a 400. Bad parameters are 400 `{"error": "bad_request", "message"}`.
//!
//! The documents are [`crate::domain::gis::ogc`]'s; this module reads the query and the
//! server's public base URL ([`crate::base::public_url`], the same rule as Open311's),
//! and sets the content type and caching.

use crate::domain::gis::ogc::{GEOJSON, JSON, Ogc, ServiceDesc};
use crate::domain::gis::{self, RawFilter};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::PublicBase;
use crate::http::openapi::{ErrorBody, UnknownFormat};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The GIS routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tasks_geojson))
        .routes(routes!(landing))
        .routes(routes!(conformance))
        .routes(routes!(collections))
        .routes(routes!(tasks_collection))
        .routes(routes!(tasks_items))
        .routes(routes!(tasks_item))
        .routes(routes!(districts_collection))
        .routes(routes!(districts_items))
        .routes(routes!(districts_item))
}

/// The default page of the GeoJSON download.
const DOWNLOAD_LIMIT: u32 = 1_000;

/// Query parameters of the feature lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// `minLon,minLat,maxLon,maxLat` in WGS84 degrees (CRS84); west > east crosses the
    /// antimeridian.
    pub bbox: Option<String>,
    /// When the task was requested: an RFC 3339 instant, or `start/end` with `..` (or
    /// nothing) for an open end.
    pub datetime: Option<String>,
    /// Comma-separated: `open`, `closed` and/or detailed statuses (`queued`,
    /// `in_progress`, `completed`, …). Tasks only.
    pub status: Option<String>,
    /// Comma-separated service codes. Tasks only.
    pub category: Option<String>,
    /// Features per page, 1 to 10000.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
    /// Features skipped (the `next`/`prev` links carry it).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub offset: Option<String>,
    /// Output format: `json` (the default; `geojson` is the same).
    #[param(value_type = Option<Format>, inline)]
    pub f: Option<String>,
}

/// The output formats offered (`f`); any other is a 400.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types)] // A schema only: `f` is read as text.
pub enum Format {
    /// JSON (GeoJSON for features).
    json,
    /// The same.
    geojson,
}

/// Query parameters of the other OGC resources.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// Output format: `json` (the default; `geojson` is the same).
    #[param(value_type = Option<Format>, inline)]
    pub f: Option<String>,
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

fn check_format(f: Option<&str>) -> Result<(), ApiError> {
    match f {
        None | Some("json" | "geojson") => Ok(()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "f={other:?} is not offered; use f=json"
        ))),
    }
}

impl ItemsQuery {
    fn raw(&self) -> RawFilter {
        RawFilter {
            bbox: self.bbox.clone(),
            datetime: self.datetime.clone(),
            status: self.status.clone(),
            category: self.category.clone(),
            limit: self.limit.clone(),
            offset: self.offset.clone(),
        }
    }
}

fn json_answer(body: &Value, content_type: &'static str) -> Response {
    let mut resp = body.to_string().into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=30"),
    );
    resp
}

/// `GET /api/v1/gis/tasks.geojson`.
#[utoipa::path(get, path = "/api/v1/gis/tasks.geojson", tag = "gis",
    params(ItemsQuery),
    responses(
        (status = 200, description = "A GeoJSON FeatureCollection of tasks (public fields)", content_type = "application/geo+json", body = Object),
        (status = 400, description = "A bad bbox, datetime, status, limit, offset or f", body = ErrorBody),
    ))]
pub async fn tasks_geojson(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    check_format(q.f.as_deref())?;
    let page = Ogc::new(&state.db, &base)
        .task_items("/api/v1/gis/tasks.geojson", &q.raw(), DOWNLOAD_LIMIT)
        .await?;
    Ok(json_answer(&page, GEOJSON))
}

/// `GET /ogc`: the landing page.
#[utoipa::path(get, path = "/ogc", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "OGC API landing page", body = Object),
        UnknownFormat,
    ))]
pub async fn landing(
    PublicBase(base): PublicBase,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = Ogc::landing(
        &base,
        ServiceDesc {
            path: crate::http::openapi::PATH,
            media_type: crate::http::openapi::MEDIA_TYPE,
        },
    );
    Ok(json_answer(&body, JSON))
}

/// `GET /ogc/conformance`.
#[utoipa::path(get, path = "/ogc/conformance", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The conformance classes implemented", body = Object),
        UnknownFormat,
    ))]
pub async fn conformance(
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    Ok(json_answer(&Ogc::conformance(), JSON))
}

/// `GET /ogc/collections`.
#[utoipa::path(get, path = "/ogc/collections", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The collections: `tasks`, `districts`", body = Object),
        UnknownFormat,
    ))]
pub async fn collections(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = Ogc::new(&state.db, &base).collections().await?;
    Ok(json_answer(&body, JSON))
}

/// `GET /ogc/collections/tasks`.
#[utoipa::path(get, path = "/ogc/collections/tasks", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The tasks collection with its extent", body = Object),
        UnknownFormat,
    ))]
pub async fn tasks_collection(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = Ogc::new(&state.db, &base).tasks_collection().await?;
    Ok(json_answer(&body, JSON))
}

/// `GET /ogc/collections/tasks/items`.
#[utoipa::path(get, path = "/ogc/collections/tasks/items", tag = "gis",
    params(ItemsQuery),
    responses(
        (status = 200, description = "A page of tasks: FeatureCollection with `numberMatched`, `numberReturned`, `timeStamp` and `next`/`prev` links", content_type = "application/geo+json", body = Object),
        (status = 400, description = "A bad bbox, datetime, status, limit, offset or f", body = ErrorBody),
    ))]
pub async fn tasks_items(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    check_format(q.f.as_deref())?;
    let page = Ogc::new(&state.db, &base)
        .task_items("/ogc/collections/tasks/items", &q.raw(), gis::DEFAULT_LIMIT)
        .await?;
    Ok(json_answer(&page, GEOJSON))
}

/// `GET /ogc/collections/tasks/items/{featureId}`.
#[utoipa::path(get, path = "/ogc/collections/tasks/items/{featureId}", tag = "gis",
    params(("featureId" = String, Path, description = "Task id"), FormatQuery),
    responses(
        (status = 200, description = "One task as a GeoJSON Feature", content_type = "application/geo+json", body = Object),
        UnknownFormat,
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
pub async fn tasks_item(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = Ogc::new(&state.db, &base).task_item(&id).await?;
    Ok(json_answer(&body, GEOJSON))
}

/// `GET /ogc/collections/districts`.
#[utoipa::path(get, path = "/ogc/collections/districts", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The districts collection with its extent", body = Object),
        UnknownFormat,
    ))]
pub async fn districts_collection(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = Ogc::new(&state.db, &base).districts_collection().await?;
    Ok(json_answer(&body, JSON))
}

/// `GET /ogc/collections/districts/items`.
#[utoipa::path(get, path = "/ogc/collections/districts/items", tag = "gis",
    params(ItemsQuery),
    responses(
        (status = 200, description = "A page of districts (MultiPolygons); districts have no time, so any `datetime` matches none", content_type = "application/geo+json", body = Object),
        (status = 400, description = "A bad bbox, datetime, limit, offset or f", body = ErrorBody),
    ))]
pub async fn districts_items(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    check_format(q.f.as_deref())?;
    let page = Ogc::new(&state.db, &base).district_items(&q.raw()).await?;
    Ok(json_answer(&page, GEOJSON))
}

/// `GET /ogc/collections/districts/items/{featureId}`.
#[utoipa::path(get, path = "/ogc/collections/districts/items/{featureId}", tag = "gis",
    params(("featureId" = String, Path, description = "District code"), FormatQuery),
    responses(
        (status = 200, description = "One district as a GeoJSON Feature", content_type = "application/geo+json", body = Object),
        UnknownFormat,
        (status = 404, description = "No such district", body = ErrorBody),
    ))]
pub async fn districts_item(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    Path(code): Path<String>,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = Ogc::new(&state.db, &base).district_item(&code).await?;
    Ok(json_answer(&body, GEOJSON))
}
