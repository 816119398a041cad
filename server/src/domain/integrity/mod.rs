//! The integrity channel (design §7): anonymous reports of corruption and misconduct,
//! readable only by the investigators of their category, followed up with a receipt code.
//!
//! - [`config`]: categories, investigators' public keys, limits.
//! - [`receipt`]: receipt codes, their argon2 verifier and the reporter's derived key.
//! - [`seal`]: the sealed message format (age, padding, binding to case and position).
//! - [`store`]: cases, messages and attachments on SQLite or PostgreSQL (ciphertext only).
//! - [`ratelimit`]: limits per client under a short-lived in-memory keyed hash.
//! - [`pow`]: the proof of work a report needs.
//! - [`attachment`]: images re-encoded without metadata; other files refused.
//! - [`intake`]: the reporter's requests taken in: admission, proof of work, attachments.
//! - [`investigator`]: the investigators' command-line tool (list, read, reply, status, keygen).
//! - [`page`]: the reporting page (HTML, JavaScript, CSS embedded in the binary).
//!
//! This module is the reporter's side: [`Integrity::report`], [`Integrity::follow_up`],
//! [`Integrity::write_back`], reached through [`intake`]. It never logs, and never
//! receives, a user agent, a referrer or a cookie: the HTTP layer (`http::integrity`)
//! hands it only the request's fields and a [`ratelimit::Client`], whose address only the
//! rate limiter reads.

pub mod attachment;
pub mod intake;
pub mod investigator;
pub mod pow;
pub mod ratelimit;
pub mod receipt;
pub mod seal;

pub use crate::base::config::integrity::{Category, IntegrityConfig, InvestigatorKey};

use crate::storage::integrity::{self as store, AttachmentRow, CaseRow, MessageRow};
use crate::storage::{Db, DbError};
use attachment::AttachmentError;
use receipt::{KdfParams, OpenError, ReceiptCode, StoredCode, Verifier};
use seal::{AttachmentRef, Author, Body, CaseStatus, Envelope, SealError};
use std::sync::Arc;
use zeroize::Zeroizing;

/// One hour in milliseconds: stored times are rounded down to it.
pub const HOUR_MS: i64 = 3_600_000;
/// Longest place or date text, in characters.
pub const MAX_SHORT_CHARS: usize = 500;

/// `t` rounded down to the hour.
pub fn to_hour(t: i64) -> i64 {
    t - t.rem_euclid(HOUR_MS)
}

/// Failures of the integrity channel.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// No category is configured: the channel is off.
    #[error("the integrity channel is not configured on this server")]
    Disabled,
    /// A field is missing or wrong.
    #[error("{0}")]
    Invalid(String),
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// An attachment was refused.
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
    /// Not a receipt code at all.
    #[error(transparent)]
    MalformedCode(#[from] receipt::MalformedCode),
    /// Unknown, expired or wrong receipt code (one answer for all three).
    #[error(
        "no open case matches this receipt code; check it, and note that a code stops working \
         when its case has been quiet for a long time"
    )]
    NoMatch,
    /// Rate limited.
    #[error(transparent)]
    Limited(#[from] ratelimit::Limited),
    /// Too many reports are being taken in at once on this replica.
    #[error("too many reports are being received at the moment; try again in a minute")]
    Busy,
    /// Proof of work refused.
    #[error(transparent)]
    Pow(#[from] pow::PowError),
    /// A stored message failed its checks where the request cannot go on without it.
    #[error("the case's stored data failed its integrity check: {0}")]
    Tampered(SealError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else (logged without detail about the reporter).
    #[error("{0}")]
    Internal(String),
}

impl From<OpenError> for IntegrityError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NoMatch => IntegrityError::NoMatch,
            OpenError::Internal(m) => IntegrityError::Internal(m),
        }
    }
}

