//! The one translation mechanism every page shares (`server/web/i18n/`): `i18n.js` and a
//! flat JSON catalogue per language, embedded in the binary and served under `/i18n/`.
//! Both catalogues must have the same keys and no empty text: a unit test below checks
//! it, so a key added in one language only fails the build's tests, not a citizen's page.
//! The integrity page loads the same files from its own prefix (`/integrity/i18n/`, see
//! [`crate::http::integrity`]), so that its readers' requests never leave its private
//! router; `i18n.js` fetches the catalogues from beside itself.

use crate::http::AppState;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `(name, content type, bytes)` of the mechanism's files.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/i18n/i18n.js"),
    ),
    (
        "fa.json",
        "application/json",
        include_bytes!("../../../web/i18n/fa.json"),
    ),
    (
        "en.json",
        "application/json",
        include_bytes!("../../../web/i18n/en.json"),
    ),
];

/// The routes of `/i18n/`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(file))
}

/// The translation script and the catalogues.
#[utoipa::path(get, path = "/i18n/{file}", tag = "pages",
    params(("file" = String, Path, description = "`i18n.js`, `fa.json` or `en.json`")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
async fn file(Path(file): Path<String>) -> Response {
    serve(&file)
}

/// One of the mechanism's files by name, or 404.
pub fn serve(file: &str) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, bytes)) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::FILES;
    use std::collections::BTreeMap;

    fn catalogue(name: &str) -> BTreeMap<String, String> {
        let (_, _, bytes) = FILES.iter().find(|(n, _, _)| *n == name).unwrap();
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn catalogues_have_the_same_keys_and_no_empty_text() {
        let fa = catalogue("fa.json");
        let en = catalogue("en.json");
        let only_fa: Vec<_> = fa.keys().filter(|k| !en.contains_key(*k)).collect();
        let only_en: Vec<_> = en.keys().filter(|k| !fa.contains_key(*k)).collect();
        assert!(only_fa.is_empty(), "keys only in fa.json: {only_fa:?}");
        assert!(only_en.is_empty(), "keys only in en.json: {only_en:?}");
        for (lang, c) in [("fa", &fa), ("en", &en)] {
            let empty: Vec<_> = c.iter().filter(|(_, v)| v.trim().is_empty()).collect();
            assert!(empty.is_empty(), "empty texts in {lang}.json: {empty:?}");
        }
    }
}
