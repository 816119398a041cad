//! Tarmim's phone library: what the crews' Android (Kotlin) and iOS (Swift) apps call,
//! through bindings UniFFI generates from this crate.
//!
//! A thin layer: [`TarmimClient`] wraps `sync_core::session::device::Device` (the task
//! document, its rules and the crash-safe phone store all live in `sync-core`), and each
//! exported method is a line or two over it. What this crate adds is what sync-core must
//! not hold: the network ([`transport`]: WebSocket with an HTTP fallback, rustls, back-off),
//! the sync session and background loop that carry sync-core's frames, the change
//! callbacks, and one small error enum, [`TarmimError`].
//!
//! It depends on sync-core and never the other way round; it must build for Android and
//! iOS: no OpenSSL, no C library beyond what `ring` compiles, no absolute paths (the app
//! passes its data folder), and `panic = "unwind"` in every profile (sync-core catches
//! automerge panics on untrusted input).
//!
//! The usage guide for app developers is `mobile-bindings/README.md`.
//!
//! # Layers
//! Imports inside the crate point one way, down this list (a test reads the `use` lines):
//! `client` (the exported object) → `background` (the worker: sync sessions, uploads) →
//! `session`, `uploads` → the pieces they share, handed down by the client (`device`,
//! `auth`, `listener`; beside them `account`, `photo`) → `error`, `model` → `transport`.

mod account;
mod auth;
mod background;
mod client;
mod device;
mod error;
mod listener;
mod model;
mod photo;
mod session;
pub mod transport;
mod uploads;

pub use client::TarmimClient;
pub use error::TarmimError;
pub use listener::ChangeListener;
pub use model::*;

uniffi::setup_scaffolding!("tarmim");

/// The module layers, top down: a module may import only from layers below its own.
#[cfg(test)]
const LAYERS: &[&[&str]] = &[
    &["client"],
    &["background"],
    &["session", "uploads"],
    &["account", "auth", "device", "listener", "photo"],
    &["error", "model"],
    &["transport"],
];

#[cfg(test)]
mod tests {
    use super::LAYERS;

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    /// The crate's modules that `source` imports (`crate::name`, outside comments).
    fn imports(source: &str) -> Vec<String> {
        let code = source.lines().filter(|l| !l.trim_start().starts_with("//"));
        let mut out = Vec::new();
        for line in code {
            for (_, rest) in line
                .match_indices("crate::")
                .map(|(i, _)| line.split_at(i + 7))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn imports_point_down_the_layers_only() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        for level in LAYERS {
            for module in *level {
                let file = match src.join(format!("{module}.rs")) {
                    f if f.exists() => f,
                    _ => src.join(module).join("mod.rs"),
                };
                let source = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                let own = layer(module);
                for used in imports(&source) {
                    if let Some(theirs) = layer(&used) {
                        assert!(
                            theirs > own.unwrap_or(0),
                            "{module} imports crate::{used}, which is not below it"
                        );
                    }
                }
                checked += 1;
            }
        }
        // Every module of the crate is in a layer.
        let files = std::fs::read_dir(&src).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            checked + 1,
            files,
            "a module of src/ is missing from LAYERS"
        );
    }
}
