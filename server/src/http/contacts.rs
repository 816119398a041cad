//! A citizen's contact details on request (`domain::citizen::contacts`): no login, the
//! tracking code is the authority, and requests are limited per client address like
//! every tracking-code request.
//!
//! - `POST /api/v1/track/{code}/forget` and `POST /api/v1/track/{code}/unsubscribe`: JSON.
//! - `GET /track/{code}/unsubscribe`: the page every message's unsubscribe link opens, in
//!   Persian and English at once (it is reached from a message, in either language), with
//!   two buttons: stop messages, or erase the contact. The buttons are plain form posts
//!   to `POST /track/{code}/unsubscribe` and `POST /track/{code}/forget`, which answer a
//!   page; a GET never changes anything (mail scanners open links).

use crate::domain::citizen::codes;
use crate::domain::citizen::contacts;
use crate::domain::citizen::lookups::Lookups;
use crate::domain::citizen::public_view::TrackError;
use crate::http::AppState;
use crate::http::client::ClientAddr;
use crate::http::track::{ErrorBody, Refusal};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The contact routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forget))
        .routes(routes!(unsubscribe))
        .routes(routes!(unsubscribe_page, unsubscribe_form))
        .routes(routes!(forget_form))
        .layer(Extension(Arc::new(Lookups::new())))
}

/// What a forget or unsubscribe request did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDone {
    /// Whether the code held a contact it applied to (false: nothing was stored, or it
    /// was already done).
    pub done: bool,
}

/// The per-address limit of every anonymous route that acts on a tracking code.
pub(crate) fn limit(
    state: &AppState,
    lookups: &Lookups,
    client: ClientAddr,
) -> Result<(), Refusal> {
    Ok(lookups.admit(client.0, state.config.track_lookups_per_minute)?)
}

fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    r
}

/// Erases the contact details a tracking code holds.
#[utoipa::path(
    post,
    path = "/api/v1/track/{code}/forget",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "Erased (`done`: whether there was a contact)", body = ContactDone),
        (status = 404, description = "No report has this code", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn forget(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let done = contacts::forget(&state.citizens(), &code).await?;
    Ok(private(Json(ContactDone { done }).into_response()))
}

/// Stops messages to the contact a tracking code holds.
#[utoipa::path(
    post,
    path = "/api/v1/track/{code}/unsubscribe",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "Unsubscribed (`done`: whether messages were going out)", body = ContactDone),
        (status = 404, description = "No report has this code", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let done = contacts::unsubscribe(&state.citizens(), &code).await?;
    Ok(private(Json(ContactDone { done }).into_response()))
}

const STYLE: &str = "body{font-family:Vazirmatn,Tahoma,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.6}\
section{border:1px solid #ccc;border-radius:.5rem;padding:1rem;margin:1rem 0}\
button{font:inherit;padding:.6rem 1rem;margin:.3rem 0;width:100%}";

fn page(status: StatusCode, fa: &str, en: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>۱۳۷ — پیام‌ها / Messages</title><style>{STYLE}</style></head><body>\
         <section lang=\"fa\" dir=\"rtl\">{fa}</section>\
         <section lang=\"en\" dir=\"ltr\">{en}</section></body></html>"
    );
    private((status, Html(html)).into_response())
}

fn unknown() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "<p>هیچ گزارشی این کد پیگیری را ندارد.</p>",
        "<p>No report has this tracking code.</p>",
    )
}

/// The page an unsubscribe link opens: stop messages, or erase the contact.
#[utoipa::path(
    get,
    path = "/track/{code}/unsubscribe",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "The page (HTML, Persian and English) with the two buttons", content_type = "text/html"),
        (status = 404, description = "Not a tracking code (HTML)", content_type = "text/html"),
    ),
    tag = "tracking"
)]
pub async fn unsubscribe_page(Path(code): Path<String>) -> Response {
    let Some(code) = codes::normalise(&code) else {
        return unknown();
    };
    let shown = codes::display(&code);
    let form = |action: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"/track/{code}/{action}\"><button type=\"submit\">{label}</button></form>"
        )
    };
    page(
        StatusCode::OK,
        &format!(
            "<h1>پیام‌های گزارش {shown}</h1>{}{}<p>پاک کردن، نشانی و شمارهٔ شما را همین حالا از سامانه حذف می‌کند. گزارش سر جایش می‌ماند.</p>",
            form("unsubscribe", "دیگر پیامی نفرستید"),
            form("forget", "نشانی و شمارهٔ مرا پاک کنید")
        ),
        &format!(
            "<h1>Messages about report {shown}</h1>{}{}<p>Erasing removes your address and number from the system now. The report stays.</p>",
            form("unsubscribe", "Send me no more messages"),
            form("forget", "Erase my contact details")
        ),
    )
}

fn outcome(r: Result<bool, TrackError>, fa: &str, en: &str) -> Response {
    match r {
        Ok(_) => page(
            StatusCode::OK,
            &format!("<p>{fa}</p>"),
            &format!("<p>{en}</p>"),
        ),
        Err(TrackError::UnknownCode) => unknown(),
        Err(e @ TrackError::TooMany(_)) => Refusal::from(e).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "a contact request failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "<p>الان ممکن نشد؛ کمی بعد دوباره امتحان کنید.</p>",
                "<p>That did not work just now; please try again shortly.</p>",
            )
        }
    }
}

/// The unsubscribe button.
#[utoipa::path(
    post,
    path = "/track/{code}/unsubscribe",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "Done (HTML)", content_type = "text/html"),
        (status = 404, description = "No report has this code (HTML)", content_type = "text/html"),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn unsubscribe_form(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
) -> Response {
    if let Err(r) = limit(&state, &lookups, client) {
        return r.into_response();
    }
    outcome(
        contacts::unsubscribe(&state.citizens(), &code).await,
        "دیگر پیامی دربارهٔ این گزارش برایتان فرستاده نمی‌شود.",
        "You will get no more messages about this report.",
    )
}

/// The erase button.
#[utoipa::path(
    post,
    path = "/track/{code}/forget",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "Done (HTML)", content_type = "text/html"),
        (status = 404, description = "No report has this code (HTML)", content_type = "text/html"),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn forget_form(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
) -> Response {
    if let Err(r) = limit(&state, &lookups, client) {
        return r.into_response();
    }
    outcome(
        contacts::forget(&state.citizens(), &code).await,
        "نشانی و شمارهٔ شما پاک شد.",
        "Your contact details were erased.",
    )
}
