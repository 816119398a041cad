//! Telling citizens: the [`Notifier`] interface behind every channel, and [`deliver`],
//! which the outbox loop calls for a notification row.
//!
//! - [`compose`]: the words, in the language the citizen filed in.
//! - [`email`]: SMTP through `lettre`.
//! - [`sms`]: an HTTP gateway (a JSON webhook, or Kavenegar's API), held back in the
//!   quiet hours except for the message that carries the tracking code.
//! - [`webpush`]: Web Push to the subscription a citizen gave with "notify me" on the
//!   tracking page, through the crews' RFC 8291/8292 implementation
//!   (`domain::push::webpush`); the payload is the status text and the tracking link.
//!
//! A notification is about a task, or about a citizen's message (`M-…`, which has no
//! task document: its words and code are read from `citizen_messages`).
//!
//! A channel is configured or absent ([`Channels`]); a row for an absent channel, or for
//! a contact that is gone or unsubscribed, is skipped, never retried. Addresses are never
//! logged: errors name the channel's failure only.

pub mod compose;
pub mod email;
pub mod sms;
pub mod webpush;

use crate::domain::citizen::codes;
use crate::domain::dispatch::edit;
use crate::domain::outbox::{Done, Outbox};
use crate::storage::open311 as records;
use crate::storage::outbox::OutboxRow;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use sync_core::DocId;

/// One message to one citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The address: an e-mail address or an E.164 number.
    pub to: String,
    /// The subject (e-mail).
    pub subject: String,
    /// The text.
    pub body: String,
    /// The idempotency key: the same for every attempt at this notification (an
    /// e-mail's `Message-ID`), so a resend after a crash is recognisable as the same.
    pub key: String,
    /// The language it is written in (`fa`, `en`).
    pub lang: String,
    /// The link that stops further messages.
    pub unsubscribe: String,
    /// The status text alone, one line (what a Web Push notification shows).
    pub text: String,
    /// The tracking page's link.
    pub link: String,
}

/// Why a send failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotifyError {
    /// The channel is unreachable or failed: worth trying again.
    #[error("channel unavailable: {0}")]
    Unavailable(String),
    /// The channel refused this message for good (a bad address).
    #[error("refused: {0}")]
    Refused(String),
    /// The address is gone for good (a push service's 404/410 for a subscription): it
    /// is removed, and this message is not sent.
    #[error("gone: {0}")]
    Gone(String),
    /// Reading what the message needs failed.
    #[error("{0}")]
    Internal(String),
}

impl NotifyError {
    /// True when trying again cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, NotifyError::Refused(_) | NotifyError::Gone(_))
    }
}

/// A channel that sends messages.
pub trait Notifier: Send + Sync {
    /// Sends `m`; done when the channel accepted it.
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// The configured channels.
#[derive(Clone, Default)]
pub struct Channels {
    /// E-mail.
    pub email: Option<Arc<dyn Notifier>>,
    /// SMS.
    pub sms: Option<Arc<dyn Notifier>>,
    /// Web Push (citizens who tapped "notify me").
    pub webpush: Option<Arc<dyn Notifier>>,
}

impl Channels {
    /// No channel: every notification is skipped.
    pub fn none() -> Channels {
        Channels::default()
    }

