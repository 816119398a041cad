//! Receipt codes: what a reporter writes down to follow up a case.
//!
//! A code is 24 Crockford base32 symbols ([`crate::base::crockford`]) in six groups of
//! four (`7KQF-2M9X-…`): the first 8 (40 bits) are the case's **lookup** part, stored in the
//! clear so the case can be found without a fast index of the secret; the last 16 (80 bits)
//! are the **secret**, never stored. The secret is stretched with argon2id under a per-case
//! salt into a master key; HKDF splits it into a *verifier* (stored, compared in constant
//! time) and the reporter's X25519 key (never stored) that replies are encrypted to. So a
//! copy of the database cannot turn a verifier back into a code except by argon2 per guess
//! of an 80-bit secret.
//!
//! [`Verifier::open`] does exactly one argon2 derivation whether the lookup exists, the
//! case has expired or the secret is wrong, and the caller gives the same answer for all
//! three; it counts derivations so tests can check that every path did the work.

use crate::base::crockford;
use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Symbols in the lookup part.
pub const LOOKUP_SYMBOLS: usize = 8;
/// Symbols in the secret part.
pub const SECRET_SYMBOLS: usize = 16;
/// Bytes of the secret (80 bits).
pub const SECRET_BYTES: usize = 10;
const VERIFIER_INFO: &[u8] = b"tarmim/integrity/receipt-verifier/v1";
const REPORTER_KEY_INFO: &[u8] = b"tarmim/integrity/reporter-key/v1";

/// A receipt code, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptCode {
    lookup: String,
    secret: Zeroizing<[u8; SECRET_BYTES]>,
}

impl fmt::Debug for ReceiptCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret (it would end up in a log).
        write!(f, "ReceiptCode({}-…)", self.lookup)
    }
}

/// A string that is not a receipt code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a receipt code: expected 24 letters and digits in groups of four, like 7KQF-2M9X-AB3D-…"
)]
pub struct MalformedCode;

impl ReceiptCode {
    /// A fresh random code (40-bit lookup, 80-bit secret).
    pub fn generate() -> ReceiptCode {
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        rand::RngCore::fill_bytes(&mut rand::rng(), secret.as_mut());
        ReceiptCode {
            lookup: crockford::random(LOOKUP_SYMBOLS),
            secret,
        }
    }

    /// Parses what a person typed: case-insensitive, spaces and hyphens ignored, `O` read
    /// as `0` and `I`/`L` as `1` (Crockford).
    pub fn parse(text: &str) -> Result<ReceiptCode, MalformedCode> {
        let symbols = Zeroizing::new(crockford::read(text).ok_or(MalformedCode)?);
        if symbols.len() != LOOKUP_SYMBOLS + SECRET_SYMBOLS {
            return Err(MalformedCode);
        }
        // Canonical symbols are ASCII: splitting at a symbol count is splitting at a byte.
        let (lookup, secret_symbols) = symbols.split_at(LOOKUP_SYMBOLS);
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        crockford::decode(secret_symbols, secret.as_mut()).ok_or(MalformedCode)?;
        Ok(ReceiptCode {
            lookup: lookup.to_owned(),
            secret,
        })
    }

    /// The public lookup part (8 symbols).
    pub fn lookup(&self) -> &str {
        &self.lookup
    }

    /// The code as shown to the reporter: six groups of four symbols.
    pub fn display(&self) -> Zeroizing<String> {
        let secret = Zeroizing::new(crockford::encode(self.secret.as_ref()));
        let all = Zeroizing::new(format!("{}{}", self.lookup, secret.as_str()));
        Zeroizing::new(crockford::grouped(&all))
    }
}

/// Argon2id parameters, stored with each case so changing them keeps old codes working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
}

impl KdfParams {
    /// `argon2id:m=19456,t=2,p=1`.
    pub fn encode(&self) -> String {
        format!("argon2id:m={},t={},p=1", self.memory_kib, self.iterations)
    }

