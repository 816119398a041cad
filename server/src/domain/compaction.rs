//! When documents' change histories are compacted.
//!
//! The store keeps every commit's changes so that a device that was away gets only what it
//! missed; history older than that is dead weight. Compacting one document costs one
//! small transaction, so it is done amortised, off the sync path: after a commit whose
//! sequence number is a multiple of [`EVERY`], that commit's document keeps its last
//! [`KEEP_COMMITS`] commits of changes. A busy document is picked in proportion to how
//! often it changes, an idle one costs nothing, and no scan of the table is ever needed.
//! A device further behind than the kept history gets the document's snapshot instead
//! (`ChangesSince::Compacted`), which is always correct.

use crate::storage::{Db, DocStore};
use sync_core::session::server::Committed;

/// One commit in this many triggers a compaction of its document.
pub const EVERY: u64 = 32;
/// How many of a document's latest commits keep their changes.
pub const KEEP_COMMITS: usize = 64;

/// Compacts, in the background, the documents of `committed` that the rule picks.
pub fn after_commits(db: &Db, committed: &[Committed]) {
    for c in committed.iter().filter(|c| c.seq % EVERY == 0) {
        let db = db.clone();
        let doc = c.doc.clone();
        tokio::spawn(async move {
            match db.compact(&doc, KEEP_COMMITS).await {
                Ok(out) if out.dropped > 0 => {
                    metrics::counter!("tarmim_compacted_changes_total").increment(out.dropped);
                    tracing::debug!(doc = %doc, dropped = out.dropped, "history compacted");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(doc = %doc, error = %e, "compaction failed"),
            }
        });
    }
}
