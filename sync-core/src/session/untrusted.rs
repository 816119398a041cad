//! The one door through which bytes from another party enter automerge.
//!
//! automerge 0.12 can panic on malformed input instead of returning an error (fuzzing
//! found an `unwrap` in its column decoder, `hexane`, reached by a 64-byte document). A
//! panic on a phone would kill the app; on the server it would drop the connection
//! without a clear answer. Every decode or merge of received bytes goes through here, so
//! such input is refused like any other malformed input. This needs unwinding panics
//! (Rust's default, also on Android and iOS); a build with `panic = "abort"` loses it.

use automerge::{AutoCommit, Change};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Decodes one received change.
pub fn decode_change(bytes: Vec<u8>) -> Result<Change, String> {
    match catch_unwind(move || Change::from_bytes(bytes)) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("a change does not decode: {e}")),
        Err(_) => Err("a change does not decode (automerge gave up on it)".into()),
    }
}

/// Applies received changes to `doc`. On error `doc` may hold part of them; callers apply
/// to a copy they can throw away.
pub fn apply_changes(doc: &mut AutoCommit, changes: Vec<Change>) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| doc.apply_changes(changes))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("changes do not apply: {e}")),
        Err(_) => Err("changes do not apply (automerge gave up on them)".into()),
    }
}

/// Merges a received saved document (or concatenated changes) into `doc`.
pub fn load_incremental(doc: &mut AutoCommit, bytes: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| doc.load_incremental(bytes))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("document does not load: {e}")),
        Err(_) => Err("document does not load (automerge gave up on it)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input the document fuzzer found; as a change or a merge it must be refused, not
    /// panic.
    const FUZZ_CRASH: &[u8] = &[
        0x85, 0x6f, 0x4a, 0x83, 0x25, 0x93, 0x0, 0x0, 0x3, 0x29, 0x0, 0x0, 0x3, 0x3, 0x3, 0x3, 0x3,
        0x3, 0x3, 0x3, 0x3, 0x3, 0x13, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x23, 0x3,
        0x3, 0x3, 0x0, 0x0, 0x0, 0xff, 0xff, 0x7a, 0xcb, 0x11, 0xc9, 0x2c, 0x80, 0x0, 0x0, 0x0,
        0x7a, 0xd, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0,
    ];

    #[test]
    fn malformed_bytes_are_refused_not_panicked_on() {
        assert!(decode_change(FUZZ_CRASH.to_vec()).is_err());
        let mut doc = AutoCommit::new();
        assert!(load_incremental(&mut doc, FUZZ_CRASH).is_err());
        assert!(crate::task::TaskDoc::load(FUZZ_CRASH).is_err());
    }
}
