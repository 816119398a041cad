//! The integrity channel's HTTP routes, mounted under `/integrity` **outside** the
//! server's request tracing: nothing here logs or stores an address, a user agent, a
//! referrer or a cookie. Cookie, Referer and User-Agent are removed from each request
//! before any handler runs; the client address is used only to draw a rate-limit decision
//! (under a short-lived keyed hash) and is never passed on. Every response is
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer`, with a strict CSP and no
//! cookie. The handlers read the body and the client, and hand them to
//! [`crate::domain::integrity::intake`], which decides. A report is admitted from its
//! headers (proof of work in `X-Integrity-Pow`, rate limits) before its body is read.
//!
//! These routes are deliberately not counted in the request metrics: a per-route counter
//! of `…/reports` answers would date each report to the scrape interval and undo the
//! hour-rounding of stored times.
//!
//! | route | |
//! | --- | --- |
//! | `GET /integrity` | the reporting page (and `app.js`, `pow.js`, `style.css`); with no category configured, `503` and a page saying the channel is not configured (`off.js`) |
//! | `GET /integrity/i18n/{file}` | the shared translation script and catalogues, served here so the page's requests stay on this router |
//! | `GET /integrity/api/config` | categories, proof-of-work bits, limits |
//! | `POST /integrity/api/reports` | make a report → `201 {receipt_code, expires_at}` |
//! | `POST /integrity/api/case` | `{receipt_code}` → the case's status and messages |
//! | `POST /integrity/api/case/messages` | `{receipt_code, text}` → write back |

use crate::base::time::now_millis;
use crate::domain::integrity::intake::ReportForm;
use crate::domain::integrity::pow;
use crate::domain::integrity::ratelimit::Client;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::fallback;
use crate::http::openapi::{ErrorBody, RateLimited};
use crate::http::pages::integrity as page;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The Content-Security-Policy of every integrity response: this origin's own script and
/// style only, no inline code, no frames, no other origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Bodies of the follow-up routes are small.
const SMALL_BODY: usize = 256 * 1024;

/// Where [`router`] is nested.
pub const PREFIX: &str = "/integrity";

/// The integrity routes, with their own layers, ready to nest under [`PREFIX`] (paths in
/// the returned document are relative to it; `app::router` nests both).
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let limited = |limit: usize, r: OpenApiRouter<AppState>| r.layer(DefaultBodyLimit::max(limit));
    let (router, doc) = OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(app_js))
        .routes(routes!(pow_js))
        .routes(routes!(off_js))
        .routes(routes!(style_css))
        .routes(routes!(i18n_file))
        .routes(routes!(config))
        // The report route reads its body itself, after admission, up to its limit.
        .routes(routes!(report))
        .merge(limited(
            SMALL_BODY,
            OpenApiRouter::new().routes(routes!(read_case)),
        ))
        .merge(limited(
            SMALL_BODY,
            OpenApiRouter::new().routes(routes!(write_back)),
        ))
        .split_for_parts();
    let router = router
        .fallback(fallback::no_route)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(axum::middleware::from_fn(privacy))
        .with_state(state);
    (router, doc)
}

/// Strips identifying request headers before anything sees them, and sets the privacy
/// headers on every response (errors included).
async fn privacy(mut req: Request, next: Next) -> Response {
    for h in [header::COOKIE, header::REFERER, header::USER_AGENT] {
        req.headers_mut().remove(h);
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.remove(header::SET_COOKIE);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The client a request is rate-limited as ([`crate::http::client`]: the last
/// `X-Forwarded-For` entry when the server's `trusted_proxy` is on — the setting every
/// per-client limit shares — else the socket's peer). Only the rate limiter reads it.
fn client(
    s: &AppState,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Client {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    Client::at(crate::http::client::client_ip(
        headers,
        peer,
        s.config.trusted_proxy,
    ))
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match body {
        Ok(Json(v)) => Ok(v),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge(
            "the request is larger than this server accepts".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The reporting page
#[utoipa::path(get, path = "/", tag = "integrity",
    responses(
        (status = 200, description = "The reporting page", content_type = "text/html", body = String),
        (status = 503, description = "No category is configured: a page that says the channel is not configured", content_type = "text/html", body = String),
    ))]
async fn index(State(s): State<AppState>) -> Response {
    if s.integrity.enabled() {
        asset("text/html; charset=utf-8", page::INDEX_HTML)
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            asset("text/html; charset=utf-8", page::OFF_HTML),
        )
            .into_response()
    }
}

/// The script of the page shown when the channel is not configured
#[utoipa::path(get, path = "/off.js", tag = "integrity",
    responses((status = 200, description = "The language switch of the not-configured page", content_type = "text/javascript", body = String)))]
async fn off_js() -> Response {
    asset("text/javascript; charset=utf-8", page::OFF_JS)
}

/// The page's script
#[utoipa::path(get, path = "/app.js", tag = "integrity",
    responses((status = 200, description = "The page's script", content_type = "text/javascript", body = String)))]
async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", page::APP_JS)
}

/// The proof-of-work script
#[utoipa::path(get, path = "/pow.js", tag = "integrity",
    responses((status = 200, description = "The proof-of-work script", content_type = "text/javascript", body = String)))]
async fn pow_js() -> Response {
    asset("text/javascript; charset=utf-8", page::POW_JS)
}

/// The shared translation script and catalogues (the same bytes as `/i18n/{file}`)
#[utoipa::path(get, path = "/i18n/{file}", tag = "integrity",
    params(("file" = String, Path, description = "`i18n.js`, `fa.json` or `en.json`")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
async fn i18n_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    crate::http::pages::i18n::serve(&file)
}

/// The page's style sheet
#[utoipa::path(get, path = "/style.css", tag = "integrity",
    responses((status = 200, description = "The page's style sheet", content_type = "text/css", body = String)))]
async fn style_css() -> Response {
    asset("text/css; charset=utf-8", page::STYLE_CSS)
}

/// The channel's settings for the page.
#[utoipa::path(get, path = "/api/config", tag = "integrity",
    responses((status = 200, description = "`{enabled, categories: [{code, name}], pow_bits, max_text_chars, max_attachments, max_attachment_bytes, receipt_ttl_days}`", body = Object)))]
async fn config(State(s): State<AppState>) -> Response {
    Json(s.integrity.page_settings()).into_response()
}

/// Makes a report. The proof of work travels in the `X-Integrity-Pow` header
/// (`1:<minute>:<salt>:<nonce>`), checked with the rate limits before the body is read.
#[utoipa::path(post, path = "/api/reports", tag = "integrity", request_body = ReportForm,
    params(("X-Integrity-Pow" = String, Header, description = "The proof of work, `1:<minute>:<salt>:<nonce>` (the reporting page computes it)")),
    responses(
        (status = 201, description = "`{receipt_code, expires_at, message}`: the code is shown once", body = Object),
        (status = 400, description = "Bad input, or proof of work missing/malformed", body = ErrorBody),
        (status = 403, description = "Proof of work insufficient, stale or replayed", body = ErrorBody),
        (status = 413, description = "Over a size limit", body = ErrorBody),
        (status = 422, description = "An attachment is not a JPEG/PNG/WebP or does not decode", body = ErrorBody),
        RateLimited,
        (status = 503, description = "`not_configured`: no category is configured on this server; `busy`: too many reports in flight", body = ErrorBody),
    ))]
async fn report(
    State(s): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Body,
) -> Result<Response, ApiError> {
    let now = now_millis();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let pow = headers.get(pow::HEADER).and_then(|v| v.to_str().ok());
    let admitted = match s
        .integrity
        .admit_report(&client(&s, &headers, peer), declared, pow, now)
    {
        Ok(a) => a,
        Err(e) => return Ok(closing(ApiError::from(e).into_response())),
    };
    let body = match axum::body::to_bytes(body, admitted.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return Ok(closing(
                ApiError::PayloadTooLarge(
                    "the request is larger than this server accepts, or was cut short".into(),
                )
                .into_response(),
            ));
        }
    };
    let receipt = s.integrity.take_report(&s.db, admitted, body, now).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "receipt_code": receipt.code.as_str(),
            "expires_at": receipt.expires_at,
            "message": "Write this code down now: it is shown only once, and it is the only way to follow up your report.",
        })),
    )
        .into_response())
}

/// A refusal sent before the request's body was read (or while it was): the connection
/// cannot carry another request, so the client is told to close it, rather than finding
/// out when its next request on it fails (hyper closes it either way).
fn closing(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeIn {
    receipt_code: String,
}

/// Reads a case with its receipt code.
#[utoipa::path(post, path = "/api/case", tag = "integrity", request_body = CodeIn,
    responses(
        (status = 200, description = "`{status, expires_at, messages}`", body = Object),
        (status = 400, description = "Malformed body or code", body = ErrorBody),
        (status = 404, description = "Wrong, unknown or expired code (same bytes for each)", body = ErrorBody),
        RateLimited,
    ))]
async fn read_case(
    State(s): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<CodeIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let r = json_body(body)?;
    let thread = s
        .integrity
        .read_case(
            &s.db,
            &client(&s, &headers, peer),
            &r.receipt_code,
            now_millis(),
        )
        .await?;
    Ok(Json(thread).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WriteBackIn {
    receipt_code: String,
    text: String,
}

/// Writes back to the investigators.
#[utoipa::path(post, path = "/api/case/messages", tag = "integrity", request_body = WriteBackIn,
    responses(
        (status = 201, description = "`{seq}`", body = Object),
        (status = 400, description = "Malformed body or code", body = ErrorBody),
        (status = 404, description = "Wrong, unknown or expired code", body = ErrorBody),
        (status = 413, description = "Over a size limit", body = ErrorBody),
        RateLimited,
    ))]
async fn write_back(
    State(s): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<WriteBackIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let r = json_body(body)?;
    let seq = s
        .integrity
        .write_back_on(
            &s.db,
            &client(&s, &headers, peer),
            &r.receipt_code,
            &r.text,
            now_millis(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "seq": seq }))).into_response())
}
