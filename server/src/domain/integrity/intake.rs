//! The reporter's requests as the channel takes them in, in the order that keeps abuse
//! cheap to refuse. A report is let in ([`Integrity::admit_report`]) from its headers
//! alone, before a byte of its body is read: the channel must be on, the declared length
//! within the limit, the proof of work (header `X-Integrity-Pow`) valid and unused, a
//! slot free among the reports in flight, and the client, its network and the server
//! within their limits. Only then is the body read (up to the limit), parsed off the
//! async workers, its attachments counted, then decoded under their own semaphore, and
//! the case made ([`Integrity::report`]). A follow-up's code is parsed first (a string that
//! is no code costs nothing and counts nothing), then the client's follow-up limit
//! applies, then the case is opened.
//!
//! The client is a [`Client`]: its address goes to the rate limiter and nowhere else.
//! Everything else here is the request's own fields.

use super::ratelimit::{Action, Client};
use super::receipt::ReceiptCode;
use super::{Integrity, IntegrityError, NewAttachment, NewReport, Receipt, Thread};
use crate::storage::Db;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// An attachment in a report, as the reporting page sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AttachmentIn)]
pub struct AttachmentForm {
    /// The file, base64.
    pub data: String,
}

/// A report as the reporting page sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReportIn)]
pub struct ReportForm {
    /// Category code.
    pub category: String,
    /// What happened.
    pub text: String,
    /// Where.
    #[serde(default)]
    pub place: Option<String>,
    /// When.
    #[serde(default)]
    pub date: Option<String>,
    /// Images.
    #[serde(default)]
    pub attachments: Vec<AttachmentForm>,
}

/// A report let in from its headers: the channel was on, its proof of work good and its
/// client within its limits. It holds one of the in-flight slots until the report is
/// answered. Only [`Integrity::admit_report`] makes one.
#[derive(Debug)]
pub struct Admitted {
    _slot: tokio::sync::OwnedSemaphorePermit,
    /// The largest body to read.
    pub max_body_bytes: usize,
}

/// A category as the reporting page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageCategory {
    /// Code.
    pub code: String,
    /// Name shown to reporters.
    pub name: String,
}

/// What the reporting page needs to know: categories (never the investigators' keys),
/// the proof of work's difficulty and the limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageSettings {
    /// Whether any category is configured.
    pub enabled: bool,
    /// The same in words for clients: `open`, or `not_configured` (no category: every
    /// report is refused with `503 not_configured`).
    pub status: &'static str,
    /// The categories.
    pub categories: Vec<PageCategory>,
    /// Leading zero bits a proof of work needs.
    pub pow_bits: u8,
    /// Longest report or message, in characters.
    pub max_text_chars: usize,
    /// Most attachments per report.
    pub max_attachments: usize,
    /// Largest attachment, bytes.
    pub max_attachment_bytes: usize,
    /// Days a receipt code works after its case's last message.
    pub receipt_ttl_days: u64,
}

impl Integrity {
    /// The reporting page's settings.
    pub fn page_settings(&self) -> PageSettings {
        let c = &self.config;
        PageSettings {
            enabled: self.enabled(),
            status: if self.enabled() {
                "open"
            } else {
                "not_configured"
            },
            categories: c
                .categories
                .iter()
                .map(|c| PageCategory {
                    code: c.code.clone(),
                    name: c.name.clone(),
                })
                .collect(),
            pow_bits: c.pow_bits,
            max_text_chars: c.max_text_chars,
            max_attachments: c.max_attachments,
            max_attachment_bytes: c.max_attachment_bytes,
            receipt_ttl_days: c.receipt_ttl_days,
        }
    }

