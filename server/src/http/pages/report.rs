//! The citizens' report page (`server/web/report/`: plain HTML, JavaScript and CSS,
//! Persian and English through the shared catalogues), embedded in the binary. The page
//! is answered by [`crate::http::report`] at `/report`; its script and style are served
//! here under `/report/static/`. It reuses the console's vendored Leaflet
//! (`/console/vendor/leaflet/`) and the integrity page's proof-of-work script
//! (`/integrity/pow.js`). No cookie, no third-party request but the configured tiles.

use crate::http::AppState;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const INDEX: &[u8] = include_bytes!("../../../web/report/index.html");

/// `(name, content type, bytes)` of the page's static files.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/report/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/report/style.css"),
    ),
];

/// The static files' routes (merged into the app's router by [`super::routes`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(static_file))
}

/// The report page's script and style.
#[utoipa::path(get, path = "/report/static/{file}", operation_id = "report_static_file", tag = "pages",
    params(("file" = String, Path, description = "`app.js` or `style.css`")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
async fn static_file(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some(&(_, mime, bytes)) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            common_headers(h);
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn common_headers(h: &mut HeaderMap) {
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The page. Scripts and styles only from this server; images also from the tile server
/// the operator configured, and `blob:` for the photos' previews.
pub fn page() -> Response {
    let mut resp = INDEX.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    common_headers(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob: https: http:; \
             style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    resp
}
