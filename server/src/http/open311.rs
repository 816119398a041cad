//! Open311 GeoReport v2 under `/open311/v2/` (thin handlers over [`crate::domain::open311`]).
//!
//! Every resource exists as `.xml` and `.json`; the suffix picks the format of the
//! answer and of its error body (`<errors><error><code/><description/></error></errors>`
//! or `[{"code":…,"description":…}]`). Resources named by an id take it with the suffix
//! in one path segment (`services/pothole.json`, `requests/T-0123ABCD4567.xml`,
//! `tokens/<token>.json`). POSTs take `application/x-www-form-urlencoded` or
//! `multipart/form-data` (with `media[]` files) and need an `api_key`; GETs are public.

use crate::domain::open311::format::{Format, Node};
use crate::domain::open311::{
    self, Open311Error, Params, discovery, query, requests, services, updates,
};
use crate::http::AppState;
use crate::http::error::open311_status;
use crate::http::extract::PublicBase;
use crate::http::openapi::{
    Open311BadInput, Open311NoSuchRequest, Open311TooLarge, Open311WrongKey,
};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest form body (everything but media files), bytes.
const MAX_FORM_BYTES: usize = 256 * 1024;
/// Most multipart fields.
const MAX_FIELDS: usize = 200;

/// The Open311 routes.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let body_limit =
        usize::try_from(state.config.limits.open311_max_body_bytes).unwrap_or(usize::MAX);
    OpenApiRouter::new()
        .routes(routes!(discovery_xml))
        .routes(routes!(discovery_json))
        .routes(routes!(services_xml))
        .routes(routes!(services_json))
        .routes(routes!(service_definition))
        .routes(routes!(get_requests_xml, post_requests_xml))
        .routes(routes!(get_requests_json, post_requests_json))
        .routes(routes!(get_request))
        .routes(routes!(support_xml))
        .routes(routes!(support_json))
        .routes(routes!(token))
        .routes(routes!(get_updates_xml, post_updates_xml))
        .routes(routes!(get_updates_json, post_updates_json))
        // The whole body is bounded here (multipart reads stop at it: 413); fields and
        // files are bounded again by the handlers (413 with the spec's body).
        .layer(DefaultBodyLimit::max(body_limit))
}

fn answer(r: Result<Node, Open311Error>, format: Format, root: &str, ok: StatusCode) -> Response {
    match r {
        Ok(n) => respond(&n, format, root, ok),
        Err(e) => respond_error(e, format),
    }
}

fn query_params(req_query: Option<&str>) -> Result<Params, Open311Error> {
    open311::parse_params(req_query.unwrap_or(""))
}

/// Query parameters, then the body's (form or multipart), and the media files.
async fn post_params(
    state: &AppState,
    req: Request,
) -> Result<(Params, Vec<Vec<u8>>), Open311Error> {
    let mut params = query_params(req.uri().query())?;
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut media = Vec::new();
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, state).await.map_err(|e| {
            Open311Error::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        })?;
        let max_media = state.config.open311.max_media_bytes;
        let max_files = state.config.open311.max_media_files;
        let mut fields = 0;
        let mut files = 0;
        let mut key_checked = false;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(multipart_error(e)),
            };
            fields += 1;
            if fields > MAX_FIELDS {
                return Err(Open311Error::BadRequest(format!(
                    "at most {MAX_FIELDS} fields"
                )));
            }
            let name = field.name().unwrap_or("").to_owned();
            let is_media = name == "media" || name == "media[]";
            if is_media {
                // Refused as the stream arrives, before a file is read: a request without
                // a valid key, or with too many files, costs the server one field header.
                if !key_checked {
                    open311::require_key(&state.db, &params)
                        .await
                        .map_err(|e| match e {
                            Open311Error::Forbidden(m) => Open311Error::Forbidden(format!(
                                "{m} (send api_key in the query or as a field before media[])"
                            )),
                            other => other,
                        })?;
                    key_checked = true;
                }
                files += 1;
                if files > max_files {
                    return Err(Open311Error::BadRequest(format!(
                        "at most {max_files} media files per request"
                    )));
                }
            }
            let limit = if is_media {
                max_media as usize
            } else {
                MAX_FORM_BYTES
            };
            let mut field = field;
            let mut bytes = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(c)) => {
                        if bytes.len() + c.len() > limit {
                            return Err(Open311Error::TooLarge(if is_media {
                                format!("a media file is at most {max_media} bytes")
                            } else {
                                format!("field {name:?} is over {MAX_FORM_BYTES} bytes")
                            }));
                        }
                        bytes.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(multipart_error(e)),
                }
            }
            if is_media {
                if !bytes.is_empty() {
                    media.push(bytes);
                }
            } else {
                let text = String::from_utf8(bytes).map_err(|_| {
                    Open311Error::BadRequest(format!("field {name:?} is not UTF-8 text"))
                })?;
                params.push((name, text));
            }
        }
    } else if ctype.is_empty() || ctype.starts_with("application/x-www-form-urlencoded") {
        let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                Open311Error::TooLarge(format!("a form body is at most {MAX_FORM_BYTES} bytes"))
            })?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| Open311Error::BadRequest("the form body is not UTF-8".into()))?;
        params.extend(open311::parse_params(text)?);
    } else {
        return Err(Open311Error::BadRequest(
            "send application/x-www-form-urlencoded or multipart/form-data".into(),
        ));
    }
    Ok((params, media))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> Open311Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Open311Error::TooLarge(format!("the body is too large: {}", e.body_text()))
    } else {
        Open311Error::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Service discovery (XML).
#[utoipa::path(get, path = "/open311/v2/discovery.xml", tag = "open311",
    responses((status = 200, description = "Open311 service discovery", content_type = "text/xml")))]
