//! The citizens' tracking page (`server/web/track/`: plain HTML, JavaScript and CSS,
//! Persian and English), embedded in the binary. The page itself is answered by
//! [`crate::http::track`] at `/track/{code}` (and `/track` for typing a code); its
//! script and style are served here under `/track/static/`. The map reuses the console's
//! vendored Leaflet (`/console/vendor/leaflet/`). No cookie, no third-party request but
//! the configured tiles, and `Referrer-Policy: no-referrer` so the code in the URL never
//! reaches anyone else.

use crate::http::AppState;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const INDEX: &[u8] = include_bytes!("../../../web/track/index.html");

/// `(name, content type, bytes)` of the page's static files.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/track/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/track/style.css"),
    ),
    (
        "notify.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/track/notify.js"),
    ),
    (
        "sw.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/track/sw.js"),
    ),
];

/// The static files' routes (merged into the app's router by [`super::routes`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(static_file))
}

/// The tracking page's script and style.
#[utoipa::path(get, path = "/track/static/{file}", tag = "pages",
    params(("file" = String, Path, description = "`app.js`, `style.css`, `notify.js` or `sw.js`")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
async fn static_file(Path(file): Path<String>) -> Response {
    asset(&file)
}

fn private_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn asset(file: &str) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some(&(_, mime, bytes)) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            private_headers(h);
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if file == "sw.js" {
                // The service worker lives under /track/static/ but serves the tracking
                // pages: its scope is /track/ ("notify me", `notify.js`).
                h.insert(
                    "service-worker-allowed",
                    HeaderValue::from_static("/track/"),
                );
            }
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The page (the same HTML for every code: its script reads the code from the URL and
/// asks `/api/v1/track/{code}`). Never cached, never sends a referrer, scripts and styles
/// only from this server; images also from the tile server the operator configured.
pub fn page() -> Response {
    let mut resp = INDEX.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    private_headers(h);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob: https: http:; \
             style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    resp
}
