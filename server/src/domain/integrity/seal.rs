//! Sealing: what a case's messages look like inside their `age` encryption, and the
//! checks made when one is opened.
//!
//! Every message (the report, a reporter's follow-up, an investigator's reply or status
//! change) is a JSON [`Envelope`] padded with spaces to a multiple of [`PAD`] bytes (so
//! stored sizes say little about lengths) and encrypted with age to the category's
//! investigators and the reporter's code-derived key. age's AEAD (ChaCha20-Poly1305 over
//! the payload, an HMAC over the header) detects any change to a stored ciphertext; the
//! envelope names its case and sequence number, so a valid ciphertext moved to another row
//! or case is detected too. Attachments are sealed separately and bound by the SHA-256 and
//! index their message's envelope lists.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// Plaintext is padded to a multiple of this many bytes.
pub const PAD: usize = 1024;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The person who made the report (holder of the receipt code).
    Reporter,
    /// An investigator (through the command-line tool).
    Investigator,
}

impl Author {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Reporter => "reporter",
            Author::Investigator => "investigator",
        }
    }
}

/// A case's status as the reporter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Made, not yet looked at.
    Received,
    /// An investigator is working on it.
    InReview,
    /// The investigators need more from the reporter.
    NeedsInformation,
    /// Finished.
    Closed,
}

impl CaseStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Received => "received",
            CaseStatus::InReview => "in_review",
            CaseStatus::NeedsInformation => "needs_information",
            CaseStatus::Closed => "closed",
        }
    }
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// The first message of a case.
    Report {
        /// Category code.
        category: String,
        /// What happened.
        text: String,
        /// Where, if given.
        place: Option<String>,
        /// When, if given (free text: "last spring" is allowed).
        date: Option<String>,
    },
    /// A follow-up message from either side.
    Message {
        /// The text.
        text: String,
    },
    /// A status change by an investigator, with an optional note to the reporter.
    Status {
        /// The new status.
        status: CaseStatus,
        /// A note shown with it.
        note: Option<String>,
    },
}

/// An attachment as its message lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Its index among the message's attachments.
    pub idx: u32,
    /// Media type after stripping (`image/jpeg` or `image/png`).
    pub content_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

/// One message, as sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version (1).
    pub v: u8,
    /// The case id this message belongs to.
    pub case: String,
    /// Its sequence number in the case.
    pub seq: i64,
    /// Who wrote it.
    pub author: Author,
    /// When, rounded down to the hour (milliseconds since the epoch).
    pub at: i64,
    /// What it says.
    pub body: Body,
    /// Its attachments.
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}

/// Why a sealed message could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// None of the given keys is a recipient.
    #[error("not encrypted to this key")]
    NotForYou,
    /// The ciphertext was altered or truncated (age's authentication failed).
    #[error("the stored ciphertext was altered: {0}")]
    Tampered(String),
    /// Authentic, but it belongs to another case or place in the case.
    #[error("a message of another case or position was put here (says case {case} #{seq})")]
    Misplaced {
        /// The case it names.
        case: String,
        /// The sequence number it names.
        seq: i64,
    },
    /// Authentic but not a message this version understands.
    #[error("unreadable message: {0}")]
    Malformed(String),
    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// Encrypts `plaintext` to every recipient.
pub fn encrypt(
    recipients: &[age::x25519::Recipient],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 256 + 200 * recipients.len());
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| SealError::Encrypt(e.to_string()))?;
    w.write_all(plaintext)
        .map_err(|e| SealError::Encrypt(e.to_string()))?;
    w.finish().map_err(|e| SealError::Encrypt(e.to_string()))?;
    Ok(out)
}

/// Decrypts with whichever identity is a recipient.
pub fn decrypt(
    identities: &[&age::x25519::Identity],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let decryptor =
        age::Decryptor::new_buffered(ciphertext).map_err(|e| SealError::Tampered(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| *i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => SealError::NotForYou,
            other => SealError::Tampered(other.to_string()),
        })?;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(|e| SealError::Tampered(e.to_string()))?;
    Ok(out)
}

/// Seals an envelope to `recipients`.
pub fn seal(
    envelope: &Envelope,
    recipients: &[age::x25519::Recipient],
) -> Result<Vec<u8>, SealError> {
    let mut json = serde_json::to_vec(envelope).map_err(|e| SealError::Encrypt(e.to_string()))?;
    let padded = json.len().div_ceil(PAD).max(1) * PAD;
    // Trailing spaces are JSON whitespace: the envelope still parses as it was.
    json.resize(padded, b' ');
    encrypt(recipients, &json)
}

/// Opens the envelope stored at (`case`, `seq`), checking it says so.
pub fn open(
    identities: &[&age::x25519::Identity],
    ciphertext: &[u8],
    case: &str,
    seq: i64,
) -> Result<Envelope, SealError> {
    let plain = decrypt(identities, ciphertext)?;
    let env: Envelope =
        serde_json::from_slice(&plain).map_err(|e| SealError::Malformed(e.to_string()))?;
    if env.v != 1 {
        return Err(SealError::Malformed(format!("envelope version {}", env.v)));
    }
    if env.case != case || env.seq != seq {
        return Err(SealError::Misplaced {
            case: env.case,
            seq: env.seq,
        });
    }
    Ok(env)
}