    /// The channels the configuration names: e-mail and SMS from `[outbox]`, Web Push
    /// from `[push]`'s VAPID key (the one crews' wake-ups are signed with). A channel
    /// whose settings do not parse is left out, loudly (its notifications are then
    /// skipped).
    pub fn from_config(
        c: &crate::base::config::outbox::OutboxConfig,
        push: &crate::base::config::push::PushConfig,
    ) -> Channels {
        let timeout = std::time::Duration::from_secs(c.timeout_secs.max(1));
        let email = c.smtp_url.as_deref().and_then(|url| {
            match email::Email::new(url, &c.smtp_from, c.smtp_ca_file.as_deref(), timeout) {
                Ok(e) => Some(Arc::new(e) as Arc<dyn Notifier>),
                Err(e) => {
                    tracing::error!(error = %e, "e-mail notifications are off");
                    None
                }
            }
        });
        let sms = c.sms_url.as_deref().and_then(|url| {
            let format = sms::Format::parse(&c.sms_format).unwrap_or(sms::Format::Webhook);
            match sms::Sms::new(
                url,
                format,
                c.sms_token.clone(),
                c.sms_sender.clone(),
                timeout,
            ) {
                Ok(s) => Some(Arc::new(s) as Arc<dyn Notifier>),
                Err(e) => {
                    tracing::error!(error = %e, "SMS notifications are off");
                    None
                }
            }
        });
        let webpush =
            webpush::CitizenPush::from_config(push).map(|w| Arc::new(w) as Arc<dyn Notifier>);
        Channels {
            email,
            sms,
            webpush,
        }
    }
}

/// Sends the notification of one outbox row.
pub async fn deliver(o: &Outbox, row: &OutboxRow) -> Done {
    let channel = match row.kind.as_str() {
        "email" => o.channels.email.as_ref(),
        "sms" => o.channels.sms.as_ref(),
        "webpush" => o.channels.webpush.as_ref(),
        other => return Done::Fatal(format!("unknown outbox row kind {other:?}")),
    };
    let Some(channel) = channel else {
        return Done::Skipped(format!("no {} channel is configured", row.kind));
    };
    // Quiet hours hold an SMS back, except the one that carries the tracking code.
    if row.kind == "sms"
        && row.event.as_deref() != Some("received")
        && let Some(until) = quiet_until(o, crate::base::time::now_millis())
    {
        return Done::Deferred(until);
    }
    match message(o, row).await {
        Ok(Ok(m)) => match channel.send(&m).await {
            Ok(()) => {
                metrics::counter!("tarmim_notifications_sent_total", "channel" => row.kind.clone())
                    .increment(1);
                Done::Sent
            }
            Err(NotifyError::Gone(why)) => gone(o, row, &m.to, &why).await,
            Err(e) => e.into(),
        },
        Ok(Err(skip)) => Done::Skipped(skip),
        Err(e) => e.into(),
    }
}

/// When the quiet hours around `now` end, if `now` is in them.
pub fn quiet_until(o: &Outbox, now: i64) -> Option<i64> {
    let (start, end) = o.quiet?;
    let local = jiff::Timestamp::from_millisecond(now)
        .ok()?
        .to_zoned(o.zone.clone());
    let minute = local.hour() as i64 * 60 + local.minute() as i64;
    let (start, end) = (i64::from(start), i64::from(end));
    let quiet = if start < end {
        minute >= start && minute < end
    } else {
        minute >= start || minute < end
    };
    if !quiet {
        return None;
    }
    let wait_min = (end - minute).rem_euclid(24 * 60);
    let into_minute = local.second() as i64 * 1000 + local.millisecond() as i64;
    Some(now + wait_min * 60_000 - into_minute)
}

/// The message of a notification row, or why there is none to send.
async fn message(o: &Outbox, row: &OutboxRow) -> Result<Result<Message, String>, NotifyError> {
    let db = &o.dispatch.store;
    let internal = |e: &dyn std::fmt::Display| NotifyError::Internal(e.to_string());
    let Some(reference) = row.contact.as_deref() else {
        return Ok(Err("no contact named".into()));
    };
    let Some(target) = records::contact_target(db, reference)
        .await
        .map_err(|e| internal(&e))?
    else {
        return Ok(Err("the contact was erased".into()));
    };
    if target.unsubscribed_at.is_some() {
        return Ok(Err("the citizen unsubscribed".into()));
    }
    let to = match row.kind.as_str() {
        "email" => target.email.clone(),
        "webpush" => target.webpush.clone(),
        _ => target.phone.clone(),
    };
    let Some(mut to) = to else {
        return Ok(Err(format!("the contact has no {} address", row.kind)));
    };
    if row.kind == "sms" {
        match crate::domain::phone::normalise_mobile(&to) {
            Ok(m) => to = m,
            Err(_) => return Ok(Err("the number is not a mobile number".into())),
        }
    }
    let task = DocId::new(row.task.clone()).map_err(|e| internal(&e))?;
    let (title, after) = if crate::domain::citizen::messages::is_message(&row.task) {
        // A citizen's message: its own words stand for a title.
        match crate::storage::messages::get(db, &row.task)
            .await
            .map_err(|e| internal(&e))?
        {
            Some(m) => (m.body.chars().take(60).collect::<String>(), None),
            None => return Ok(Err("the message is gone".into())),
        }
    } else {
        let view = match edit::load(&o.dispatch, &task).await {
            Ok((doc, _)) => doc.view().map_err(|e| internal(&e))?,
            Err(crate::domain::dispatch::DispatchError::NotFound(_)) => {
                return Ok(Err("the task is gone".into()));
            }
            Err(e) => return Err(internal(&e)),
        };
        let after = crate::domain::analytics::facts::derive(&view)
            .after_photo
            .map(|h| format!("/api/v1/photos/{h}/display"));
        (view.title.clone(), after)
    };
    // A supporter's contact is keyed by their own code; a reporter's by the task.
    let code = if target.kind == "support" {
        reference.to_owned()
    } else {
        let codes = codes::codes_of(db, &task).await.map_err(|e| internal(&e))?;
        match codes.into_iter().find(|c| c.role == codes::Role::Reporter) {
            Some(c) => c.code,
            None => return Ok(Err("the task has no reporter's code".into())),
        }
    };
    let event = row.event.as_deref().unwrap_or("");
    let lang = target.lang.as_deref().unwrap_or("fa");
    let Some(c) = compose::compose(&compose::About {
        event,
        lang,
        code: &code,
        base_url: &o.base_url,
        after_photo: after.as_deref(),
        title: &title,
    }) else {
        return Ok(Err(format!("no message for event {event:?}")));
    };
    Ok(Ok(Message {
        to,
        subject: c.subject,
        body: c.body,
        key: format!("n{}.{}", row.id, short_hash(&row.key)),
        lang: c.lang.to_owned(),
        unsubscribe: format!("{}/track/{code}/unsubscribe", o.base_url),
        text: c.line,
        link: c.link,
    }))
}

/// A push service said the subscription is gone: it is removed from the contact (if the
/// contact still holds that one), and the row is done with nothing sent.
async fn gone(o: &Outbox, row: &OutboxRow, subscription: &str, why: &str) -> Done {
    let Some(reference) = row.contact.as_deref() else {
        return Done::Skipped(format!("gone ({why})"));
    };
    match crate::storage::citizen_push::clear_if(&o.dispatch.store, reference, subscription).await {
        Ok(_) => {
            metrics::counter!("tarmim_citizen_push_gone_total").increment(1);
            Done::Skipped(format!(
                "the push service says the subscription is gone ({why}); removed"
            ))
        }
        Err(e) => Done::Failed(format!("removing a gone subscription failed: {e}")),
    }
}

/// 48 bits of the row key's SHA-256, so a `Message-ID` names the notification without
/// spelling out the task or the contact.
fn short_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..6])
}
