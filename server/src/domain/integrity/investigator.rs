//! The investigators' tool (`tarmim-server integrity …`): make a key pair, list the cases
//! one can read, read a case (and save its attachments), reply, set a status.
//!
//! It works on the database directly, like the other admin commands, and decrypts on the
//! investigator's machine with a private key read from a file; the server never sees that
//! key. Every message read is checked: age authenticates the ciphertext, and the envelope
//! must name the case and position it is stored at. A message failing either check is
//! shown as such and makes the command exit with an error.

use super::seal::{self, Author, Body, CaseStatus, Envelope, SealError};
use super::{IntegrityConfig, IntegrityError, current_status};
use crate::storage::integrity::{self as store, CaseRow};
use crate::storage::{Db, DbError};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Failures of the investigators' tool.
#[derive(Debug, thiserror::Error)]
pub enum InvestigatorError {
    /// The key file cannot be read or holds no age identity.
    #[error("identity file {path}: {why}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The key file exists already (keygen never overwrites).
    #[error("{0} exists already; keygen never overwrites a key")]
    Exists(PathBuf),
    /// Writing a file failed.
    #[error("{path}: {why}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// No such case, or not one this key can read.
    #[error("no case {0} readable with this key")]
    NoCase(String),
    /// Some messages failed their integrity check (they were shown as such).
    #[error("{0} stored item(s) of this case failed their integrity check (see above)")]
    Tampered(usize),
    /// Bad input.
    #[error("{0}")]
    Usage(String),
    /// The channel failed.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Reads an age identity file (`age-keygen`'s format: comments, then `AGE-SECRET-KEY-1…`).
pub fn load_identity(path: &Path) -> Result<age::x25519::Identity, InvestigatorError> {
    let err = |why: String| InvestigatorError::Identity {
        path: path.to_owned(),
        why,
    };
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .ok_or_else(|| err("no AGE-SECRET-KEY-1… line".into()))?;
    line.parse()
        .map_err(|e: &str| err(format!("not a valid age identity: {e}")))
}

/// Makes a key pair: writes the private key to `path` (mode 0600, never overwriting) and
/// returns the public key to put in the server's `[integrity]` configuration.
pub fn keygen(path: &Path, now: i64) -> Result<String, InvestigatorError> {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => InvestigatorError::Exists(path.to_owned()),
        _ => InvestigatorError::Io {
            path: path.to_owned(),
            why: e.to_string(),
        },
    })?;
    let secret = age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned();
    let secret = zeroize::Zeroizing::new(secret);
    let text = zeroize::Zeroizing::new(format!(
        "# Tarmim integrity investigator key, created {} (ms since epoch)\n# public key: {public}\n{}\n",
        now,
        secret.as_str()
    ));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| InvestigatorError::Io {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
    Ok(public)
}

/// One case in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// Case id.
    pub id: String,
    /// Created (hour).
    pub created_at: i64,
    /// Newest message (hour).
    pub last_at: i64,
    /// Messages.
    pub messages: i64,
    /// Category (from the report), or why it could not be read.
    pub category: Result<String, String>,
    /// Current status.
    pub status: CaseStatus,
    /// Who wrote the newest readable message.
    pub last_from: Option<Author>,
}

/// The cases whose report this key opens (cases of other categories are skipped; a case
/// whose report fails its check is listed with the failure).
pub async fn list(
    db: &Db,
    identity: &age::x25519::Identity,
) -> Result<Vec<Listing>, InvestigatorError> {
    let mut out = Vec::new();
    for summary in store::cases(db).await? {
        let case = &summary.case;
        let rows = store::messages(db, &case.id).await?;
        let mut envs = Vec::new();
        let mut category = Err("the report is missing".to_owned());
        let mut readable = false;
        for row in &rows {
            match seal::open(&[identity], &row.ciphertext, &case.id, row.seq) {
                Ok(env) => {
                    readable = true;
                    if let (1, Body::Report { category: c, .. }) = (row.seq, &env.body) {
                        category = Ok(c.clone());
                    }
                    envs.push(env);
                }
                Err(SealError::NotForYou) => {}
                Err(e) => {
                    readable = true;
                    if row.seq == 1 {
                        category = Err(e.to_string());
                    }
                }
            }
        }
        if !readable {
            continue;
        }
        out.push(Listing {
            id: case.id.clone(),
            created_at: case.created_at,
            last_at: summary.last_at,
            messages: summary.messages,
            category,
            status: current_status(envs.iter()),
            last_from: envs.last().map(|e| e.author),
        });
    }
    Ok(out)
}

