//! The server's end-to-end tests, one test binary (linking each file as its own binary
//! cost minutes of every CI run): a real server on a loopback port, phones as sync-core
//! devices over real WebSockets, the real binary where a process must die, every storage
//! case on SQLite and on a fresh PostgreSQL + PostGIS database. Fixtures and helpers are
//! the `tarmim-testing` crate (`server/testing`), shared with the benchmarks.
//!
//! Run one file's tests with `cargo test -p server --test it <file>::`, e.g.
//! `cargo test -p server --test it track::`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod admin;
mod analytics;
mod audit;
mod catch_up;
mod cli;
mod desk;
mod dispatch;
mod districts;
mod gis;
mod hostile;
mod http;
mod identity;
mod integrity;
mod layers;
mod notify;
mod notify_push;
mod notify_smtp;
mod open311;
mod openapi;
mod outbox;
mod penalties;
mod photos;
mod places;
mod push;
mod queue;
mod report;
mod roster;
mod sessions;
mod storage;
mod sync;
mod track;
mod verify;