fn attachment_header(case: &str, seq: i64, idx: u32) -> String {
    format!("tarmim-attachment:1:{case}:{seq}:{idx}\n")
}

/// Seals attachment `idx` of message `seq` of `case`: the plaintext starts with a line
/// naming that place, so a valid ciphertext moved elsewhere is detected.
pub fn seal_attachment(
    case: &str,
    seq: i64,
    idx: u32,
    bytes: &[u8],
    recipients: &[age::x25519::Recipient],
) -> Result<Vec<u8>, SealError> {
    let mut plain = attachment_header(case, seq, idx).into_bytes();
    plain.extend_from_slice(bytes);
    encrypt(recipients, &plain)
}

/// Opens attachment `expected.idx` of message `seq` of `case` and checks it is the one
/// the message lists (place and SHA-256).
pub fn open_attachment(
    identities: &[&age::x25519::Identity],
    ciphertext: &[u8],
    case: &str,
    seq: i64,
    expected: &AttachmentRef,
) -> Result<Vec<u8>, SealError> {
    let plain = decrypt(identities, ciphertext)?;
    let header = attachment_header(case, seq, expected.idx);
    let misplaced = || SealError::Misplaced {
        case: format!("{case} (attachment {})", expected.idx),
        seq,
    };
    let body = plain
        .strip_prefix(header.as_bytes())
        .ok_or_else(misplaced)?;
    if sha256_hex(body) != expected.sha256 {
        return Err(misplaced());
    }
    Ok(body.to_vec())
}

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The age identity whose secret scalar is `bytes` (X25519 clamps it).
pub fn identity_from_bytes(bytes: &[u8; 32]) -> age::x25519::Identity {
    // age only builds identities from their Bech32 text: encode, then parse.
    let hrp = match bech32::Hrp::parse("age-secret-key-") {
        Ok(h) => h,
        Err(_) => unreachable!("a constant, valid human-readable part"),
    };
    let text = zeroize::Zeroizing::new(match bech32::encode::<bech32::Bech32>(hrp, bytes) {
        Ok(t) => t.to_uppercase(),
        Err(_) => unreachable!("32 bytes always fit a Bech32 string"),
    });
    match text.parse() {
        Ok(i) => i,
        Err(_) => unreachable!("age parses the Bech32 text it defines"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(case: &str, seq: i64) -> Envelope {
        Envelope {
            v: 1,
            case: case.into(),
            seq,
            author: Author::Reporter,
            at: 0,
            body: Body::Message {
                text: "hello".into(),
            },
            attachments: vec![],
        }
    }

    #[test]
    fn sealed_messages_open_only_where_they_belong() {
        let inv = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let sealed = seal(&env("C1", 2), &[inv.to_public()]).unwrap();
        assert_eq!(open(&[&inv], &sealed, "C1", 2).unwrap(), env("C1", 2));
        assert!(matches!(
            open(&[&other], &sealed, "C1", 2),
            Err(SealError::NotForYou)
        ));
        assert!(matches!(
            open(&[&inv], &sealed, "C1", 3),
            Err(SealError::Misplaced { .. })
        ));
        assert!(matches!(
            open(&[&inv], &sealed, "C2", 2),
            Err(SealError::Misplaced { .. })
        ));
        let mut bad = sealed.clone();
        let last = bad.len() - 5;
        bad[last] ^= 1;
        assert!(matches!(
            open(&[&inv], &bad, "C1", 2),
            Err(SealError::Tampered(_))
        ));
        bad.truncate(40);
        assert!(matches!(
            open(&[&inv], &bad, "C1", 2),
            Err(SealError::Tampered(_))
        ));
    }

    #[test]
    fn sizes_are_padded() {
        let inv = age::x25519::Identity::generate();
        let mut short = env("C1", 1);
        let a = decrypt(&[&inv], &seal(&short, &[inv.to_public()]).unwrap()).unwrap();
        short.body = Body::Message {
            text: "x".repeat(500),
        };
        let b = decrypt(&[&inv], &seal(&short, &[inv.to_public()]).unwrap()).unwrap();
        // The plaintexts are the same size; the ciphertexts differ only by age's random
        // "grease" header stanza, which is independent of the content.
        assert_eq!(a.len(), PAD);
        assert_eq!(b.len(), PAD);
    }

    #[test]
    fn derived_identities_are_stable() {
        let a = identity_from_bytes(&[7; 32]).to_public().to_string();
        let b = identity_from_bytes(&[7; 32]).to_public().to_string();
        let c = identity_from_bytes(&[8; 32]).to_public().to_string();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("age1"));
    }
}
