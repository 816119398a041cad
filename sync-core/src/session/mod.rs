//! Both halves of sync as sans-I/O state machines: bytes in, bytes out.
//!
//! - [`device`]: the phone's half over its local store: local edits become pending
//!   changes; a session pushes them and applies what the server sends, durably.
//! - [`server`]: the server's half over a [`ServerStore`]: catch-up by per-scope cursors,
//!   validation of pushes, acknowledgement after commit, live pushes on notification.
//! - [`pages`]: catch-up pages built once for every session that asks for the same one.
//! - [`memory`]: an in-memory [`ServerStore`] for tests and benchmarks.
//!
//! The host supplies a transport that carries frames in order (WebSocket) and, on the
//! server, a hub that calls [`server::ServerSession::on_notify`] for the sessions of the
//! scopes a commit touched. Neither half knows sockets, threads or clocks.

pub mod device;
pub mod memory;
pub mod pages;
pub mod scope;
pub mod server;
mod store;
pub mod untrusted;

pub use scope::{ScopePolicy, TaskScopes};
pub use store::{
    Acknowledged, ChangesSince, CommitOutcome, DocCommit, ScopeEntry, ServerStore,
    ServerStoreError, StoredChange, StoredDoc, acknowledged_through,
};
