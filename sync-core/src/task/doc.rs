//! SKELETON — to be implemented. Signatures are the contract other modules code against.

use super::model::*;
use crate::ids::{Actor, DocId, Millis};
use automerge::{AutoCommit, ChangeHash};

/// Errors of the typed task API.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The bytes are not an automerge document.
    #[error("corrupt document: {0}")]
    Corrupt(String),
    /// The document is automerge but not a task of a known schema.
    #[error("not a task document: {0}")]
    Schema(String),
    /// The schema is newer than this build understands.
    #[error("document schema {found} is newer than supported {supported}")]
    TooNew {
        /// Found.
        found: u64,
        /// Supported.
        supported: u64,
    },
    /// The requested transition is not allowed from the current state for this actor.
    #[error("{event} is not allowed now: {why}")]
    Transition {
        /// Event name.
        event: &'static str,
        /// Why.
        why: String,
    },
    /// An input value is out of range or malformed.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// One task document.
#[derive(Debug, Clone)]
pub struct TaskDoc {
    doc: AutoCommit,
}

impl TaskDoc {
    /// Creates a new task with its `Created` event.
    pub fn create(_new: NewTask, _actor: &Actor, _at: Millis) -> Result<TaskDoc, TaskError> {
        todo!()
    }
    /// Loads saved bytes (or concatenated changes), checks and upgrades the schema.
    pub fn load(_bytes: &[u8]) -> Result<TaskDoc, TaskError> {
        todo!()
    }
    /// Wraps an automerge document received from sync, checking the schema.
    pub fn from_automerge(_doc: AutoCommit) -> Result<TaskDoc, TaskError> {
        todo!()
    }
    /// The task id.
    pub fn id(&self) -> Result<DocId, TaskError> {
        todo!()
    }
    /// Saves the whole document (compact form).
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }
    /// The underlying automerge document, for the sync layer only.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
    /// The current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }
    /// Reads the whole task, with its derived state.
    pub fn view(&self) -> Result<TaskView, TaskError> {
        todo!()
    }
    /// Appends an event, refusing one that is not valid now for this actor.
    pub fn append_event(
        &mut self,
        _actor: &Actor,
        _at: Millis,
        _kind: EventKind,
    ) -> Result<String, TaskError> {
        todo!()
    }
    /// Adds a note.
    pub fn add_note(
        &mut self,
        _actor: &Actor,
        _at: Millis,
        _text: &str,
    ) -> Result<String, TaskError> {
        todo!()
    }
    /// Adds a photo reference (idempotent by hash).
    pub fn add_photo(&mut self, _actor: &Actor, _photo: PhotoRef) -> Result<(), TaskError> {
        todo!()
    }
}
