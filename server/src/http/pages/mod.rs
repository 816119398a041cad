//! The dispatcher's console: static files embedded in the binary (so `cargo run` needs
//! nothing beside it), served under `/console/`. `/` redirects there.
//!
//! The page (`server/web/console/`) is plain HTML, JavaScript and CSS; the map library is
//! Leaflet, vendored from npm under `vendor/leaflet/` (version and licence there;
//! `vendor/refresh-leaflet.sh` refreshes it). No CDN: tiles come only from the
//! configured `TARMIM_TILE_URL`, and without one the map draws districts and points on
//! a blank background. The page talks to [`crate::http::console`].
//!
//! `session.js` (the token, login and logout) and `nav.js` (the links a role may follow,
//! and the refusal of a page it may not use) are shared by every staff page. The manager pages
//! (`manage.html`: trends, district choropleth, scorecard, measures,
//! before/after gallery) sit beside it and talk to [`crate::http::analytics`]; their
//! charts are uPlot, vendored from npm under `vendor/uplot/` the same way. The "to
//! verify" page (`verify.html`) talks to [`crate::http::verify`]. The call centre's desk
//! (`desk.html`) talks to [`crate::http::callcentre`]. The admin page (`admin.html`:
//! services, districts, crews, users, contractors, Open311 keys) talks to
//! [`crate::http::admin`].

use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod csp;
pub mod i18n;
pub mod integrity;
pub mod report;
pub mod track;

/// One embedded file: its path under `/console/`, content type and bytes.
struct Asset {
    path: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        Asset {
            path: $path,
            mime: $mime,
            bytes: include_bytes!(concat!("../../../web/console/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("session.js", "text/javascript; charset=utf-8"),
    asset!("nav.js", "text/javascript; charset=utf-8"),
    asset!("nav.css", "text/css; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("manage.html", "text/html; charset=utf-8"),
    asset!("manage.js", "text/javascript; charset=utf-8"),
    asset!("manage.css", "text/css; charset=utf-8"),
    asset!("verify.html", "text/html; charset=utf-8"),
    asset!("verify.js", "text/javascript; charset=utf-8"),
    asset!("verify.css", "text/css; charset=utf-8"),
    asset!("penalties.html", "text/html; charset=utf-8"),
    asset!("penalties.js", "text/javascript; charset=utf-8"),
    asset!("penalties.css", "text/css; charset=utf-8"),
    asset!("roster.html", "text/html; charset=utf-8"),
    asset!("roster.js", "text/javascript; charset=utf-8"),
    asset!("roster.css", "text/css; charset=utf-8"),
    asset!("admin.html", "text/html; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("admin.css", "text/css; charset=utf-8"),
    asset!("messages.html", "text/html; charset=utf-8"),
    asset!("messages.js", "text/javascript; charset=utf-8"),
    asset!("desk.html", "text/html; charset=utf-8"),
    asset!("desk.js", "text/javascript; charset=utf-8"),
    asset!("desk.css", "text/css; charset=utf-8"),
    asset!(
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    asset!(
        "vendor/leaflet/leaflet.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
    asset!("vendor/leaflet/images/layers.png", "image/png"),
    asset!("vendor/leaflet/images/layers-2x.png", "image/png"),
    asset!("vendor/leaflet/images/marker-icon.png", "image/png"),
    asset!("vendor/leaflet/images/marker-icon-2x.png", "image/png"),
    asset!("vendor/leaflet/images/marker-shadow.png", "image/png"),
];

/// The route of the console's static files: not in the OpenAPI document (a wildcard is
/// no OpenAPI path), so listed in [`crate::http::UNDOCUMENTED_ROUTES`].
pub const ASSET_ROUTE: &str = "/console/{*path}";

/// The console's routes (merged into the app's router).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(console_bare))
        .routes(routes!(console_index))
        .route(ASSET_ROUTE, get(asset))
        .merge(track::routes())
        .merge(report::routes())
        .merge(i18n::routes())
}

/// `/` → the console.
#[utoipa::path(get, path = "/", tag = "pages",
    responses((status = 303, description = "Redirect to `/console/`")))]
async fn root() -> Redirect {
    Redirect::to("/console/")
}

/// `/console` → `/console/`.
#[utoipa::path(get, path = "/console", tag = "pages",
    responses((status = 303, description = "Redirect to `/console/`")))]
async fn console_bare() -> Redirect {
    Redirect::to("/console/")
}

/// The console page (its scripts, styles and images are under `/console/`).
#[utoipa::path(get, path = "/console/", tag = "pages",
    responses((status = 200, description = "The dispatcher's console", content_type = "text/html", body = String)))]
async fn console_index(State(state): State<AppState>) -> Response {
    serve(&state, "index.html")
}

async fn asset(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    serve(&state, &path)
}

fn serve(state: &AppState, path: &str) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => {
            let mut resp = a.bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            if a.path.ends_with(".html") {
                // Every console page: see `csp`.
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    csp::console(state.config.tile_url.as_deref()),
                );
            }
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
