//! E-mail over SMTP (`lettre`): plain SMTP, STARTTLS (required or opportunistic) or TLS
//! from the start, with AUTH, as the connection URL says (`TARMIM_SMTP_URL`:
//! `smtp://host:25`, `smtp://user:pass@host:587?tls=required`, `smtps://host:465`). TLS is
//! rustls with ring and the webpki roots.
//!
//! Each message carries its notification's idempotency key as its `Message-ID`
//! (`<key@tarmim.notify>`): a message resent after a crash between the server's hand-over
//! and its record of it is the same message, which a receiver that de-duplicates by
//! `Message-ID` (the test sink; not every mail system) keeps once. `List-Unsubscribe`
//! carries the unsubscribe link.

use super::{Message, Notifier, NotifyError};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// The domain part of every `Message-ID`.
pub const MESSAGE_ID_DOMAIN: &str = "tarmim.notify";

/// The SMTP channel.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

/// Why the e-mail settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EmailConfigError {
    /// The URL does not parse.
    #[error("TARMIM_SMTP_URL: {0}")]
    Url(String),
    /// The From address does not parse.
    #[error("TARMIM_SMTP_FROM {0:?} is not an address")]
    From(String),
}

impl Email {
    /// The channel for `url`, sending from `from`; a send that takes longer than
    /// `timeout` fails (and is retried).
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Email, EmailConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| EmailConfigError::Url(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        let from = from
            .parse()
            .map_err(|_| EmailConfigError::From(from.to_owned()))?;
        Ok(Email { transport, from })
    }
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.trim_matches(['<', '>']).to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

impl Notifier for Email {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        async move {
            let to: lettre::message::Mailbox =
                m.to.parse()
                    .map_err(|_| NotifyError::Refused("not an e-mail address".into()))?;
            let email = lettre::Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(m.subject.clone())
                .message_id(Some(format!("<{}@{MESSAGE_ID_DOMAIN}>", m.key)))
                .header(ListUnsubscribe(m.unsubscribe.clone()))
                .header(ContentType::TEXT_PLAIN)
                .body(m.body.clone())
                .map_err(|e| NotifyError::Internal(format!("building the e-mail: {e}")))?;
            match self.transport.send(email).await {
                Ok(_) => Ok(()),
                // A 5xx answer: this message will never be taken.
                Err(e) if e.is_permanent() => Err(NotifyError::Refused(format!("SMTP: {e}"))),
                Err(e) => Err(NotifyError::Unavailable(format!("SMTP: {e}"))),
            }
        }
        .boxed()
    }
}
