//! Tarmim's server: the HTTP API, the sync host, storage and districts.
//!
//! Code map:
//! - [`config`]: settings from defaults, a TOML file and the environment.
//! - [`app`]: shared state, the router, serving with graceful shutdown.
//! - [`api`]: thin HTTP handlers.
//! - [`sync`]: the sync host — sessions over WebSocket and the HTTP fallback.
//! - [`hub`]: which connections follow which scopes; cross-replica push (LISTEN/NOTIFY).
//! - [`compaction`]: when documents' change histories are compacted (amortised, per commit).
//! - [`auth`]: users, tokens, the [`auth::Identity`] extractor, device sync scopes.
//! - [`db`]: the storage traits and their SQLite and PostgreSQL + PostGIS backends,
//!   including `sync_core::session::ServerStore`.
//! - [`dispatch`]: crews on duty and their positions, auto-assignment, escalation timers.
//! - [`intake`]: creating tasks on the server (call centre, dispatchers, Open311).
//! - [`geo`]: districts — GeoJSON import, point → district, adjacency.
//! - [`gis`]: public task data for GIS clients (GeoJSON, OGC API – Features): filters,
//!   public fields, queries.
//! - [`photo`]: photo verification, EXIF flags, derivatives, storage, resumable uploads.
//! - [`integrity`]: the integrity channel — anonymous reports encrypted to investigators
//!   (`age`), receipt codes, the investigators' tool.
//! - [`open311`]: Open311 GeoReport v2 (XML and JSON), FixMyStreet's updates, API keys.
//! - [`analytics`]: managers' measures, trends, scorecards and exports over per-task facts.
//! - [`demo`]: the demo city seeded into an empty database.
//! - [`web`]: the dispatcher's console page and its static assets (embedded).
//! - [`telemetry`]: logs and Prometheus metrics.
//! - [`cli`]: the command line (`serve`, `migrate`, `import-districts`, `user`, `crew`, `demo`).
//! - [`error`]: [`error::ApiError`], the single mapping from failures to HTTP responses.
//!
//! Dependencies point one way: this crate uses `sync-core`, never the reverse.

pub mod analytics;
pub mod api;
pub mod app;
pub mod auth;
pub mod citizen;
pub mod city_time;
pub mod cli;
pub mod compaction;
pub mod config;
pub mod db;
pub mod demo;
pub mod dispatch;
pub mod error;
pub mod geo;
pub mod gis;
pub mod hub;
pub mod intake;
pub mod integrity;
pub mod open311;
pub mod photo;
pub mod sync;
pub mod telemetry;
pub mod web;
