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

mod account;
mod background;
mod client;
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
