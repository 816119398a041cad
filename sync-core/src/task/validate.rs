//! SKELETON — to be implemented.
use super::doc::TaskDoc;
use crate::ids::Actor;

/// Why the server refuses a device's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The sender's role may not do this (e.g. a crew assigning itself).
    Forbidden,
    /// The document is outside the sender's scope.
    OutOfScope,
    /// A field the sender may not change was changed.
    ReadOnlyField,
    /// An event the sender added is not valid where it falls.
    InvalidTransition,
    /// The event log, notes or photos were rewritten (they are append-only).
    HistoryRewritten,
    /// The event claims another actor than the authenticated sender.
    Impersonation,
    /// The document is malformed.
    Malformed,
}

/// A refused change, with a reason to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    /// What kind of refusal.
    pub code: RefusalCode,
    /// Plain words.
    pub message: String,
}

/// Checks that `after` (the stored document with the sender's changes applied) differs from
/// `before` (the stored document, or `None` for a new task) only in ways `sender` may make.
pub fn validate_update(
    _before: Option<&TaskDoc>,
    _after: &TaskDoc,
    _sender: &Actor,
) -> Result<(), Refusal> {
    todo!()
}
