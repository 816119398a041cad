//! Tarmim's server: the HTTP API, the sync host, storage and districts.
//!
//! The crate is layered, and its folders are the layers (`ARCHITECTURE.md` has the map):
//!
//! - [`http`]: axum — routes, extractors, the one error → status mapping, OpenAPI, the
//!   embedded pages, and [`http::AppState`], which exists only here.
//! - [`domain`]: the city's rules — dispatch, intake, citizens, Open311, photos, the
//!   integrity channel, analytics, districts, the sync host.
//! - [`storage`]: every SQL statement, on SQLite and PostgreSQL + PostGIS.
//! - [`base`]: settings, time, logging and metrics set-up.
//!
//! [`cli`] and [`demo`] sit above them all. Imports point down only: `http → domain →
//! storage → base`; `server/tests/it/layers.rs` reads the `use` lines and fails on an
//! upward one. Dependencies between crates point one way too: this crate uses
//! `sync-core`, never the reverse.

pub mod base;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod http;
pub mod storage;
