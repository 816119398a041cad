//! The reporter's requests as the channel takes them in, in the order that keeps abuse
//! cheap to refuse: a report is let in only while the channel is on and its client is
//! within its limit ([`Integrity::admit_report`], before the body is looked at), then its
//! proof of work is checked, its attachments counted and decoded, and only then is the
//! case made ([`Integrity::report`]). A follow-up's code is parsed first (a string that
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
    /// The proof of work, `1:<minute>:<salt>:<nonce>` (the reporting page computes it).
    #[serde(default)]
    pub pow: Option<String>,
}

/// A report let in: the channel was on and its client within its limit. Only
/// [`Integrity::admit_report`] makes one.
#[derive(Debug)]
pub struct Admitted(());

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

    /// Lets a report from `client` in (and counts it), before its body is looked at.
    pub fn admit_report(&self, client: &Client) -> Result<Admitted, IntegrityError> {
        if !self.enabled() {
            return Err(IntegrityError::Disabled);
        }
        self.limiter.check(client, Action::Report)?;
        Ok(Admitted(()))
    }

    /// Takes an admitted report in: its proof of work, its attachments (counted before
    /// any is decoded), then the case; returns the receipt (its code shown once).
    pub async fn take_report(
        &self,
        db: &Db,
        _admitted: Admitted,
        form: ReportForm,
        now: i64,
    ) -> Result<Receipt, IntegrityError> {
        self.pow
            .check(form.pow.as_deref(), now.div_euclid(60_000))?;
        let max = self.config.max_attachments;
        if form.attachments.len() > max {
            return Err(IntegrityError::TooLarge(format!(
                "{} attachments; the limit is {max}",
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
                    .map_err(|e| {
                        IntegrityError::Invalid(format!("attachment {i}: not base64: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let report = NewReport {
            category: form.category,
            text: form.text,
            place: form.place,
            date: form.date,
            attachments,
        };
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
