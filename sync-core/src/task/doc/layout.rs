//! Where each field of a task lives inside its automerge document: the key names, and
//! the layout they make.
//!
//! # Layout (schema 1)
//! The root map holds:
//! `schema` (uint), `id`, `source`, `category`, `title`, `description` (strings),
//! `point` {`lat`, `lon`, `accuracy_m`} (floats, `accuracy_m` may be null), `address` and
//! `district` (string or null), `priority` (string), `sla` {`ack_due`, `complete_due`}
//! (int or null), `reopen_window_ms` (int), and three maps:
//! - `events`: event id → event map {`id`, `kind`, `actor` {`user`, `role`, `crew`,
//!   `device`}, `at`, `parents` (list of event ids), payload fields by kind: `district`,
//!   `crew`, `reason`, `photos` (list of hashes), `of`, `stars`, `comment`, `priority`}.
//!   A map keyed by id, not a list, so the order automerge merges them in is irrelevant:
//!   the fold orders events by their own `parents` DAG.
//! - `notes`: note id → {`id`, `author`, `device`, `at`, `text`}.
//! - `photos`: hash → {`hash`, `kind`, `taken_at`, `taken_point`, `author`, `device`,
//!   `bytes`, `mime`, `added_at`}. Keyed by content hash so the same photo added on two
//!   devices is one photo (rule 5); automerge keeps one of the two entries,
//!   deterministically.
//!
//! And, optionally (written by the server only, absent from older documents):
//! - `receipts`: event id → {`received_at`, `vouched_at`} (ints): when the server received
//!   a device's event whose time is older than the receipt by more than the clock skew,
//!   and the time it measures the event by ([`crate::task::Receipt`]).

pub(super) const K_SCHEMA: &str = "schema";
pub(super) const K_ID: &str = "id";
pub(super) const K_SOURCE: &str = "source";
pub(super) const K_CATEGORY: &str = "category";
pub(super) const K_TITLE: &str = "title";
pub(super) const K_DESCRIPTION: &str = "description";
pub(super) const K_POINT: &str = "point";
pub(super) const K_ADDRESS: &str = "address";
pub(super) const K_DISTRICT: &str = "district";
pub(super) const K_PRIORITY: &str = "priority";
pub(super) const K_SLA: &str = "sla";
pub(super) const K_REOPEN_WINDOW: &str = "reopen_window_ms";
pub(in crate::task) const K_EVENTS: &str = "events";
pub(in crate::task) const K_NOTES: &str = "notes";
pub(in crate::task) const K_PHOTOS: &str = "photos";
pub(in crate::task) const K_RECEIPTS: &str = "receipts";