pub async fn discovery_xml(PublicBase(base): PublicBase) -> Response {
    let node = discovery::discovery(&base);
    respond(&node, Format::Xml, "discovery", StatusCode::OK)
}

/// Service discovery (JSON).
#[utoipa::path(get, path = "/open311/v2/discovery.json", tag = "open311",
    responses((status = 200, description = "Open311 service discovery", content_type = "application/json")))]
pub async fn discovery_json(PublicBase(base): PublicBase) -> Response {
    let node = discovery::discovery(&base);
    respond(&node, Format::Json, "discovery", StatusCode::OK)
}

/// The service list (XML).
#[utoipa::path(get, path = "/open311/v2/services.xml", tag = "open311",
    responses((status = 200, description = "`<services><service>…`", content_type = "text/xml")))]
pub async fn services_xml(State(state): State<AppState>) -> Response {
    answer(
        services::list(&state.db).await.map_err(Into::into),
        Format::Xml,
        "services",
        StatusCode::OK,
    )
}

/// The service list (JSON).
#[utoipa::path(get, path = "/open311/v2/services.json", tag = "open311",
    responses((status = 200, description = "A list of services", content_type = "application/json")))]
pub async fn services_json(State(state): State<AppState>) -> Response {
    answer(
        services::list(&state.db).await.map_err(Into::into),
        Format::Json,
        "services",
        StatusCode::OK,
    )
}

/// A service definition: `services/{code}.xml` or `.json`.
#[utoipa::path(get, path = "/open311/v2/services/{file}", tag = "open311",
    params(("file" = String, Path, description = "the service code and the format, e.g. `pothole.json`")),
    responses(
        (status = 200, description = "`service_definition` with its attributes"),
        (status = 404, description = "no such service, or no `.xml`/`.json` suffix (spec error body)")))]
pub async fn service_definition(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Response {
    let Some((code, format)) = Format::split(&file) else {
        return respond_error(
            Open311Error::NotFound("use services/<code>.xml or .json".into()),
            Format::Xml,
        );
    };
    answer(
        services::definition(&state.db, code).await,
        format,
        "service_definition",
        StatusCode::OK,
    )
}

async fn get_requests(state: AppState, base: &str, req: Request, format: Format) -> Response {
    let r = match query_params(req.uri().query()) {
        Ok(p) => query::requests(&state.citizens(), &p, base).await,
        Err(e) => Err(e),
    };
    answer(r, format, "service_requests", StatusCode::OK)
}

async fn post_requests(state: AppState, req: Request, format: Format) -> Response {
    let r = match post_params(&state, req).await {
        Ok((p, media)) => requests::file(&state.citizens(), &p, media).await,
        Err(e) => Err(e),
    };
    answer(r, format, "service_requests", StatusCode::CREATED)
}

/// Requests (XML): filters `service_request_id`, `service_code`, `start_date`, `end_date`,
/// `status`, `updated_after`, `updated_before`, `page`, `page_size`, `extensions`, `lat`,
/// `long`, `radius`.
#[utoipa::path(get, path = "/open311/v2/requests.xml", tag = "open311",
    responses((status = 200, description = "`<service_requests><request>…`", content_type = "text/xml"),
        (status = 400, description = "a bad filter (spec error body)")))]