/// An attachment as the reporter sends it.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// A report as the reporter sends it.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Category code.
    pub category: String,
    /// What happened.
    pub text: String,
    /// Where.
    pub place: Option<String>,
    /// When.
    pub date: Option<String>,
    /// Images.
    pub attachments: Vec<NewAttachment>,
}

/// What the reporter gets back once: the code and when it expires.
pub struct Receipt {
    /// The receipt code, grouped for writing down.
    pub code: Zeroizing<String>,
    /// When the code stops working unless the case sees a message.
    pub expires_at: i64,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the code (it would end up in a log).
        f.debug_struct("Receipt")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One message of a thread as the reporter reads it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThreadMessage {
    /// Position in the case.
    pub seq: i64,
    /// When (hour).
    pub at: i64,
    /// Who wrote it; none when it could not be read.
    pub from: Option<Author>,
    /// What it says; none when it could not be read.
    pub body: Option<Body>,
    /// How many attachments it had.
    pub attachments: usize,
    /// Why it could not be read (altered or misplaced in storage).
    pub error: Option<String>,
}

/// A case as the reporter reads it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Thread {
    /// The latest status an investigator set (`received` before any).
    pub status: CaseStatus,
    /// When the receipt code stops working unless the case sees a message.
    pub expires_at: i64,
    /// The messages, in order.
    pub messages: Vec<ThreadMessage>,
}

/// The latest status among opened envelopes.
pub fn current_status<'a>(envelopes: impl Iterator<Item = &'a Envelope>) -> CaseStatus {
    envelopes
        .filter(|e| e.author == Author::Investigator)
        .filter_map(|e| match &e.body {
            Body::Status { status, .. } => Some(*status),
            _ => None,
        })
        .last()
        .unwrap_or(CaseStatus::Received)
}

/// A fresh case id, `C-` and 8 Crockford symbols (40 random bits).
fn new_case_id() -> String {
    let code = ReceiptCode::generate();
    format!("C-{}", code.lookup())
}

/// Recipients of a case's messages: its category's investigators and the reporter.
pub fn recipients(
    config: &IntegrityConfig,
    category: &str,
    reporter: &str,
) -> Result<Vec<age::x25519::Recipient>, IntegrityError> {
    let cat = config.category(category).ok_or_else(|| {
        IntegrityError::Internal(format!(
            "category {category:?} is no longer configured: nobody to encrypt to"
        ))
    })?;
    let mut out: Vec<age::x25519::Recipient> =
        cat.investigators.iter().map(|k| k.recipient()).collect();
    out.push(
        reporter
            .parse()
            .map_err(|e| IntegrityError::Internal(format!("stored reporter key: {e}")))?,
    );
    Ok(out)
}

/// Seals `body` as the next message of `case` and stores it; concurrent writers to one
/// case queue on the case (see [`store::append_message`]).
pub async fn append(
    db: &Db,
    config: &IntegrityConfig,
    case: &CaseRow,
    category: &str,
    author: Author,
    body: Body,
    now: i64,
) -> Result<i64, IntegrityError> {
    let to = recipients(config, category, &case.reporter_recipient)?;
    // From the hour, like every stored time: an exact expiry would give away the exact
    // time of the message that extended it.
    let expires_at = to_hour(now).saturating_add(ttl_ms(config));
    store::append_message(db, &case.id, expires_at, |seq| {
        let env = Envelope {
            v: 1,
            case: case.id.clone(),
            seq,
            author,
            at: to_hour(now),
            body,
            attachments: vec![],
        };
        let ciphertext =
            seal::seal(&env, &to).map_err(|e| IntegrityError::Internal(e.to_string()))?;
        Ok(MessageRow {
            seq,
            ciphertext,
            created_at: to_hour(now),
        })
    })
    .await
}

fn ttl_ms(config: &IntegrityConfig) -> i64 {
    i64::try_from(config.receipt_ttl_days)
        .unwrap_or(i64::MAX / 86_400_000)
        .saturating_mul(86_400_000)
}

