//! The integrity channel's HTTP routes, mounted under `/integrity` **outside** the
//! server's request tracing: nothing here logs or stores an address, a user agent, a
//! referrer or a cookie. Cookie, Referer and User-Agent are removed from each request
//! before any handler runs; the client address is used only to draw a rate-limit decision
//! (under a short-lived keyed hash) and is never passed on. Every response is
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer`, with a strict CSP and no
//! cookie.
//!
//! | route | |
//! | --- | --- |
//! | `GET /integrity` | the reporting page (and `app.js`, `pow.js`, `style.css`) |
//! | `GET /integrity/api/config` | categories, proof-of-work bits, limits |
//! | `POST /integrity/api/reports` | make a report → `201 {receipt_code, expires_at}` |
//! | `POST /integrity/api/case` | `{receipt_code}` → the case's status and messages |
//! | `POST /integrity/api/case/messages` | `{receipt_code, text}` → write back |

use crate::app::AppState;
use crate::error::ApiError;
use crate::integrity::{NewAttachment, NewReport, page, ratelimit::Action, receipt::ReceiptCode};
use crate::telemetry;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};

/// The Content-Security-Policy of every integrity response: this origin's own script and
/// style only, no inline code, no frames, no other origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Bodies of the follow-up routes are small.
const SMALL_BODY: usize = 256 * 1024;

/// The integrity routes, with their own layers, ready to nest under `/integrity`.
pub fn router(state: AppState) -> Router {
    let report_limit = state.integrity.config.max_body_bytes();
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/pow.js", get(pow_js))
        .route("/style.css", get(style_css))
        .route("/api/config", get(config))
        .route(
            "/api/reports",
            post(report).layer(DefaultBodyLimit::max(report_limit)),
        )
        .route(
            "/api/case",
            post(read_case).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/api/case/messages",
            post(write_back).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn(telemetry::track_http))
        .layer(axum::middleware::from_fn(privacy))
        .with_state(state)
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

/// The address a client is rate-limited by: the last `X-Forwarded-For` entry when the
/// proxy is trusted, else the socket's peer. Used for one decision, then dropped.
fn client(
    trust_forwarded: bool,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Option<IpAddr> {
    if trust_forwarded {
        // The last entry is the one our proxy appended; earlier ones are the client's word.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|s| s.trim().parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
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

async fn index() -> Response {
    asset("text/html; charset=utf-8", page::INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", page::APP_JS)
}

async fn pow_js() -> Response {
    asset("text/javascript; charset=utf-8", page::POW_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", page::STYLE_CSS)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such integrity route".into())
}

async fn config(State(s): State<AppState>) -> Response {
    let c = &s.integrity.config;
    Json(json!({
        "enabled": s.integrity.enabled(),
        "categories": c.categories.iter().map(|c| json!({"code": c.code, "name": c.name})).collect::<Vec<_>>(),
        "pow_bits": c.pow_bits,
        "max_text_chars": c.max_text_chars,
        "max_attachments": c.max_attachments,
        "max_attachment_bytes": c.max_attachment_bytes,
        "receipt_ttl_days": c.receipt_ttl_days,
    }))
    .into_response()
}

/// An attachment in a report: the file, base64.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentIn {
    data: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportIn {
    category: String,
    text: String,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentIn>,
    #[serde(default)]
    pow: Option<String>,
}

async fn report(
    State(s): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<ReportIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let it = &s.integrity;
    if !it.enabled() {
        return Err(crate::integrity::IntegrityError::Disabled.into());
    }
    it.limiter
        .check(
            client(it.config.trust_forwarded_for, &headers, peer),
            Action::Report,
        )
        .map_err(crate::integrity::IntegrityError::from)?;
    let r = json_body(body)?;
    let now = crate::db::now_millis();
    it.pow
        .check(r.pow.as_deref(), now.div_euclid(60_000))
        .map_err(crate::integrity::IntegrityError::from)?;
    if r.attachments.len() > it.config.max_attachments {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} attachments; the limit is {}",
            r.attachments.len(),
            it.config.max_attachments
        )));
    }
    let mut attachments = Vec::with_capacity(r.attachments.len());
    for (i, a) in r.attachments.into_iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.data.as_bytes())
            .map_err(|e| ApiError::BadRequest(format!("attachment {i}: not base64: {e}")))?;
        attachments.push(NewAttachment { bytes });
    }
    let receipt = it
        .report(
            &s.db,
            NewReport {
                category: r.category,
                text: r.text,
                place: r.place,
                date: r.date,
                attachments,
            },
            now,
        )
        .await?;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeIn {
    receipt_code: String,
}

async fn read_case(
    State(s): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<CodeIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let it = &s.integrity;
    let r = json_body(body)?;
    let code =
        ReceiptCode::parse(&r.receipt_code).map_err(crate::integrity::IntegrityError::from)?;
    it.limiter
        .check(
            client(it.config.trust_forwarded_for, &headers, peer),
            Action::FollowUp,
        )
        .map_err(crate::integrity::IntegrityError::from)?;
    let thread = it.follow_up(&s.db, &code, crate::db::now_millis()).await?;
    Ok(Json(thread).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBackIn {
    receipt_code: String,
    text: String,
}

async fn write_back(
    State(s): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<WriteBackIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let it = &s.integrity;
    let r = json_body(body)?;
    let code =
        ReceiptCode::parse(&r.receipt_code).map_err(crate::integrity::IntegrityError::from)?;
    it.limiter
        .check(
            client(it.config.trust_forwarded_for, &headers, peer),
            Action::FollowUp,
        )
        .map_err(crate::integrity::IntegrityError::from)?;
    let seq = it
        .write_back(&s.db, &code, &r.text, crate::db::now_millis())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "seq": seq }))).into_response())
}