pub async fn get_requests_xml(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    req: Request,
) -> Response {
    get_requests(state, &base, req, Format::Xml).await
}

/// Requests (JSON); the same filters as the XML form.
#[utoipa::path(get, path = "/open311/v2/requests.json", tag = "open311",
    responses((status = 200, description = "A list of requests", content_type = "application/json"),
        (status = 400, description = "a bad filter (spec error body)")))]
pub async fn get_requests_json(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    req: Request,
) -> Response {
    get_requests(state, &base, req, Format::Json).await
}

/// File a request (XML answer): form or multipart with `media[]`; needs `api_key`.
#[utoipa::path(post, path = "/open311/v2/requests.xml", tag = "open311",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "api_key, service_code, lat, long, description, attribute[code], media_url, contact fields; or multipart/form-data with media[] files"),
    responses((status = 201, description = "`service_request_id`, `token`, `tracking_code`, `duplicates`", content_type = "text/xml"),
        Open311BadInput,
        Open311WrongKey,
        Open311TooLarge))]
pub async fn post_requests_xml(State(state): State<AppState>, req: Request) -> Response {
    post_requests(state, req, Format::Xml).await
}

/// File a request (JSON answer); as the XML form.
#[utoipa::path(post, path = "/open311/v2/requests.json", tag = "open311",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "api_key, service_code, lat, long, description, attribute[code], media_url, contact fields; or multipart/form-data with media[] files"),
    responses((status = 201, description = "`service_request_id`, `token`, `tracking_code`, `duplicates`", content_type = "application/json"),
        Open311BadInput,
        Open311WrongKey,
        Open311TooLarge))]
pub async fn post_requests_json(State(state): State<AppState>, req: Request) -> Response {
    post_requests(state, req, Format::Json).await
}

/// One request: `requests/{id}.xml` or `.json` (a one-element list).
#[utoipa::path(get, path = "/open311/v2/requests/{id}", tag = "open311",
    params(("id" = String, Path, description = "the service_request_id and the format, e.g. `T-0123ABCD4567.json` (one path segment)")),
    responses((status = 200, description = "a one-element list"),
        Open311NoSuchRequest))]
pub async fn get_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    PublicBase(base): PublicBase,
    req: Request,
) -> Response {
    let Some((id, format)) = Format::split(&file) else {
        return respond_error(
            Open311Error::NotFound("use requests/<id>.xml or .json".into()),
            Format::Xml,
        );
    };
    let r = match query_params(req.uri().query()) {
        Ok(p) => query::one(&state.citizens(), id, &p, &base).await,
        Err(e) => Err(e),
    };
    answer(r, format, "service_requests", StatusCode::OK)
}

async fn support(state: AppState, id: String, req: Request, format: Format) -> Response {
    let r = match post_params(&state, req).await {
        Ok((p, _)) => requests::support(&state.citizens(), &id, &p).await,
        Err(e) => Err(e),
    };
    answer(r, format, "service_requests", StatusCode::CREATED)
}

/// Support an open request instead of filing a duplicate (XML): a supporter tracking code.
#[utoipa::path(post, path = "/open311/v2/requests/{id}/support.xml", tag = "open311",
    params(("id" = String, Path, description = "the service_request_id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "api_key and optional contact fields"),
    responses((status = 201, description = "`tracking_code` and `supporters`", content_type = "text/xml"),
        (status = 400, description = "the request is closed"), Open311WrongKey,
        Open311NoSuchRequest))]
pub async fn support_xml(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    support(state, id, req, Format::Xml).await
}

/// Support an open request instead of filing a duplicate (JSON).
#[utoipa::path(post, path = "/open311/v2/requests/{id}/support.json", tag = "open311",
    params(("id" = String, Path, description = "the service_request_id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "api_key and optional contact fields"),
    responses((status = 201, description = "`tracking_code` and `supporters`", content_type = "application/json"),
        (status = 400, description = "the request is closed"), Open311WrongKey,
        Open311NoSuchRequest))]
