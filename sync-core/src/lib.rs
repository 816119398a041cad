//! Tarmim's CRDT core.
//!
//! A task is one automerge document ([`task::TaskDoc`]); its status is never stored but
//! derived by a pure fold of its event log ([`task::fold`]), so concurrent offline edits
//! converge to the same status on every replica. The phone keeps its documents in a
//! crash-safe local [`store`]; [`protocol`] defines the versioned wire frames and
//! [`session`] holds both halves of sync as sans-I/O state machines; [`outbox`] queues
//! photo blobs for resumable upload; [`day_order`] orders a crew's open jobs offline.
//!
//! This crate must stay buildable for phones: it never depends on an async runtime,
//! HTTP, SQL or sockets. The server and the mobile bindings depend on it, never the
//! other way round.

pub mod day_order;
pub mod ids;
pub mod outbox;
pub mod protocol;
pub mod session;
pub mod store;
pub mod task;

pub use ids::{Actor, DeviceId, DocId, IdError, Millis, Role, ScopeId};
