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
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::response::Category;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::Path;
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
    /// The extra root certificates cannot be read or used.
    #[error("TARMIM_SMTP_CA_FILE {0}")]
    Ca(String),
}

impl Email {
    /// The channel for `url`, sending from `from`, trusting the certificates of
    /// `ca_file` (PEM) besides the webpki roots; a send that takes longer than `timeout`
    /// fails (and is retried).
    pub fn new(
        url: &str,
        from: &str,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<Email, EmailConfigError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| EmailConfigError::Url(e.to_string()))?
            .timeout(Some(timeout));
        if let Some(path) = ca_file {
            match tls_with_ca(url, path)? {
                Some(tls) => builder = builder.tls(tls),
                None => tracing::warn!(
                    "TARMIM_SMTP_CA_FILE is set but TARMIM_SMTP_URL uses no TLS \
                     (smtps://, or ?tls=required|opportunistic): the file is not used"
                ),
            }
        }
        let transport = builder.build();
        let from = from
            .parse()
            .map_err(|_| EmailConfigError::From(from.to_owned()))?;
        Ok(Email { transport, from })
    }
}

/// The TLS mode the URL names (as `lettre`'s `from_url` reads it), with the certificates
/// of `path` trusted besides the webpki roots; none for a URL without TLS.
fn tls_with_ca(url: &str, path: &Path) -> Result<Option<Tls>, EmailConfigError> {
    let bad = |why: String| EmailConfigError::Ca(format!("{}: {why}", path.display()));
    let parsed = reqwest::Url::parse(url).map_err(|e| EmailConfigError::Url(e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| EmailConfigError::Url("no host".into()))?
        .trim_matches(['[', ']'])
        .to_owned();
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let ca = Certificate::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
    let params = TlsParameters::builder(host)
        .add_root_certificate(ca)
        .build_rustls()
        .map_err(|e| bad(e.to_string()))?;
    let mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    Ok(match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper(params)),
        ("smtp", Some("required")) => Some(Tls::Required(params)),
        ("smtp", Some("opportunistic")) => Some(Tls::Opportunistic(params)),
        _ => None,
    })
}

/// A send's failure as the outbox sees it: a refusal for good only when the mail system
/// refused this message or its recipient.
fn classify(e: lettre::transport::smtp::Error) -> NotifyError {
    match e.status() {
        Some(code) if e.is_permanent() && code.category == Category::MailSystem => {
            NotifyError::Refused(format!("SMTP: {e}"))
        }
        // 53x (530 "must issue STARTTLS / authenticate first", 535 "authentication
        // failed"), 50x (syntax): the session, not this message.
        Some(_) if e.is_permanent() => NotifyError::Unavailable(format!(
            "SMTP: the server refused the session ({e}); check the user, password and \
                 tls=required in TARMIM_SMTP_URL"
        )),
        _ if e.is_client() => NotifyError::Unavailable(format!(
            "SMTP: {e}; check the TLS mode and AUTH of TARMIM_SMTP_URL against the server's"
        )),
        _ if e.is_tls() => NotifyError::Unavailable(format!(
            "SMTP: TLS failed ({e}); is the server's certificate trusted (TARMIM_SMTP_CA_FILE)?"
        )),
        _ => NotifyError::Unavailable(format!("SMTP: {e}")),
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
                Err(e) => Err(classify(e)),
            }
        }
        .boxed()
    }
}
