//! [`TaskDoc`]: one task document, read and written only through its typed API.
//!
//! - `layout`: where each field lives inside the automerge document (schema 1).
//! - `reads`: strict typed reads: [`TaskDoc::view`], and the parse `validate` shares.
//! - `writes`: typed writes, one automerge commit each, and how event and note ids are
//!   minted.
//! - `checks`: the input checks every write makes (also used by `validate` on what a
//!   device sends).
//! - `upgrades`: the schema version check and the steps that upgrade an older document.

mod checks;
mod layout;
mod reads;
mod upgrades;
mod writes;

pub(crate) use checks::{check_actor, check_event_kind, check_new_task, check_note, check_photo};
pub(super) use layout::{K_EVENTS, K_NOTES, K_PHOTOS, K_RECEIPTS};
pub use reads::longest_log;
pub(crate) use reads::{Parsed, event_heads};
pub(super) use reads::{read_photo, req_map};
pub use upgrades::DEFAULT_REOPEN_WINDOW_MS;

use super::model::SCHEMA_VERSION;
use automerge::{AutoCommit, ChangeHash};
use std::panic::{AssertUnwindSafe, catch_unwind};
use upgrades::{read_schema, upgrade};

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
    /// A completion names no after photo and the task has none to name
    /// ([`TaskDoc::complete`]): the crew must add one first (design §2 rule 6).
    #[error("completed is not allowed now: completing needs an after photo: add one first")]
    NoAfterPhoto,
    /// An input value is out of range or malformed.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// One task document.
///
/// Cloning keeps the automerge actor id: a clone is the same replica, not a new one. Use
/// [`TaskDoc::fork`] or save and [`TaskDoc::load`] to make another replica.
#[derive(Debug, Clone)]
pub struct TaskDoc {
    doc: AutoCommit,
}

impl TaskDoc {
    /// Loads saved bytes (or concatenated changes), checks and upgrades the schema.
    ///
    /// Garbage or truncated bytes give [`TaskError::Corrupt`] (automerge is run under
    /// `catch_unwind` so that even a panic inside it is reported, in builds that unwind);
    /// an automerge document that is not a task gives [`TaskError::Schema`]. The loaded
    /// instance gets a fresh random automerge actor id. An upgrade is one commit.
    pub fn load(bytes: &[u8]) -> Result<TaskDoc, TaskError> {
        let loaded = catch_unwind(AssertUnwindSafe(|| AutoCommit::load(bytes)));
        let doc = match loaded {
            Ok(Ok(doc)) => doc,
            Ok(Err(e)) => return Err(TaskError::Corrupt(e.to_string())),
            Err(_) => {
                return Err(TaskError::Corrupt(
                    "automerge could not decode the bytes".into(),
                ));
            }
        };
        TaskDoc::from_automerge(doc)
    }

    /// Wraps an automerge document received from sync, checking the schema (and
    /// upgrading an older one, in one commit).
    pub fn from_automerge(mut doc: AutoCommit) -> Result<TaskDoc, TaskError> {
        let schema = read_schema(&doc)?;
        if schema > SCHEMA_VERSION {
            return Err(TaskError::TooNew {
                found: schema,
                supported: SCHEMA_VERSION,
            });
        }
        if schema < SCHEMA_VERSION {
            upgrade(&mut doc, schema)?;
        }
        let task = TaskDoc { doc };
        task.parse()?;
        Ok(task)
    }

    /// Saves the whole document (compact form).
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Saves the whole document so that replicas holding the same changes produce the
    /// same bytes.
    ///
    /// automerge's own [`save`](TaskDoc::save) writes concurrent changes in the order they
    /// arrived, so two converged replicas usually save different bytes. This rebuilds the
    /// document from its changes in a canonical order (topological, ties by change hash)
    /// and saves that: it costs a full rebuild, so use it where bytes are compared (tests,
    /// content hashes), not on every write.
    pub fn save_canonical(&mut self) -> Vec<u8> {
        let changes = self.doc.get_changes(&[]);
        let mut fresh = AutoCommit::new();
        match fresh.apply_changes(canonical_order(changes)) {
            Ok(()) => fresh.save(),
            // Cannot happen for changes taken from a loaded document; fall back rather
            // than fail a save.
            Err(_) => self.doc.save(),
        }
    }

    /// The underlying automerge document, for the sync layer only.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// The current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Another replica of this document: same content, new random automerge actor id.
    pub fn fork(&mut self) -> TaskDoc {
        TaskDoc {
            doc: self.doc.fork(),
        }
    }

    /// Merges every change of `other` into this document (a test and tooling
    /// convenience; the sync layer exchanges changes itself).
    pub fn merge(&mut self, other: &mut TaskDoc) -> Result<(), TaskError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    // ---- crate-internal access for `validate` ----

    /// The automerge document, read-only.
    pub(super) fn am(&self) -> &AutoCommit {
        &self.doc
    }
}

/// Changes in topological order, ties broken by hash (Kahn's algorithm with a min-heap).
fn canonical_order(changes: Vec<automerge::Change>) -> Vec<automerge::Change> {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, HashMap};
    let index: HashMap<ChangeHash, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let mut waiting: Vec<usize> = vec![0; changes.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, c) in changes.iter().enumerate() {
        for d in c.deps() {
            if let Some(&p) = index.get(d) {
                waiting[i] += 1;
                children[p].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<(ChangeHash, usize)>> = changes
        .iter()
        .enumerate()
        .filter(|(i, _)| waiting[*i] == 0)
        .map(|(i, c)| Reverse((c.hash(), i)))
        .collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push(Reverse((changes[c].hash(), c)));
            }
        }
    }
    let mut slots: Vec<Option<automerge::Change>> = changes.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}
