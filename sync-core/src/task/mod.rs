//! The task document: one automerge document per task, read and written only through
//! [`TaskDoc`]'s typed API.
//!
//! - `model`: the data types callers see.
//! - `doc`: the layout inside automerge, typed access, schema upgrades.
//! - `fold`: the pure fold of the event log into [`Derived`] state (design §2 rules 1–7).
//! - `validate`: what the server checks before it accepts a device's changes.

mod doc;
mod fold;
mod model;
pub mod roles;
mod validate;

pub use doc::{DEFAULT_REOPEN_WINDOW_MS, TaskDoc, TaskError, longest_log};
pub use fold::{fold, fold_with_receipts};
pub use model::*;
pub use validate::{PushFacts, Refusal, RefusalCode, validate_push, validate_update};