/// A case as an investigator reads it.
#[derive(Debug)]
pub struct CaseView {
    /// The case.
    pub case: CaseRow,
    /// Each message, or why it failed (with its position).
    pub messages: Vec<Result<Envelope, (i64, SealError)>>,
    /// Attachments written to disk.
    pub saved: Vec<PathBuf>,
    /// Attachments that failed their check.
    pub bad_attachments: Vec<(i64, i64, SealError)>,
}

impl CaseView {
    /// Items that failed their checks.
    pub fn failures(&self) -> usize {
        self.messages.iter().filter(|m| m.is_err()).count() + self.bad_attachments.len()
    }
}

/// Reads case `id`; with `save_to`, decrypts its attachments into that folder.
pub async fn read(
    db: &Db,
    identity: &age::x25519::Identity,
    id: &str,
    save_to: Option<&Path>,
) -> Result<CaseView, InvestigatorError> {
    let case = store::case_by_id(db, id)
        .await?
        .ok_or_else(|| InvestigatorError::NoCase(id.to_owned()))?;
    let mut messages = Vec::new();
    let mut any_for_us = false;
    for row in store::messages(db, &case.id).await? {
        match seal::open(&[identity], &row.ciphertext, &case.id, row.seq) {
            Ok(env) => {
                any_for_us = true;
                messages.push(Ok(env));
            }
            Err(SealError::NotForYou) => messages.push(Err((row.seq, SealError::NotForYou))),
            Err(e) => {
                any_for_us = true;
                messages.push(Err((row.seq, e)));
            }
        }
    }
    if !any_for_us {
        return Err(InvestigatorError::NoCase(id.to_owned()));
    }
    let mut saved = Vec::new();
    let mut bad_attachments = Vec::new();
    let attachments = store::attachments(db, &case.id).await?;
    for a in &attachments {
        let listed = messages.iter().find_map(|m| match m {
            Ok(env) if env.seq == a.seq => {
                env.attachments.iter().find(|r| i64::from(r.idx) == a.idx)
            }
            _ => None,
        });
        let Some(expected) = listed else {
            bad_attachments.push((
                a.seq,
                a.idx,
                SealError::Misplaced {
                    case: case.id.clone(),
                    seq: a.seq,
                },
            ));
            continue;
        };
        match seal::open_attachment(&[identity], &a.ciphertext, &case.id, a.seq, expected) {
            Ok(bytes) => {
                if let Some(dir) = save_to {
                    let ext = if expected.content_type == "image/jpeg" {
                        "jpg"
                    } else {
                        "png"
                    };
                    let path = dir.join(format!("{}-{}-{}.{ext}", case.id, a.seq, a.idx));
                    std::fs::write(&path, &bytes).map_err(|e| InvestigatorError::Io {
                        path: path.clone(),
                        why: e.to_string(),
                    })?;
                    saved.push(path);
                }
            }
            Err(e) => bad_attachments.push((a.seq, a.idx, e)),
        }
    }
    // An attachment listed in a message but missing from storage is a failure too.
    for env in messages.iter().flatten() {
        for r in &env.attachments {
            if !attachments
                .iter()
                .any(|a| a.seq == env.seq && a.idx == i64::from(r.idx))
            {
                bad_attachments.push((
                    env.seq,
                    i64::from(r.idx),
                    SealError::Malformed("listed attachment is missing from storage".into()),
                ));
            }
        }
    }
    Ok(CaseView {
        case,
        messages,
        saved,
        bad_attachments,
    })
}

/// Replies to the reporter (and the other investigators of the category).
pub async fn reply(
    db: &Db,
    config: &IntegrityConfig,
    identity: &age::x25519::Identity,
    id: &str,
    text: &str,
    now: i64,
) -> Result<i64, InvestigatorError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InvestigatorError::Usage("the reply is empty".into()));
    }
    if text.chars().count() > config.max_text_chars {
        return Err(InvestigatorError::Usage(format!(
            "the reply is longer than {} characters",
            config.max_text_chars
        )));
    }
    post(
        db,
        config,
        identity,
        id,
        Body::Message {
            text: text.to_owned(),
        },
        now,
    )
    .await
}

