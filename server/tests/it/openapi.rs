//! The served OpenAPI document against the routes that exist.
//!
//! - `GET /api/openapi.json` from the real server is an OpenAPI 3 document: it parses (also
//!   as utoipa's model), every `$ref` resolves, every `{param}` of a path is declared as a
//!   required path parameter of each of its operations (and no undeclared one), operation
//!   ids are unique, every operation answers something, security names a defined scheme.
//! - Every (path, method) of the document reaches a handler: the request is answered by
//!   something other than the router's fallback (which alone sets `X-Tarmim-No-Route`);
//!   and exactly the operations documented with `bearer` security answer 401 without a
//!   token.
//! - Every route the server registers is in the document: routes are registered with
//!   `utoipa_axum::routes!`, which documents them; the source scan below fails on any
//!   other registration (`.route(`, `.nest(`, …) except the ones listed here, and the
//!   raw routes allowed to be undocumented are exactly `app::UNDOCUMENTED_ROUTES`.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use server::http::{AppState, RunningServer, UNDOCUMENTED_ROUTES};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Registrations that do not go through `routes!`, each with why (file, text).
const RAW_REGISTRATIONS: &[(&str, &str)] = &[
    // The console's static files (`http::UNDOCUMENTED_ROUTES`).
    ("http/pages/mod.rs", ".route(ASSET_ROUTE, get(asset))"),
    // The integrity channel: its own routes are `routes!`-registered and nested into the
    // document by `http::router`; the service is nested outside request tracing.
    ("http/mod.rs", ".nest_service(integrity::PREFIX, integrity)"),
];

fn resolve<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    let p = pointer.strip_prefix('#')?;
    doc.pointer(p)
}

fn walk_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Value::String(s) = x {
                        out.push(s);
                    }
                } else {
                    walk_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk_refs(x, out)),
        _ => {}
    }
}

fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

