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

use crate::base::time::now_millis;
use crate::domain::gis::{self, Bbox, PublicTask, RawFilter, TaskFilter};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorBody;
use crate::storage::DistrictStore;
use crate::storage::gis as store;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use geo::BoundingRect;
use serde::Deserialize;
use serde_json::{Value, json};
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

const GEOJSON: &str = "application/geo+json";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
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

/// `http://host` as the client addressed us, for absolute links (GDAL follows them).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    format!("{}://{host}", if https { "https" } else { "http" })
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn link(href: String, rel: &str, ty: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": ty, "title": title})
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

/// A page as a FeatureCollection with OGC paging links.
fn collection_page(
    base: &str,
    path: &str,
    q: &ItemsQuery,
    f: &TaskFilter,
    features: Vec<Value>,
    matched: u64,
) -> Value {
    let url = |offset: u64| {
        let mut parts = vec!["f=json".to_owned(), format!("limit={}", f.limit)];
        for (k, v) in [
            ("bbox", &q.bbox),
            ("datetime", &q.datetime),
            ("status", &q.status),
            ("category", &q.category),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", encode(v)));
            }
        }
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        format!("{base}{path}?{}", parts.join("&"))
    };
    let returned = features.len() as u64;
    let mut links = vec![link(url(f.offset), "self", GEOJSON, "this page")];
    if f.offset + returned < matched && returned > 0 {
        links.push(link(url(f.offset + returned), "next", GEOJSON, "next page"));
    }
    if f.offset > 0 {
        links.push(link(
            url(f.offset.saturating_sub(u64::from(f.limit))),
            "prev",
            GEOJSON,
            "previous page",
        ));
    }
    json!({
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": gis::rfc3339(now_millis()),
        "links": links,
    })
}

async fn task_page(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    q: &ItemsQuery,
    default_limit: u32,
) -> Result<Response, ApiError> {
    check_format(q.f.as_deref())?;
    let f = TaskFilter::parse(&q.raw(), default_limit)?;
    let page = store::tasks(&state.db, &f).await?;
    let features = page.tasks.iter().map(PublicTask::feature).collect();
    let body = collection_page(&base_url(headers), path, q, &f, features, page.matched);
    Ok(json_answer(&body, GEOJSON))
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
    headers: HeaderMap,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    task_page(
        &state,
        &headers,
        "/api/v1/gis/tasks.geojson",
        &q,
        DOWNLOAD_LIMIT,
    )
    .await
}

/// `GET /ogc`: the landing page.
#[utoipa::path(get, path = "/ogc", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "OGC API landing page", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
    ))]
pub async fn landing(
    headers: HeaderMap,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let b = base_url(&headers);
    let body = json!({
        "title": "Tarmim: citizen requests",
        "description": "The city's citizen requests (public fields only) and its districts, \
                        as OGC API - Features.",
        "links": [
            link(format!("{b}/ogc"), "self", "application/json", "this document"),
            link(format!("{b}{}", crate::http::openapi::PATH), "service-desc",
                 crate::http::openapi::MEDIA_TYPE, "the API definition (OpenAPI)"),
            link(format!("{b}/ogc/conformance"), "conformance", "application/json",
                 "conformance classes"),
            link(format!("{b}/ogc/collections"), "data", "application/json", "the collections"),
        ],
    });
    Ok(json_answer(&body, "application/json"))
}

/// `GET /ogc/conformance`.
#[utoipa::path(get, path = "/ogc/conformance", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The conformance classes implemented", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
    ))]
pub async fn conformance(
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = json!({"conformsTo": [
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    ]});
    Ok(json_answer(&body, "application/json"))
}

async fn tasks_meta(state: &AppState, b: &str) -> Result<Value, ApiError> {
    let mut c = json!({
        "id": "tasks",
        "title": "Citizen requests",
        "description": "Every task (citizen request) as a point: service, status, priority, \
                        district, title and times. Public fields only: no crew, no reporter, \
                        no tracking code, no notes.",
        "links": [
            link(format!("{b}/ogc/collections/tasks"), "self", "application/json", "this collection"),
            link(format!("{b}/ogc/collections/tasks/items"), "items", GEOJSON, "the tasks"),
        ],
        "itemType": "feature",
        "crs": [CRS84],
    });
    if let Some((w, s, e, n, first, last)) = store::extent(&state.db).await? {
        c["extent"] = json!({
            "spatial": {"bbox": [[w, s, e, n]], "crs": CRS84},
            "temporal": {
                "interval": [[gis::rfc3339(first), gis::rfc3339(last)]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            },
        });
    }
    Ok(c)
}

async fn districts_meta(state: &AppState, b: &str) -> Result<Value, ApiError> {
    let mut c = json!({
        "id": "districts",
        "title": "Districts",
        "description": "The districts requests are routed to (code, name, region).",
        "links": [
            link(format!("{b}/ogc/collections/districts"), "self", "application/json", "this collection"),
            link(format!("{b}/ogc/collections/districts/items"), "items", GEOJSON, "the districts"),
        ],
        "itemType": "feature",
        "crs": [CRS84],
    });
    let all = state.db.districts().await?;
    let rects: Vec<_> = all
        .iter()
        .filter_map(|d| d.geometry.bounding_rect())
        .collect();
    if let Some(first) = rects.first() {
        let (mut w, mut s, mut e, mut n) =
            (first.min().x, first.min().y, first.max().x, first.max().y);
        for r in &rects {
            w = w.min(r.min().x);
            s = s.min(r.min().y);
            e = e.max(r.max().x);
            n = n.max(r.max().y);
        }
        c["extent"] = json!({"spatial": {"bbox": [[w, s, e, n]], "crs": CRS84}});
    }
    Ok(c)
}

/// `GET /ogc/collections`.
#[utoipa::path(get, path = "/ogc/collections", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The collections: `tasks`, `districts`", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
    ))]
