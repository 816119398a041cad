//! The one door through which bytes from another party enter automerge.
//!
//! automerge 0.12 can panic on malformed input instead of returning an error (fuzzing
//! found an `unwrap` in its column decoder, `hexane`, reached by a 64-byte document). A
//! panic on a phone would kill the app; on the server it would drop the connection
//! without a clear answer. Every decode or merge of received bytes goes through here, so
//! such input is refused like any other malformed input. This needs unwinding panics
//! (Rust's default, also on Android and iOS); a build with `panic = "abort"` loses it.
//!
//! automerge also inflates a compressed change chunk whole, with no limit: 8 MiB of
//! DEFLATE can become gigabytes. [`decode_change`] reads the chunk's header itself and
//! counts the inflated bytes (into nothing) up to [`MAX_INFLATED_CHANGE_BYTES`] before
//! automerge sees them, and refuses any chunk that is not a change. A push of many
//! changes is bounded as a whole too ([`decode_changes`]): a thousand valid changes each
//! inflating to 15 MiB would otherwise be held in memory at once.

use automerge::{AutoCommit, Change};
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The largest a received change may be once inflated, bytes. A task's change is a few
/// kilobytes; photos travel separately.
pub const MAX_INFLATED_CHANGE_BYTES: u64 = 16 * 1024 * 1024;

/// automerge's chunk magic.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk types (automerge's storage format).
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

/// Why received change bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A compressed change that inflates to more than the limit (a compression bomb).
    #[error("a change inflates to more than {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// Changes that together inflate to more than the limit (many small bombs in one
    /// push).
    #[error("a push of changes inflates to more than {limit} bytes")]
    PushTooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// A chunk that is not a change (a document, a bundle).
    #[error("not a change chunk (type {0})")]
    NotAChange(u8),
    /// Anything else automerge refuses.
    #[error("a change does not decode: {0}")]
    Malformed(String),
}

/// Decodes the changes of one push, refusing them when together they inflate to more
/// than `budget` bytes (each change also within [`MAX_INFLATED_CHANGE_BYTES`]). The
/// budget is checked before automerge inflates each change, so at most `budget` bytes
/// of decoded changes are ever held.
pub fn decode_changes(list: Vec<Vec<u8>>, budget: u64) -> Result<Vec<Change>, DecodeError> {
    let mut left = budget;
    let mut out = Vec::with_capacity(list.len());
    for bytes in list {
        let limit = left.min(MAX_INFLATED_CHANGE_BYTES);
        let size = match check_inflated(&bytes, limit) {
            Err(DecodeError::TooLarge { .. }) if limit < MAX_INFLATED_CHANGE_BYTES => {
                return Err(DecodeError::PushTooLarge { limit: budget });
            }
            other => other?,
        };
        left = left.saturating_sub(size);
        out.push(decode_unchecked(bytes)?);
    }
    Ok(out)
}

/// Decodes one received change.
pub fn decode_change(bytes: Vec<u8>) -> Result<Change, DecodeError> {
    check_inflated(&bytes, MAX_INFLATED_CHANGE_BYTES)?;
    decode_unchecked(bytes)
}

fn decode_unchecked(bytes: Vec<u8>) -> Result<Change, DecodeError> {
    match catch_unwind(move || Change::from_bytes(bytes)) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(DecodeError::Malformed(e.to_string())),
        Err(_) => Err(DecodeError::Malformed("automerge gave up on it".into())),
    }
}