/// Sets the case's status, with an optional note to the reporter.
pub async fn set_status(
    db: &Db,
    config: &IntegrityConfig,
    identity: &age::x25519::Identity,
    id: &str,
    status: CaseStatus,
    note: Option<String>,
    now: i64,
) -> Result<i64, InvestigatorError> {
    post(db, config, identity, id, Body::Status { status, note }, now).await
}

async fn post(
    db: &Db,
    config: &IntegrityConfig,
    identity: &age::x25519::Identity,
    id: &str,
    body: Body,
    now: i64,
) -> Result<i64, InvestigatorError> {
    let case = store::case_by_id(db, id)
        .await?
        .ok_or_else(|| InvestigatorError::NoCase(id.to_owned()))?;
    let category = match super::case_category(db, &case, identity).await {
        Ok(c) => c,
        Err(IntegrityError::Tampered(SealError::NotForYou)) => {
            return Err(InvestigatorError::NoCase(id.to_owned()));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(super::append(
        db,
        config,
        &case,
        &category,
        Author::Investigator,
        body,
        now,
    )
    .await?)
}

/// UTC `YYYY-MM-DD HH:00` of an hour-rounded time.
pub fn hour_text(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let hour = secs.rem_euclid(86_400) / 3600;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hour:02}:00 UTC")
}

/// A listing as text.
pub fn render_list(list: &[Listing]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("no cases readable with this key\n");
    }
    for l in list {
        let category = match &l.category {
            Ok(c) => c.clone(),
            Err(e) => format!("UNREADABLE REPORT ({e})"),
        };
        let _ = writeln!(
            out,
            "{}  {}  {}  {} message(s), last {}{}  [{}]",
            l.id,
            hour_text(l.created_at),
            category,
            l.messages,
            hour_text(l.last_at),
            match l.last_from {
                Some(a) => format!(" by {}", a.as_str()),
                None => String::new(),
            },
            l.status.as_str()
        );
    }
    out
}

/// A case as text.
pub fn render_case(view: &CaseView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "case {}  created {}  receipt valid until {}",
        view.case.id,
        hour_text(view.case.created_at),
        hour_text(view.case.expires_at)
    );
    for m in &view.messages {
        match m {
            Ok(env) => {
                let _ = writeln!(
                    out,
                    "\n#{} {} {}",
                    env.seq,
                    env.author.as_str(),
                    hour_text(env.at)
                );
                match &env.body {
                    Body::Report {
                        category,
                        text,
                        place,
                        date,
                    } => {
                        let _ = writeln!(out, "report, category {category}");
                        if let Some(p) = place {
                            let _ = writeln!(out, "place: {p}");
                        }
                        if let Some(d) = date {
                            let _ = writeln!(out, "date: {d}");
                        }
                        let _ = writeln!(out, "{text}");
                    }
                    Body::Message { text } => {
                        let _ = writeln!(out, "{text}");
                    }
                    Body::Status { status, note } => {
                        let _ = writeln!(out, "status → {}", status.as_str());
                        if let Some(n) = note {
                            let _ = writeln!(out, "{n}");
                        }
                    }
                }
                for a in &env.attachments {
                    let _ = writeln!(
                        out,
                        "attachment {}: {} ({} bytes, sha256 {})",
                        a.idx, a.content_type, a.bytes, a.sha256
                    );
                }
            }
            Err((seq, SealError::NotForYou)) => {
                let _ = writeln!(out, "\n#{seq} (not encrypted to this key)");
            }
            Err((seq, e)) => {
                let _ = writeln!(out, "\n#{seq} FAILED INTEGRITY CHECK: {e}");
            }
        }
    }
    for (seq, idx, e) in &view.bad_attachments {
        let _ = writeln!(
            out,
            "\nattachment {idx} of #{seq} FAILED INTEGRITY CHECK: {e}"
        );
    }
    for p in &view.saved {
        let _ = writeln!(out, "saved {}", p.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_print_as_utc_dates() {
        assert_eq!(hour_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(hour_text(1_796_004_000_000), "2026-11-30 02:00 UTC");
        assert_eq!(hour_text(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn keys_are_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.key");
        let public = keygen(&path, 0).unwrap();
        assert!(public.starts_with("age1"));
        assert!(matches!(
            keygen(&path, 0),
            Err(InvestigatorError::Exists(_))
        ));
        let id = load_identity(&path).unwrap();
        assert_eq!(id.to_public().to_string(), public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("bad"), "hello").unwrap();
        assert!(load_identity(&dir.path().join("bad")).is_err());
    }
}