    /// Reads [`KdfParams::encode`]'s form.
    pub fn decode(s: &str) -> Option<KdfParams> {
        let rest = s.strip_prefix("argon2id:m=")?;
        let (m, rest) = rest.split_once(",t=")?;
        let t = rest.strip_suffix(",p=1")?;
        Some(KdfParams {
            memory_kib: m.parse().ok()?,
            iterations: t.parse().ok()?,
        })
    }
}

/// What is stored for a case's code: the salt, the parameters and the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// Per-case random salt.
    pub salt: Vec<u8>,
    /// Argon2 parameters used.
    pub params: KdfParams,
    /// HKDF(argon2id(secret)) under the verifier label.
    pub verifier: Vec<u8>,
}

/// What a successful derivation yields beside the verifier: the reporter's key.
pub struct Derived {
    verifier: [u8; 32],
    reporter_key: Zeroizing<[u8; 32]>,
}

impl Derived {
    /// The reporter's age identity (X25519), derived from the code; never stored.
    pub fn reporter_identity(&self) -> age::x25519::Identity {
        crate::domain::integrity::seal::identity_from_bytes(&self.reporter_key)
    }
}

/// Stretches `secret` under `salt`: the one slow step.
fn derive(secret: &[u8], salt: &[u8], params: KdfParams) -> Result<Derived, String> {
    let p = Params::new(params.memory_kib, params.iterations, 1, Some(32))
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    let mut master = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(secret, salt, master.as_mut())
        .map_err(|e| format!("argon2: {e}"))?;
    let hk = Hkdf::<Sha256>::new(None, master.as_ref());
    let mut verifier = [0u8; 32];
    let mut reporter_key = Zeroizing::new([0u8; 32]);
    hk.expand(VERIFIER_INFO, &mut verifier)
        .map_err(|e| format!("hkdf: {e}"))?;
    hk.expand(REPORTER_KEY_INFO, reporter_key.as_mut())
        .map_err(|e| format!("hkdf: {e}"))?;
    Ok(Derived {
        verifier,
        reporter_key,
    })
}

/// Runs receipt-code derivations: bounded concurrency, off the async threads, counted.
#[derive(Clone)]
pub struct Verifier {
    params: KdfParams,
    dummy: Arc<StoredCode>,
    permits: Arc<tokio::sync::Semaphore>,
    derivations: Arc<AtomicU64>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Why a code did not open a case. Callers answer all of these the same way.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Unknown lookup, expired case or wrong secret: deliberately one variant.
    #[error("no open case matches this receipt code")]
    NoMatch,
    /// The derivation itself failed (bad stored parameters, a stopped runtime).
    #[error("receipt code check failed: {0}")]
    Internal(String),
}