fn check_text(config: &IntegrityConfig, what: &str, text: &str) -> Result<(), IntegrityError> {
    if text.trim().is_empty() {
        return Err(IntegrityError::Invalid(format!("{what} is empty")));
    }
    let n = text.chars().count();
    if n > config.max_text_chars {
        return Err(IntegrityError::TooLarge(format!(
            "{what} has {n} characters; the limit is {}",
            config.max_text_chars
        )));
    }
    Ok(())
}

fn check_short(what: &str, text: &Option<String>) -> Result<Option<String>, IntegrityError> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > MAX_SHORT_CHARS => Err(IntegrityError::TooLarge(format!(
            "{what} is longer than {MAX_SHORT_CHARS} characters"
        ))),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

/// The reporter's side of the channel. One per process.
#[derive(Debug)]
pub struct Integrity {
    /// Settings.
    pub config: Arc<IntegrityConfig>,
    /// Receipt-code derivations.
    pub verifier: Verifier,
    /// Proof-of-work checks.
    pub pow: pow::Pow,
    /// Rate limits.
    pub limiter: ratelimit::RateLimiter,
    /// Reports whose body is being read, parsed or decoded (`reports_in_flight`).
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Attachment decodes at once (`decode_concurrency`).
    decodes: DecodeSlots,
}

/// The bounded blocking work of decoding attachments: a semaphore of its own, so a burst
/// of reports neither fills the shared blocking pool nor holds more decoders' memory at
/// once than configured; and the most decodes ever seen running at once (tests).
#[derive(Debug)]
struct DecodeSlots {
    slots: Arc<tokio::sync::Semaphore>,
    running: Arc<std::sync::atomic::AtomicUsize>,
    peak: Arc<std::sync::atomic::AtomicUsize>,
}

impl DecodeSlots {
    fn new(n: usize) -> DecodeSlots {
        DecodeSlots {
            slots: Arc::new(tokio::sync::Semaphore::new(n.max(1))),
            running: Arc::default(),
            peak: Arc::default(),
        }
    }

    /// Strips `files` on a blocking thread once a slot is free.
    async fn strip(
        &self,
        files: Vec<Vec<u8>>,
        max_bytes: usize,
        max_pixels: u64,
    ) -> Result<Vec<attachment::Stripped>, IntegrityError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| IntegrityError::Internal(format!("decode slots: {e}")))?;
        let (running, peak) = (Arc::clone(&self.running), Arc::clone(&self.peak));
        tokio::task::spawn_blocking(move || {
            use std::sync::atomic::Ordering;
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let out = files
                .iter()
                .enumerate()
                .map(|(i, b)| attachment::strip(i, b, max_bytes, max_pixels))
                .collect::<Result<Vec<_>, _>>();
            running.fetch_sub(1, Ordering::SeqCst);
            drop(slot);
            out
        })
        .await
        .map_err(|e| IntegrityError::Internal(format!("attachment task: {e}")))?
        .map_err(IntegrityError::from)
    }
}