pub async fn collections(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let b = base_url(&headers);
    let body = json!({
        "links": [link(format!("{b}/ogc/collections"), "self", "application/json", "this document")],
        "collections": [tasks_meta(&state, &b).await?, districts_meta(&state, &b).await?],
    });
    Ok(json_answer(&body, "application/json"))
}

/// `GET /ogc/collections/tasks`.
#[utoipa::path(get, path = "/ogc/collections/tasks", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The tasks collection with its extent", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
    ))]
pub async fn tasks_collection(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = tasks_meta(&state, &base_url(&headers)).await?;
    Ok(json_answer(&body, "application/json"))
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
    headers: HeaderMap,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    task_page(
        &state,
        &headers,
        "/ogc/collections/tasks/items",
        &q,
        gis::DEFAULT_LIMIT,
    )
    .await
}

/// `GET /ogc/collections/tasks/items/{featureId}`.
#[utoipa::path(get, path = "/ogc/collections/tasks/items/{featureId}", tag = "gis",
    params(("featureId" = String, Path, description = "Task id"), FormatQuery),
    responses(
        (status = 200, description = "One task as a GeoJSON Feature", content_type = "application/geo+json", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
pub async fn tasks_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let task = store::task(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task {id:?}")))?;
    let b = base_url(&headers);
    let mut body = task.feature();
    body["links"] = json!([
        link(
            format!("{b}/ogc/collections/tasks/items/{}", encode(&id)),
            "self",
            GEOJSON,
            "this feature"
        ),
        link(
            format!("{b}/ogc/collections/tasks"),
            "collection",
            "application/json",
            "the collection"
        ),
    ]);
    Ok(json_answer(&body, GEOJSON))
}

/// `GET /ogc/collections/districts`.
#[utoipa::path(get, path = "/ogc/collections/districts", tag = "gis",
    params(FormatQuery),
    responses(
        (status = 200, description = "The districts collection with its extent", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
    ))]
pub async fn districts_collection(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let body = districts_meta(&state, &base_url(&headers)).await?;
    Ok(json_answer(&body, "application/json"))
}

fn district_feature(d: &crate::storage::StoredDistrict) -> Value {
    crate::domain::geo::feature(d)
}

fn intersects(d: &crate::storage::StoredDistrict, b: &Bbox) -> bool {
    d.geometry.bounding_rect().is_some_and(|r| {
        b.parts().iter().any(|p| {
            r.min().x <= p.max_lon
                && r.max().x >= p.min_lon
                && r.min().y <= p.max_lat
                && r.max().y >= p.min_lat
        })
    })
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
    headers: HeaderMap,
    q: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    check_format(q.f.as_deref())?;
    let f = TaskFilter::parse(&q.raw(), gis::DEFAULT_LIMIT)?;
    let all = state.db.districts().await?;
    let matching: Vec<_> = all
        .iter()
        .filter(|d| f.datetime.is_none() && f.bbox.is_none_or(|b| intersects(d, &b)))
        .collect();
    let features = matching
        .iter()
        .skip(usize::try_from(f.offset).unwrap_or(usize::MAX))
        .take(f.limit as usize)
        .map(|d| district_feature(d))
        .collect();
    let body = collection_page(
        &base_url(&headers),
        "/ogc/collections/districts/items",
        &q,
        &f,
        features,
        matching.len() as u64,
    );
    Ok(json_answer(&body, GEOJSON))
}

/// `GET /ogc/collections/districts/items/{featureId}`.
#[utoipa::path(get, path = "/ogc/collections/districts/items/{featureId}", tag = "gis",
    params(("featureId" = String, Path, description = "District code"), FormatQuery),
    responses(
        (status = 200, description = "One district as a GeoJSON Feature", content_type = "application/geo+json", body = Object),
        (status = 400, description = "An unknown f", body = ErrorBody),
        (status = 404, description = "No such district", body = ErrorBody),
    ))]
pub async fn districts_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    check_format(query(q)?.f.as_deref())?;
    let all = state.db.districts().await?;
    let d = all
        .iter()
        .find(|d| d.code == code)
        .ok_or_else(|| ApiError::NotFound(format!("no district {code:?}")))?;
    let b = base_url(&headers);
    let mut body = district_feature(d);
    body["links"] = json!([
        link(
            format!("{b}/ogc/collections/districts/items/{}", encode(&code)),
            "self",
            GEOJSON,
            "this feature"
        ),
        link(
            format!("{b}/ogc/collections/districts"),
            "collection",
            "application/json",
            "the collection"
        ),
    ]);
    Ok(json_answer(&body, GEOJSON))
}