impl Verifier {
    /// A verifier deriving new codes with `params`, `concurrency` at a time.
    pub fn new(params: KdfParams, concurrency: usize) -> Verifier {
        let mut salt = vec![0u8; 16];
        let mut verifier = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut verifier);
        Verifier {
            params,
            // A case that matches nothing: used when the lookup is unknown, so that path
            // does the same argon2 work as the others.
            dummy: Arc::new(StoredCode {
                salt,
                params,
                verifier,
            }),
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            derivations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many argon2 derivations this verifier has run.
    pub fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::SeqCst)
    }

    async fn run(&self, secret: [u8; SECRET_BYTES], stored: StoredCode) -> Result<Derived, String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| format!("argon2 permits: {e}"))?;
        let counter = Arc::clone(&self.derivations);
        let secret = Zeroizing::new(secret);
        tokio::task::spawn_blocking(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            derive(secret.as_ref(), &stored.salt, stored.params)
        })
        .await
        .map_err(|e| format!("argon2 task: {e}"))?
    }

    /// Makes the stored form of a new code, and the derived keys.
    pub async fn enroll(&self, code: &ReceiptCode) -> Result<(StoredCode, Derived), String> {
        let mut salt = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let placeholder = StoredCode {
            salt,
            params: self.params,
            verifier: Vec::new(),
        };
        let derived = self.run(*code.secret, placeholder.clone()).await?;
        let stored = StoredCode {
            verifier: derived.verifier.to_vec(),
            ..placeholder
        };
        Ok((stored, derived))
    }

    /// Checks `code` against a case's stored code, if there is one and it is still valid.
    /// Always runs one derivation; `NoMatch` for every kind of failure.
    pub async fn open(
        &self,
        code: &ReceiptCode,
        stored: Option<&StoredCode>,
        valid: bool,
    ) -> Result<Derived, OpenError> {
        let target = stored.cloned().unwrap_or_else(|| (*self.dummy).clone());
        let derived = self
            .run(*code.secret, target.clone())
            .await
            .map_err(OpenError::Internal)?;
        let matches: bool = derived.verifier.ct_eq(target.verifier.as_slice()).into();
        if matches && valid && stored.is_some() {
            Ok(derived)
        } else {
            Err(OpenError::NoMatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_tolerate_typing() {
        for _ in 0..50 {
            let c = ReceiptCode::generate();
            let shown = c.display();
            assert_eq!(shown.len(), 29);
            assert_eq!(shown.matches('-').count(), 5);
            assert_eq!(ReceiptCode::parse(&shown).unwrap(), c);
            let sloppy = shown.to_lowercase().replace('-', " ").replace('0', "o");
            assert_eq!(ReceiptCode::parse(&sloppy).unwrap(), c);
        }
    }

    #[test]
    fn the_text_form_is_stable() {
        // Codes handed out must keep opening their cases: the secret is the last 16
        // symbols' bits, big-endian.
        let c = ReceiptCode::parse("7kqf-2m9x 0123-4567-o123-4567").unwrap();
        assert_eq!(c.lookup(), "7KQF2M9X");
        assert_eq!(
            *c.secret,
            [0x00, 0x44, 0x32, 0x14, 0xC7, 0x00, 0x44, 0x32, 0x14, 0xC7]
        );
        assert_eq!(c.display().as_str(), "7KQF-2M9X-0123-4567-0123-4567");
    }

    #[test]
    fn malformed_codes_are_refused() {
        let good = ReceiptCode::generate().display().to_string();
        assert!(ReceiptCode::parse("").is_err());
        assert!(ReceiptCode::parse(&good[..good.len() - 1]).is_err());
        assert!(ReceiptCode::parse(&format!("{good}7")).is_err());
        assert!(ReceiptCode::parse(&good.replace('-', "U")).is_err());
        assert!(ReceiptCode::parse("ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ").is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = ReceiptCode::generate();
        let shown = c.display();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(&shown[10..]));
    }

    #[test]
    fn params_round_trip() {
        let p = KdfParams {
            memory_kib: 19_456,
            iterations: 2,
        };
        assert_eq!(KdfParams::decode(&p.encode()), Some(p));
        assert_eq!(KdfParams::decode("argon2id:m=x,t=2,p=1"), None);
    }

    #[tokio::test]
    async fn every_path_derives_once() {
        let v = Verifier::new(
            KdfParams {
                memory_kib: 64,
                iterations: 1,
            },
            1,
        );
        let code = ReceiptCode::generate();
        let (stored, _) = v.enroll(&code).await.unwrap();
        assert_eq!(v.derivations(), 1);
        assert!(v.open(&code, Some(&stored), true).await.is_ok());
        assert_eq!(v.derivations(), 2);
        assert!(v.open(&code, Some(&stored), false).await.is_err());
        assert_eq!(v.derivations(), 3);
        assert!(v.open(&code, None, true).await.is_err());
        assert_eq!(v.derivations(), 4);
        let other = ReceiptCode::generate();
        assert!(v.open(&other, Some(&stored), true).await.is_err());
        assert_eq!(v.derivations(), 5);
    }
}