/// Refuses a chunk that is not a change, or a change that inflates to more than `limit`
/// bytes; returns its inflated size (an uncompressed chunk: its length). Bytes this
/// cannot parse are left to automerge to refuse (their length is returned).
pub fn check_inflated(bytes: &[u8], limit: u64) -> Result<u64, DecodeError> {
    let len = bytes.len() as u64;
    if bytes.len() < 10 || bytes[..4] != MAGIC {
        return Ok(len);
    }
    let kind = bytes[8];
    if kind == CHUNK_CHANGE {
        return if len > limit {
            Err(DecodeError::TooLarge { limit })
        } else {
            Ok(len)
        };
    }
    if kind != CHUNK_COMPRESSED {
        return Err(DecodeError::NotAChange(kind));
    }
    let Some((data_len, used)) = uleb128(&bytes[9..]) else {
        return Ok(len);
    };
    let start = 9 + used;
    let Some(data) = usize::try_from(data_len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .and_then(|end| bytes.get(start..end))
    else {
        return Ok(len);
    };
    let mut inflated = flate2::bufread::DeflateDecoder::new(data).take(limit.saturating_add(1));
    match std::io::copy(&mut inflated, &mut std::io::sink()) {
        Ok(n) if n > limit => Err(DecodeError::TooLarge { limit }),
        // The header is kept beside the inflated body.
        Ok(n) => Ok(n.saturating_add(start as u64)),
        // Not DEFLATE: automerge refuses it.
        Err(_) => Ok(len),
    }
}

/// An unsigned LEB128 number and the bytes it took.
fn uleb128(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
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

    /// A compressed change chunk inflating to `mib` MiB of zeros: one fully flushed
    /// DEFLATE segment of 1 MiB repeated (each is self-contained), then an empty final
    /// block; building it costs kilobytes per inflated MiB.
    fn bomb(mib: usize) -> Vec<u8> {
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let mut segment = Vec::with_capacity(64 * 1024);
        c.compress_vec(
            &vec![0u8; 1 << 20],
            &mut segment,
            flate2::FlushCompress::Full,
        )
        .unwrap();
        let mut data = segment.repeat(mib);
        data.extend_from_slice(&[0x03, 0x00]);
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, CHUNK_COMPRESSED]);
        let mut len = data.len() as u64;
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend(data);
        out
    }

    #[test]
    fn a_compressed_change_bomb_is_refused_before_automerge_inflates_it() {
        // 4 GiB once inflated: refused after counting 16 MiB of it.
        assert_eq!(
            decode_change(bomb(4096)).unwrap_err(),
            DecodeError::TooLarge {
                limit: MAX_INFLATED_CHANGE_BYTES
            }
        );
        // A real change still decodes, compressed (its text compresses well) or not.
        let mut doc = AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "v".repeat(1000))
            .unwrap();
        let mut change = doc.get_last_local_change().unwrap();
        let compressed = change.bytes().to_vec();
        assert_eq!(compressed[8], CHUNK_COMPRESSED);
        assert!(decode_change(compressed).is_ok());
        assert!(decode_change(change.raw_bytes().to_vec()).is_ok());
        assert!(matches!(
            decode_change(doc.save()),
            Err(DecodeError::NotAChange(0))
        ));
    }

    #[test]
    fn a_push_is_bounded_as_a_whole_not_only_per_change() {
        // A valid change holding 1 MiB of text compresses to about a kilobyte.
        let mut doc = AutoCommit::new();
        automerge::transaction::Transactable::put(
            &mut doc,
            automerge::ROOT,
            "pad",
            "0".repeat(1 << 20),
        )
        .unwrap();
        let compressed = doc.get_last_local_change().unwrap().bytes().to_vec();
        assert!(compressed.len() < 16 * 1024, "{}", compressed.len());
        let push = vec![compressed; 10];
        assert_eq!(
            decode_changes(push.clone(), 4 << 20).unwrap_err(),
            DecodeError::PushTooLarge { limit: 4 << 20 }
        );
        assert_eq!(decode_changes(push, 16 << 20).unwrap().len(), 10);
        // An uncompressed change counts its own length.
        let raw = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        assert!(matches!(
            decode_changes(vec![raw], 1 << 19),
            Err(DecodeError::PushTooLarge { .. })
        ));
    }

    #[test]
    fn malformed_bytes_are_refused_not_panicked_on() {
        assert!(decode_change(FUZZ_CRASH.to_vec()).is_err());
        let mut doc = AutoCommit::new();
        assert!(load_incremental(&mut doc, FUZZ_CRASH).is_err());
        assert!(crate::task::TaskDoc::load(FUZZ_CRASH).is_err());
    }
}
