//! The schema version a document declares, and the steps that upgrade an older document
//! to [`SCHEMA_VERSION`] when it is loaded.

use super::TaskError;
use super::layout::{K_REOPEN_WINDOW, K_SCHEMA};
use super::reads::scalar;
use crate::ids::Millis;
use crate::task::model::SCHEMA_VERSION;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ROOT, ReadDoc, ScalarValue};

/// The reopen window given to documents upgraded from schema 0, which had none: 7 days.
pub const DEFAULT_REOPEN_WINDOW_MS: Millis = 7 * 24 * 60 * 60 * 1000;

/// One upgrade step: turns a document of the version it is keyed by into the next version.
/// It must only add or fix fields, never touch the event log, and it must be idempotent:
/// several replicas may upgrade the same document concurrently and their writes merge.
type Upgrade = fn(&mut AutoCommit) -> Result<(), AutomergeError>;

/// The upgrade steps, keyed by the version they upgrade *from*. `load` runs them in order.
const UPGRADES: &[(u64, Upgrade)] = &[(0, upgrade_v0_to_v1)];

/// Schema 0 had no reopen window; schema 1 stores one so every replica folds with it.
fn upgrade_v0_to_v1(doc: &mut AutoCommit) -> Result<(), AutomergeError> {
    if doc.get(ROOT, K_REOPEN_WINDOW)?.is_none() {
        doc.put(ROOT, K_REOPEN_WINDOW, DEFAULT_REOPEN_WINDOW_MS)?;
    }
    Ok(())
}

pub(super) fn read_schema(doc: &AutoCommit) -> Result<u64, TaskError> {
    match scalar(doc, &ROOT, K_SCHEMA, "task")? {
        Some(ScalarValue::Uint(v)) => Ok(v),
        Some(ScalarValue::Int(v)) if v >= 0 => Ok(v.unsigned_abs()),
        Some(_) => Err(TaskError::Schema("schema is not a version number".into())),
        None => Err(TaskError::Schema("no schema version".into())),
    }
}

/// Runs the upgrade steps from `from` to [`SCHEMA_VERSION`] as one commit.
pub(super) fn upgrade(doc: &mut AutoCommit, from: u64) -> Result<(), TaskError> {
    if doc.pending_ops() > 0 {
        doc.commit();
    }
    let result = (|| -> Result<(), TaskError> {
        for v in from..SCHEMA_VERSION {
            let step = UPGRADES
                .iter()
                .find(|(at, _)| *at == v)
                .map(|(_, f)| *f)
                .ok_or_else(|| TaskError::Schema(format!("no upgrade from schema {v}")))?;
            step(doc)?;
        }
        doc.put(ROOT, K_SCHEMA, SCHEMA_VERSION)?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            doc.commit();
            Ok(())
        }
        Err(e) => {
            doc.rollback();
            Err(e)
        }
    }
}