    /// Lets a report from `client` in (and counts it) from its headers alone: the
    /// body's declared length (if any), the proof-of-work stamp `pow`. Nothing of the
    /// body has been read yet.
    pub fn admit_report(
        &self,
        client: &Client,
        declared_len: Option<u64>,
        pow: Option<&str>,
        now: i64,
    ) -> Result<Admitted, IntegrityError> {
        if !self.enabled() {
            return Err(IntegrityError::Disabled);
        }
        let max_body_bytes = self.config.max_body_bytes();
        if declared_len.is_some_and(|n| n > u64::try_from(max_body_bytes).unwrap_or(u64::MAX)) {
            return Err(too_large(max_body_bytes));
        }
        // Work first: a request without it is refused before it counts against anyone.
        self.pow.check(pow, now.div_euclid(60_000))?;
        let slot = Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| IntegrityError::Busy)?;
        self.limiter.check(client, Action::Report)?;
        Ok(Admitted {
            _slot: slot,
            max_body_bytes,
        })
    }

    /// Takes an admitted report's body in: parsed off the async workers, its attachments
    /// counted before any is decoded, then the case; returns the receipt (its code shown
    /// once).
    pub async fn take_report(
        &self,
        db: &Db,
        admitted: Admitted,
        body: bytes::Bytes,
        now: i64,
    ) -> Result<Receipt, IntegrityError> {
        if body.len() > admitted.max_body_bytes {
            return Err(too_large(admitted.max_body_bytes));
        }
        // Up to tens of MiB of JSON and base64: parsed and decoded on a blocking thread
        // (as many at once as there are reports in flight).
        let max = self.config.max_attachments;
        let report = tokio::task::spawn_blocking(move || parse_report(&body, max))
            .await
            .map_err(|e| IntegrityError::Internal(format!("report parse task: {e}")))??;
        self.report(db, report, now).await
    }

    /// The reporter reads the case of `receipt_code` (see [`Integrity::follow_up`]).
    pub async fn read_case(
        &self,
        db: &Db,
        client: &Client,
        receipt_code: &str,
        now: i64,
    ) -> Result<Thread, IntegrityError> {
        let code = self.follow_up_code(client, receipt_code)?;
        self.follow_up(db, &code, now).await
    }

    /// The reporter writes back on the case of `receipt_code`; returns the message's
    /// position (see [`Integrity::write_back`]).
    pub async fn write_back_on(
        &self,
        db: &Db,
        client: &Client,
        receipt_code: &str,
        text: &str,
        now: i64,
    ) -> Result<i64, IntegrityError> {
        let code = self.follow_up_code(client, receipt_code)?;
        self.write_back(db, &code, text, now).await
    }

    /// A follow-up's code, parsed, once its client is inside the follow-up limit.
    fn follow_up_code(
        &self,
        client: &Client,
        receipt_code: &str,
    ) -> Result<ReceiptCode, IntegrityError> {
        let code = ReceiptCode::parse(receipt_code)?;
        self.limiter.check(client, Action::FollowUp)?;
        Ok(code)
    }
}

fn too_large(max: usize) -> IntegrityError {
    IntegrityError::TooLarge(format!(
        "the request is larger than this server accepts ({max} bytes)"
    ))
}

/// The report in `body`: its JSON, its attachment count (before any is decoded), its
/// attachments' base64.
fn parse_report(body: &[u8], max_attachments: usize) -> Result<NewReport, IntegrityError> {
    let form = serde_json::from_slice::<ReportForm>(body)
        .map_err(|e| IntegrityError::Invalid(format!("the report is not valid JSON: {e}")))?;
    if form.attachments.len() > max_attachments {
        return Err(IntegrityError::TooLarge(format!(
            "{} attachments; the limit is {max_attachments}",
            form.attachments.len()
        )));
    }
    let attachments = form
        .attachments
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            base64::engine::general_purpose::STANDARD
                .decode(a.data.as_bytes())
                .map(|bytes| NewAttachment { bytes })
                .map_err(|e| IntegrityError::Invalid(format!("attachment {i}: not base64: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewReport {
        category: form.category,
        text: form.text,
        place: form.place,
        date: form.date,
        attachments,
    })
}
