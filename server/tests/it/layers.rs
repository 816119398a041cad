//! The server's layer rule, checked by reading its source (in the manner of
//! rust-analyzer's `tidy` tests): imports point down only.
//!
//! ```text
//!   cli, demo, main, lib     (may use every layer)
//!   http                     axum, routes, extractors, the error → status mapping, AppState
//!   domain                   the city's rules
//!   storage                  every SQL statement
//!   base                     settings, time, logging set-up
//! ```
//!
//! A file in `server/src/<layer>/` may name `crate::<x>` only where `<x>` is its own layer
//! or one below it; below `http`, no file may name `axum`, `tower`, `tower_http`, `hyper`,
//! `utoipa_axum` or `AppState`. Comments are not code and are skipped.

use std::path::{Path, PathBuf};

/// The layers, lowest first; `None` for the top (`cli`, `demo`, `main`, `lib`).
fn layer_of(module: &str) -> Option<usize> {
    ["base", "storage", "domain", "http"]
        .iter()
        .position(|l| *l == module)
}

/// The top-level module a source file belongs to (`domain` for
/// `server/src/domain/dispatch/assign.rs`, `cli` for `server/src/cli.rs`).
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().expect("a path inside src");
    let first = first.as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Names that only the HTTP layer (and above) may use.
const HTTP_ONLY: &[&str] = &[
    "axum::",
    "tower::",
    "tower_http::",
    "hyper::",
    "utoipa_axum::",
    "AppState",
];

/// A line of code with the contents of its string literals blanked: text is not an
/// import (a log filter may well say `"axum::serve=off"`).
fn without_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in code.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
                out.push(c);
            }
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        out.push(c);
    }
    out
}

/// Every upward reference in one file's text, as `line: what`.
fn violations(module: &str, text: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = without_strings(line.split("//").next().unwrap_or(""));
        let code = code.as_str();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let target: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let upward = match layer_of(&target) {
                Some(t) => t > own,
                // `cli`, `demo`: above every layer.
                None => matches!(target.as_str(), "cli" | "demo"),
            };
            if upward {
                out.push(format!("{}: {module} uses crate::{target}", n + 1));
            }
            rest = after;
        }
        if module != "http" {
            for name in HTTP_ONLY {
                let hit = code.match_indices(name).any(|(i, _)| {
                    i == 0
                        || !code[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if hit {
                    out.push(format!("{}: {module} uses {name}", n + 1));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 50, "the server's sources were not found");
    let mut found = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        let text = std::fs::read_to_string(file).unwrap();
        for v in violations(&module, &text) {
            found.push(format!("server/src/{}:{v}", rel.display()));
        }
    }
    assert!(
        found.is_empty(),
        "upward imports (see ARCHITECTURE.md, \"Layers\"):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_source_file_sits_in_a_layer_or_at_the_top() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let strays: Vec<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).unwrap()))
        .filter(|m| layer_of(m).is_none() && !matches!(m.as_str(), "cli" | "demo" | "main" | "lib"))
        .collect();
    assert!(
        strays.is_empty(),
        "source outside the layer folders: {strays:?}"
    );
}

/// The checker itself finds what it is for (so the test above cannot pass vacuously).
#[test]
fn the_check_catches_an_upward_import() {
    let domain = "use crate::storage::Db;\nuse crate::http::AppState;\n";
    assert_eq!(violations("domain", domain).len(), 2, "http, and AppState");
    assert_eq!(
        violations("storage", "use crate::domain::geo::District;").len(),
        1
    );
    assert_eq!(
        violations("base", "fn f() { crate::storage::x() }").len(),
        1
    );
    assert_eq!(violations("domain", "use axum::Json;").len(), 1);
    assert_eq!(violations("storage", "use crate::cli::Cli;").len(), 1);
    // Downward and sideways imports, comments and the top are fine.
    assert!(violations("http", "use crate::domain::x;\nuse axum::Json;").is_empty());
    assert!(violations("domain", "use crate::domain::a;\nuse crate::base::b;").is_empty());
    assert!(violations("domain", "// see crate::http::AppState").is_empty());
    assert!(violations("base", r#"const F: &str = "axum::serve=off";"#).is_empty());
    assert!(violations("cli", "use crate::http::AppState;").is_empty());
}