/// Checks the document's structure; returns the (path, method) pairs.
fn check_document(doc: &Value) -> Vec<(String, String)> {
    let version = doc["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "OpenAPI 3, not {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    // utoipa's own model reads it back.
    let _: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("utoipa parses the document");

    let mut refs = Vec::new();
    walk_refs(doc, &mut refs);
    assert!(!refs.is_empty(), "the document uses component schemas");
    for r in &refs {
        assert!(resolve(doc, r).is_some(), "$ref {r} does not resolve");
    }

    let schemes: HashSet<&str> = doc["components"]["securitySchemes"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert!(schemes.contains("bearer"));

    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    let mut ids = HashSet::new();
    for (path, item) in paths {
        assert!(path.starts_with('/'), "path {path:?}");
        let declared_in_template = template_params(path);
        let item = item.as_object().expect("a path item");
        for (method, op) in item {
            if !METHODS.contains(&method.as_str()) {
                assert_eq!(method, "parameters", "unknown key {method} in {path}");
                continue;
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path = BTreeSet::new();
            for p in &params {
                let p = if let Some(r) = p.get("$ref").and_then(Value::as_str) {
                    resolve(doc, r).unwrap().clone()
                } else {
                    p.clone()
                };
                let name = p["name"].as_str().expect("a parameter name");
                let place = p["in"].as_str().expect("a parameter place");
                assert!(
                    ["path", "query", "header", "cookie"].contains(&place),
                    "{method} {path}: parameter {name} in {place}"
                );
                if place == "path" {
                    assert_eq!(
                        p["required"], true,
                        "{method} {path}: path parameter {name} must be required"
                    );
                    in_path.insert(name.to_owned());
                }
            }
            assert_eq!(
                in_path, declared_in_template,
                "{method} {path}: declared path parameters differ from the template"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} answers nothing");
            for code in responses.keys() {
                assert!(
                    code == "default" || code.parse::<u16>().is_ok_and(|c| (100..600).contains(&c)),
                    "{method} {path}: response {code}"
                );
            }
            if let Some(id) = op["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().unwrap().keys() {
                    assert!(schemes.contains(name.as_str()), "scheme {name}");
                }
            }
            ops.push((path.clone(), method.clone()));
        }
    }
    ops
}

/// `path` with each `{param}` replaced by a plausible but unknown value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x0" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_fallback(r: &reqwest::Response) -> bool {
    r.headers().contains_key(server::http::fallback::HEADER)
}

/// Every `.route(`-like registration in `server/src`, as (file relative to src, line).
fn raw_registrations() -> Vec<(String, String)> {
    fn visit(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                visit(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                for line in text.lines() {
                    let t = line.trim();
                    if t.starts_with("//") {
                        continue;
                    }
                    // A plain axum router (whose routes would join without their
                    // documentation, e.g. through `OpenApiRouter::from`) counts too.
                    let plain = t.replace("OpenApiRouter::new(", "");
                    for needle in [
                        ".route(",
                        ".route_service(",
                        ".nest(",
                        ".nest_service(",
                        ".fallback_service(",
                        "Router::new(",
                        "Router::from(",
                    ] {
                        if plain.contains(needle) {
                            out.push((rel.clone(), t.to_owned()));
                        }
                    }
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    visit(&root, &root, &mut out);
    out
}

#[test]
fn routes_are_registered_only_through_the_document() {
    let found = raw_registrations();
    for (file, line) in &found {
        assert!(
            RAW_REGISTRATIONS
                .iter()
                .any(|(f, l)| f == file && line.contains(l)),
            "server/src/{file}: `{line}` registers a route outside `utoipa_axum::routes!`, so \
             it is not in the OpenAPI document. Annotate the handler with #[utoipa::path] and \
             register it with `.routes(routes!(handler))`; only static files may be listed in \
             http::UNDOCUMENTED_ROUTES (and here)."
        );
    }
    for (f, l) in RAW_REGISTRATIONS {
        assert!(
            found
                .iter()
                .any(|(file, line)| file == f && line.contains(l)),
            "stale allow-list entry {f}: {l}"
        );
    }
}

async fn document_matches_router(f: &Fixture) {
    let state = AppState::new(f.db.clone(), f.config.clone());
    let server = RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let http = tarmim_testing::http();

    let r = http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    let ops = check_document(&doc);

    // What the server is known to have: a module that forgot its merge line shows here.
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/openapi.json", "get"),
        ("/api/v1/login", "post"),
        ("/api/v1/sync", "get"),
        ("/api/v1/sync/exchange", "post"),
        ("/api/v1/me/position", "post"),
        ("/api/v1/console/tasks", "post"),
        ("/api/v1/console/tasks/{id}/assign", "post"),
        ("/api/v1/console/events", "get"),
        ("/api/v1/photos/uploads", "options"),
        ("/api/v1/photos/uploads/{hash}", "patch"),
        ("/api/v1/photos/uploads/{hash}", "head"),
        ("/api/v1/photos/{hash}/{variant}", "get"),
        ("/integrity", "get"),
        ("/integrity/api/reports", "post"),
        ("/console/", "get"),
    ] {
        assert!(
            ops.iter().any(|(p, m)| p == path && m == method),
            "{method} {path} is not in the document"
        );
    }

    // Every documented operation reaches a handler (without credentials: a 401 or any
    // handler answer is fine, the fallback is not), and its documented security is what
    // it does: an operation that requires the bearer token answers 401 without one, and
    // one that does not never does.
    for (path, method) in &ops {
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = http
            .request(m, format!("{base}{}", concrete(path)))
            .send()
            .await
            .unwrap();
        assert!(
            !is_fallback(&r),
            "{method} {path} is documented but the router does not know it ({})",
            r.status()
        );
        let secured = doc["paths"][path][method]["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        assert_eq!(
            r.status() == StatusCode::UNAUTHORIZED,
            secured,
            "{method} {path}: documented security {secured}, answered {} without a token",
            r.status()
        );
    }

    // The raw routes are not in the document, and they exist.
    for raw in UNDOCUMENTED_ROUTES {
        assert!(
            !doc["paths"].as_object().unwrap().contains_key(*raw),
            "{raw}"
        );
    }
    let r = http
        .get(format!("{base}/console/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The fallbacks themselves: distinguishable, JSON, on both routers.
    for (method, path, status, code) in [
        (
            Method::GET,
            "/no/such/route",
            StatusCode::NOT_FOUND,
            "no_such_route",
        ),
        (
            Method::GET,
            "/api/v1/nope",
            StatusCode::NOT_FOUND,
            "no_such_route",
        ),
        (
            Method::DELETE,
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::PUT,
            "/api/v1/login",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/integrity/nope",
            StatusCode::NOT_FOUND,
            "no_such_route",
        ),
        (
            Method::DELETE,
            "/integrity/api/config",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let r = http
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        assert!(is_fallback(&r), "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], code, "{method} {path}");
    }
    // A handler's own 404 is not the fallback.
    let r = http
        .get(format!("{base}/api/v1/photos/{}/thumb", "a".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!is_fallback(&r));

    server.shutdown().await.unwrap();
}

on_both_backends!(document_matches_router);