pub async fn support_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    support(state, id, req, Format::Json).await
}

/// The request a token stands for: `tokens/{token}.xml` or `.json`.
#[utoipa::path(get, path = "/open311/v2/tokens/{file}", tag = "open311",
    params(("file" = String, Path, description = "the token and the format, e.g. `5f2c….json`")),
    responses((status = 200, description = "`service_request_id` and `token`"),
        (status = 404, description = "no such token (spec error body)")))]
pub async fn token(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((t, format)) = Format::split(&file) else {
        return respond_error(
            Open311Error::NotFound("use tokens/<token>.xml or .json".into()),
            Format::Xml,
        );
    };
    answer(
        requests::token(&state.db, t).await,
        format,
        "service_requests",
        StatusCode::OK,
    )
}

async fn get_updates(state: AppState, base: &str, req: Request, format: Format) -> Response {
    let r = match query_params(req.uri().query()) {
        Ok(p) => updates::list(&state.citizens(), &p, base).await,
        Err(e) => Err(e),
    };
    answer(r, format, "service_requests_updates", StatusCode::OK)
}

async fn post_updates(state: AppState, req: Request, format: Format) -> Response {
    let r = match post_params(&state, req).await {
        Ok((p, _)) => updates::post(&state.citizens(), &p).await,
        Err(e) => Err(e),
    };
    answer(r, format, "service_request_updates", StatusCode::OK)
}

/// FixMyStreet's updates list (XML): `start_date`, `end_date`.
#[utoipa::path(get, path = "/open311/v2/servicerequestupdates.xml", tag = "open311",
    responses((status = 200, description = "`<service_requests_updates><request_update>…`", content_type = "text/xml"),
        (status = 400, description = "bad dates (spec error body)")))]
pub async fn get_updates_xml(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    req: Request,
) -> Response {
    get_updates(state, &base, req, Format::Xml).await
}

/// FixMyStreet's updates list (JSON).
#[utoipa::path(get, path = "/open311/v2/servicerequestupdates.json", tag = "open311",
    responses((status = 200, description = "A list of request updates", content_type = "application/json"),
        (status = 400, description = "bad dates (spec error body)")))]
pub async fn get_updates_json(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    req: Request,
) -> Response {
    get_updates(state, &base, req, Format::Json).await
}

/// A citizen's update (XML answer): `api_key`, `service_request_id`, `description`,
/// optional `status`, `media_url`, `update_id_ext` and contact fields.
#[utoipa::path(post, path = "/open311/v2/servicerequestupdates.xml", tag = "open311",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "FixMyStreet's update fields"),
    responses((status = 200, description = "`<service_request_updates><request_update><update_id>`", content_type = "text/xml"),
        Open311BadInput, Open311WrongKey,
        Open311NoSuchRequest))]
pub async fn post_updates_xml(State(state): State<AppState>, req: Request) -> Response {
    post_updates(state, req, Format::Xml).await
}

/// A citizen's update (JSON answer).
#[utoipa::path(post, path = "/open311/v2/servicerequestupdates.json", tag = "open311",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "FixMyStreet's update fields"),
    responses((status = 200, description = "`[{\"update_id\": …}]`", content_type = "application/json"),
        Open311BadInput, Open311WrongKey,
        Open311NoSuchRequest))]
pub async fn post_updates_json(State(state): State<AppState>, req: Request) -> Response {
    post_updates(state, req, Format::Json).await
}

/// A response with `node` as its body in `format` (`root` names the XML root element).
fn respond(node: &Node, format: Format, root: &str, status: StatusCode) -> Response {
    let mut r = (status, node.render(format, root)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r
}

/// The spec's error body in `format`, with its status ([`open311_status`]).
fn respond_error(e: Open311Error, format: Format) -> Response {
    let status = open311_status(&e);
    let description = match e {
        Open311Error::Internal(m) => {
            tracing::error!(error = %m, "Open311 internal error");
            "internal server error".to_owned()
        }
        other => other.to_string(),
    };
    respond(
        &Node::error(status.as_u16(), description),
        format,
        "errors",
        status,
    )
}
