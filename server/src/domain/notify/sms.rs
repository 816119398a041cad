//! SMS through an HTTP gateway, in one of two request shapes (`TARMIM_SMS_FORMAT`):
//!
//! - `webhook` (the default): `POST <TARMIM_SMS_URL>` with a JSON body
//!   `{"to": "+989121234567", "text": "…", "lang": "fa", "idempotency_key": "n12.3f…"}`,
//!   the key also as the `Idempotency-Key` header, and `Authorization: Bearer
//!   <TARMIM_SMS_TOKEN>` when a token is set. Any 2xx is taken.
//! - `kavenegar`: Kavenegar's REST API, `POST <base>/v1/<TARMIM_SMS_TOKEN>/sms/send.json`
//!   (base `TARMIM_SMS_URL`, e.g. `https://api.kavenegar.com`) with the form fields
//!   `receptor` (the national `09…` form for Iranian numbers), `message`, `sender`
//!   (`TARMIM_SMS_SENDER`, if set) and `localid` (the idempotency key, by which Kavenegar
//!   refuses a second send of the same message). Taken when the JSON answer's
//!   `return.status` is 200.
//!
//! A 4xx answer (but 408 and 429) is a refusal of this message (dead-lettered at once);
//! a 5xx, 408, 429, a connection failure or no answer within the timeout is retried.

use super::{Message, Notifier, NotifyError};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::json;
use std::time::Duration;

/// The gateway's request shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The documented JSON webhook.
    Webhook,
    /// Kavenegar's REST API.
    Kavenegar,
}

impl Format {
    /// Reads `webhook` or `kavenegar`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "webhook" => Some(Format::Webhook),
            "kavenegar" => Some(Format::Kavenegar),
            _ => None,
        }
    }
}

/// The SMS channel.
pub struct Sms {
    http: reqwest::Client,
    url: String,
    format: Format,
    token: Option<String>,
    sender: Option<String>,
}

impl Sms {
    /// The channel for a gateway at `url`.
    pub fn new(
        url: &str,
        format: Format,
        token: Option<String>,
        sender: Option<String>,
        timeout: Duration,
    ) -> Result<Sms, String> {
        crate::base::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Sms {
            http,
            url: url.trim_end_matches('/').to_owned(),
            format,
            token,
            sender,
        })
    }
}

/// `+98…` as Iranian gateways write it: `0…`.
fn national(e164: &str) -> String {
    match e164.strip_prefix("+98") {
        Some(rest) => format!("0{rest}"),
        None => e164.trim_start_matches('+').to_owned(),
    }
}

fn status_error(status: reqwest::StatusCode, what: &str) -> NotifyError {
    if status.is_client_error()
        && status != reqwest::StatusCode::REQUEST_TIMEOUT
        && status != reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        NotifyError::Refused(format!("SMS gateway answered {status}{what}"))
    } else {
        NotifyError::Unavailable(format!("SMS gateway answered {status}{what}"))
    }
}

fn send_error(e: reqwest::Error) -> NotifyError {
    if e.is_timeout() {
        NotifyError::Unavailable("SMS gateway: no answer within the timeout".into())
    } else {
        NotifyError::Unavailable(format!("SMS gateway unreachable: {}", e.without_url()))
    }
}

impl Notifier for Sms {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        async move {
            match self.format {
                Format::Webhook => {
                    let mut req = self
                        .http
                        .post(&self.url)
                        .header("Idempotency-Key", &m.key)
                        .json(&json!({
                            "to": m.to,
                            "text": m.body,
                            "lang": m.lang,
                            "idempotency_key": m.key,
                        }));
                    if let Some(t) = &self.token {
                        req = req.bearer_auth(t);
                    }
                    let r = req.send().await.map_err(send_error)?;
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(status_error(r.status(), ""))
                    }
                }
                Format::Kavenegar => {
                    let key = self.token.as_deref().unwrap_or_default();
                    let url = format!("{}/v1/{key}/sms/send.json", self.url);
                    let receptor = national(&m.to);
                    let mut form: Vec<(&str, &str)> = vec![
                        ("receptor", &receptor),
                        ("message", &m.body),
                        ("localid", &m.key),
                    ];
                    if let Some(s) = &self.sender {
                        form.push(("sender", s));
                    }
                    let body = serde_urlencoded::to_string(&form)
                        .map_err(|e| NotifyError::Internal(e.to_string()))?;
                    let r = self
                        .http
                        .post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await
                        .map_err(send_error)?;
                    let status = r.status();
                    let answer: serde_json::Value = r.json().await.unwrap_or_default();
                    let code = answer["return"]["status"].as_i64().unwrap_or(0);
                    if status.is_success() && code == 200 {
                        Ok(())
                    } else {
                        let why = answer["return"]["message"].as_str().unwrap_or("");
                        Err(status_error(status, &format!(" ({code} {why})")))
                    }
                }
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn national_form_of_iranian_numbers() {
        assert_eq!(super::national("+989121234567"), "09121234567");
        assert_eq!(super::national("+447400123456"), "447400123456");
    }
}
