//! Proof of work for making a report: a hashcash-style stamp the reporting page computes.
//!
//! A stamp is `1:<unix minute>:<client salt>:<nonce>`; it is valid when
//! SHA-256(`tarmim-integrity-pow:` ‖ stamp) starts with [`Pow::bits`] zero bits, its minute
//! is recent (not more than [`MAX_AGE_MINUTES`] old, at most one minute ahead), and it has
//! not been used before. No challenge is issued, so nothing ties a stamp to a client and
//! any replica can check one; the used-stamp set lives in memory only and is pruned as
//! stamps age out.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// The request header a report's stamp travels in: it is checked before the body is read,
/// so a report without work costs the server no more than its headers.
pub const HEADER: &str = "x-integrity-pow";
/// Domain separation prefix hashed before the stamp.
pub const PREFIX: &[u8] = b"tarmim-integrity-pow:";
/// Oldest acceptable stamp, in minutes.
pub const MAX_AGE_MINUTES: i64 = 10;
/// Most stamps remembered at once (beyond it, new reports wait for old stamps to expire).
const MAX_REMEMBERED: usize = 200_000;

/// Why a stamp is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    /// No stamp was sent.
    #[error(
        "this request needs a proof of work (header `X-Integrity-Pow`); the reporting page computes it"
    )]
    Missing,
    /// Not of the form `1:<minute>:<salt>:<nonce>`.
    #[error("malformed proof of work: expected `1:<minute>:<salt>:<nonce>`")]
    Malformed,
    /// Too old or from the future.
    #[error("the proof of work has expired; compute a new one")]
    Stale,
    /// Not enough zero bits.
    #[error("the proof of work is not sufficient: {needed} leading zero bits are needed")]
    Insufficient {
        /// Bits needed.
        needed: u8,
    },
    /// Seen before.
    #[error("this proof of work was already used")]
    Replayed,
    /// Too many stamps in flight.
    #[error("too many reports at the moment; try again in a few minutes")]
    Busy,
}

/// Checks stamps and remembers the used ones.
#[derive(Debug)]
pub struct Pow {
    bits: u8,
    used: Mutex<HashMap<[u8; 32], i64>>,
}

/// Leading zero bits of a hash.
pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut n = 0;
    for &b in hash {
        if b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

fn digest(stamp: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(PREFIX);
    h.update(stamp.as_bytes());
    h.finalize().into()
}

/// Finds a stamp for `minute` with `bits` zero bits (tests, benchmarks; the page does this
/// in JavaScript).
pub fn solve(bits: u8, minute: i64, salt: &str) -> String {
    let mut nonce: u64 = 0;
    loop {
        let stamp = format!("1:{minute}:{salt}:{nonce}");
        if leading_zero_bits(&digest(&stamp)) >= u32::from(bits) {
            return stamp;
        }
        nonce += 1;
    }
}

impl Pow {
    /// Requires `bits` leading zero bits (0: stamps are not required).
    pub fn new(bits: u8) -> Pow {
        Pow {
            bits,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Bits required.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Checks a stamp at `now_minute` and marks it used.
    pub fn check(&self, stamp: Option<&str>, now_minute: i64) -> Result<(), PowError> {
        if self.bits == 0 {
            return Ok(());
        }
        let stamp = stamp.ok_or(PowError::Missing)?;
        if stamp.len() > 128 {
            return Err(PowError::Malformed);
        }
        let mut parts = stamp.split(':');
        let (Some("1"), Some(minute), Some(salt), Some(nonce), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(PowError::Malformed);
        };
        let minute: i64 = minute.parse().map_err(|_| PowError::Malformed)?;
        if salt.is_empty() || nonce.parse::<u64>().is_err() {
            return Err(PowError::Malformed);
        }
        if minute < now_minute - MAX_AGE_MINUTES || minute > now_minute + 1 {
            return Err(PowError::Stale);
        }
        let d = digest(stamp);
        if leading_zero_bits(&d) < u32::from(self.bits) {
            return Err(PowError::Insufficient { needed: self.bits });
        }
        let mut used = match self.used.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, m| *m >= now_minute - MAX_AGE_MINUTES);
            if used.len() >= MAX_REMEMBERED {
                return Err(PowError::Busy);
            }
        }
        if used.insert(d, minute).is_some() {
            return Err(PowError::Replayed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_checked() {
        let pow = Pow::new(8);
        let now = 29_000_000;
        let good = solve(8, now, "abc");
        assert_eq!(pow.check(Some(&good), now), Ok(()));
        assert_eq!(pow.check(Some(&good), now), Err(PowError::Replayed));
        assert_eq!(pow.check(None, now), Err(PowError::Missing));
        assert_eq!(pow.check(Some("nonsense"), now), Err(PowError::Malformed));
        assert_eq!(pow.check(Some("1:x:abc:1"), now), Err(PowError::Malformed));
        let old = solve(8, now - 11, "abc");
        assert_eq!(pow.check(Some(&old), now), Err(PowError::Stale));
        let future = solve(8, now + 2, "abc");
        assert_eq!(pow.check(Some(&future), now), Err(PowError::Stale));
        // A stamp with fewer bits than required (found by searching for exactly 0 bits).
        let weak = (0..)
            .map(|n| format!("1:{now}:weak:{n}"))
            .find(|s| leading_zero_bits(&digest(s)) == 0)
            .unwrap();
        assert_eq!(
            pow.check(Some(&weak), now),
            Err(PowError::Insufficient { needed: 8 })
        );
        assert_eq!(Pow::new(0).check(None, now), Ok(()));
    }

    #[test]
    fn zero_bits_are_counted() {
        assert_eq!(leading_zero_bits(&[0, 0x10, 0]), 11);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