impl Integrity {
    /// Builds the channel from its settings.
    pub fn new(config: &IntegrityConfig) -> Integrity {
        Integrity {
            verifier: Verifier::new(
                KdfParams {
                    memory_kib: config.argon2_memory_kib,
                    iterations: config.argon2_iterations,
                },
                config.argon2_concurrency,
            ),
            pow: pow::Pow::new(config.pow_bits),
            limiter: ratelimit::RateLimiter::new(ratelimit::Limits {
                window: std::time::Duration::from_secs(config.rate_window_secs.max(1)),
                reports_per_client: config.reports_per_client,
                reports_per_prefix: config.reports_per_prefix,
                reports_per_window: config.reports_per_window,
                follow_ups_per_client: config.follow_ups_per_client,
                table_entries: config.rate_table_clients,
            }),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.reports_in_flight.max(1))),
            decodes: DecodeSlots::new(config.decode_concurrency),
            config: Arc::new(config.clone()),
        }
    }

    /// The most attachment decodes seen running at once since start (tests).
    pub fn peak_decodes(&self) -> usize {
        self.decodes.peak.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether any category is configured.
    pub fn enabled(&self) -> bool {
        !self.config.categories.is_empty()
    }

    /// Makes a case from a report; returns the receipt code (shown once, never stored).
    pub async fn report(
        &self,
        db: &Db,
        report: NewReport,
        now: i64,
    ) -> Result<Receipt, IntegrityError> {
        if !self.enabled() {
            return Err(IntegrityError::Disabled);
        }
        let cfg = &*self.config;
        if cfg.category(&report.category).is_none() {
            return Err(IntegrityError::Invalid(format!(
                "unknown category {:?}",
                report.category
            )));
        }
        check_text(cfg, "the report", &report.text)?;
        let place = check_short("the place", &report.place)?;
        let date = check_short("the date", &report.date)?;
        if report.attachments.len() > cfg.max_attachments {
            return Err(IntegrityError::TooLarge(format!(
                "{} attachments; the limit is {}",
                report.attachments.len(),
                cfg.max_attachments
            )));
        }
        let (max_bytes, max_pixels) = (cfg.max_attachment_bytes, cfg.max_image_pixels);
        let files: Vec<Vec<u8>> = report.attachments.into_iter().map(|a| a.bytes).collect();
        let stripped = self.decodes.strip(files, max_bytes, max_pixels).await?;

        let code = ReceiptCode::generate();
        let (stored, derived) = self
            .verifier
            .enroll(&code)
            .await
            .map_err(IntegrityError::Internal)?;
        let reporter = derived.reporter_identity().to_public().to_string();
        let to = recipients(cfg, &report.category, &reporter)?;
        let body = Body::Report {
            category: report.category,
            text: report.text,
            place,
            date,
        };
        let at = to_hour(now);
        let expires_at = at.saturating_add(ttl_ms(cfg));
        // An id or lookup already taken (40 random bits each): draw new ones.
        let mut code = code;
        let mut stored = stored;
        let mut reporter = reporter;
        let mut to = to;
        for attempt in 0..4 {
            if attempt > 0 {
                code = ReceiptCode::generate();
                let (s, d) = self
                    .verifier
                    .enroll(&code)
                    .await
                    .map_err(IntegrityError::Internal)?;
                stored = s;
                reporter = d.reporter_identity().to_public().to_string();
                to = recipients(cfg, body_category(&body), &reporter)?;
            }
            let case = CaseRow {
                id: new_case_id(),
                lookup: code.lookup().to_owned(),
                code_salt: stored.salt.clone(),
                code_kdf: stored.params.encode(),
                code_verifier: stored.verifier.clone(),
                reporter_recipient: reporter.clone(),
                created_at: at,
                expires_at,
            };
            let mut refs = Vec::with_capacity(stripped.len());
            let mut rows = Vec::with_capacity(stripped.len());
            for (i, s) in stripped.iter().enumerate() {
                let idx = u32::try_from(i).unwrap_or(u32::MAX);
                refs.push(AttachmentRef {
                    idx,
                    content_type: s.content_type.to_owned(),
                    bytes: u64::try_from(s.bytes.len()).unwrap_or(u64::MAX),
                    sha256: seal::sha256_hex(&s.bytes),
                });
                rows.push(AttachmentRow {
                    seq: 1,
                    idx: i64::from(idx),
                    ciphertext: seal::seal_attachment(&case.id, 1, idx, &s.bytes, &to)
                        .map_err(|e| IntegrityError::Internal(e.to_string()))?,
                });
            }
            let env = Envelope {
                v: 1,
                case: case.id.clone(),
                seq: 1,
                author: Author::Reporter,
                at,
                body: body.clone(),
                attachments: refs,
            };
            let msg = MessageRow {
                seq: 1,
                ciphertext: seal::seal(&env, &to)
                    .map_err(|e| IntegrityError::Internal(e.to_string()))?,
                created_at: at,
            };
            match store::create_case(db, &case, &msg, &rows).await {
                Ok(()) => {
                    return Ok(Receipt {
                        code: code.display(),
                        expires_at,
                    });
                }
                Err(DbError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IntegrityError::Internal(
            "could not draw a free case id".into(),
        ))
    }

    /// Opens the case a receipt code belongs to: always one argon2 derivation; unknown,
    /// expired and wrong codes all give [`IntegrityError::NoMatch`].
    async fn open(
        &self,
        db: &Db,
        code: &ReceiptCode,
        now: i64,
    ) -> Result<(CaseRow, age::x25519::Identity), IntegrityError> {
        let case = store::case_by_lookup(db, code.lookup()).await?;
        let stored = case.as_ref().and_then(|c| {
            Some(StoredCode {
                salt: c.code_salt.clone(),
                params: KdfParams::decode(&c.code_kdf)?,
                verifier: c.code_verifier.clone(),
            })
        });
        let valid = case.as_ref().is_some_and(|c| now <= c.expires_at);
        let derived = self.verifier.open(code, stored.as_ref(), valid).await?;
        let case = case.ok_or(IntegrityError::NoMatch)?;
        Ok((case, derived.reporter_identity()))
    }

    /// The reporter reads the case: status and every message (replies decrypted with the
    /// key derived from the code, in memory, for this answer only).
    pub async fn follow_up(
        &self,
        db: &Db,
        code: &ReceiptCode,
        now: i64,
    ) -> Result<Thread, IntegrityError> {
        let (case, identity) = self.open(db, code, now).await?;
        let rows = store::messages(db, &case.id).await?;
        let mut opened = Vec::with_capacity(rows.len());
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
            match seal::open(&[&identity], &row.ciphertext, &case.id, row.seq) {
                Ok(env) => {
                    messages.push(ThreadMessage {
                        seq: row.seq,
                        at: env.at,
                        from: Some(env.author),
                        body: Some(env.body.clone()),
                        attachments: env.attachments.len(),
                        error: None,
                    });
                    opened.push(env);
                }
                Err(e) => messages.push(ThreadMessage {
                    seq: row.seq,
                    at: row.created_at,
                    from: None,
                    body: None,
                    attachments: 0,
                    error: Some(format!(
                        "this message could not be verified and is not shown ({e})"
                    )),
                }),
            }
        }
        Ok(Thread {
            status: current_status(opened.iter()),
            expires_at: case.expires_at,
            messages,
        })
    }

    /// The reporter writes back; returns the new message's position.
    pub async fn write_back(
        &self,
        db: &Db,
        code: &ReceiptCode,
        text: &str,
        now: i64,
    ) -> Result<i64, IntegrityError> {
        check_text(&self.config, "the message", text)?;
        let (case, identity) = self.open(db, code, now).await?;
        let category = case_category(db, &case, &identity).await?;
        append(
            db,
            &self.config,
            &case,
            &category,
            Author::Reporter,
            Body::Message {
                text: text.to_owned(),
            },
            now,
        )
        .await
    }
}

fn body_category(body: &Body) -> &str {
    match body {
        Body::Report { category, .. } => category,
        _ => "",
    }
}

/// The category of a case, read from its report (message 1) with `identity`.
pub async fn case_category(
    db: &Db,
    case: &CaseRow,
    identity: &age::x25519::Identity,
) -> Result<String, IntegrityError> {
    let rows = store::messages(db, &case.id).await?;
    let first = rows.iter().find(|r| r.seq == 1).ok_or_else(|| {
        IntegrityError::Tampered(SealError::Malformed("the report is missing".into()))
    })?;
    let env = seal::open(&[identity], &first.ciphertext, &case.id, 1)
        .map_err(IntegrityError::Tampered)?;
    match env.body {
        Body::Report { category, .. } if env.author == Author::Reporter => Ok(category),
        _ => Err(IntegrityError::Tampered(SealError::Malformed(
            "message 1 is not a report".into(),
        ))),
    }
}
