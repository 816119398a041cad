//! Firebase Cloud Messaging, HTTP v1: the service account signs a JWT (RS256) which the
//! token URI exchanges for an OAuth2 access token (RFC 7523), kept until shortly before it
//! expires; each wake-up is then `POST {endpoint}/v1/projects/{project}/messages:send`, a
//! data-only message (no `notification`: the app is woken, nothing is shown) with
//! `android.priority` HIGH for an urgent job, NORMAL otherwise, and the collapse key.
//!
//! Answers: 404 or a 400 naming `UNREGISTERED`/an invalid registration token → the token
//! is removed; 401/403 → the cached access token is dropped and the row retried; 429 and
//! 503 honour `Retry-After`.

use super::jws::{Key, KeyError};
use super::{COLLAPSE_KEY, PushError, Pusher, Wake, classify_answer, now_secs, unreachable};
use futures_util::future::BoxFuture;
use std::path::Path;
use std::time::Duration;
use tokio::sync::Mutex;

/// The OAuth2 scope FCM sends need.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The fields of a service-account file FCM needs.
#[derive(Debug, serde::Deserialize)]
pub struct ServiceAccount {
    /// The account (the JWT's issuer).
    pub client_email: String,
    /// Its RSA key, PKCS #8 PEM.
    pub private_key: String,
    /// The Firebase project.
    pub project_id: String,
    /// Where the JWT is exchanged for an access token.
    pub token_uri: String,
}

/// An access token and when to stop using it (seconds since the epoch).
struct Access {
    token: String,
    until: i64,
}

/// FCM with a service account.
pub struct Fcm {
    email: String,
    key: Key,
    project: String,
    token_uri: String,
    endpoint: String,
    client: reqwest::Client,
    access: Mutex<Option<Access>>,
}

impl Fcm {
    /// From a service-account JSON file; `token_uri` overrides the file's.
    pub fn from_file(
        path: &Path,
        token_uri: Option<String>,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Fcm, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError(format!("{}: {e}", path.display())))?;
        let account: ServiceAccount = serde_json::from_str(&text)
            .map_err(|e| KeyError(format!("{}: not a service account: {e}", path.display())))?;
        Fcm::new(account, token_uri, endpoint, timeout)
    }

    /// From a service account's fields.
    pub fn new(
        account: ServiceAccount,
        token_uri: Option<String>,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Fcm, KeyError> {
        let key = Key::rs256_pem(&account.private_key)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| KeyError(e.to_string()))?;
        Ok(Fcm {
            email: account.client_email,
            key,
            project: account.project_id,
            token_uri: token_uri.unwrap_or(account.token_uri),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            client,
            access: Mutex::new(None),
        })
    }

    /// A valid access token: the cached one, or a fresh exchange.
    async fn access_token(&self) -> Result<String, PushError> {
        let mut access = self.access.lock().await;
        let now = now_secs();
        if let Some(a) = access.as_ref()
            && a.until > now
        {
            return Ok(a.token.clone());
        }
        let assertion = self.key.sign(
            serde_json::json!({}),
            &serde_json::json!({
                "iss": self.email,
                "scope": SCOPE,
                "aud": self.token_uri,
                "iat": now,
                "exp": now + 3600,
            }),
        );
        let resp = self
            .client
            .post(&self.token_uri)
            // reqwest's `form` feature is off in this workspace; serde_urlencoded is what it
            // would use.
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ])
                .map_err(|e| PushError::Refused(e.to_string()))?,
            )
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp.headers().get("retry-after").cloned();
            let text = resp.text().await.unwrap_or_default();
            return Err(
                match classify_answer(status, retry_after.as_ref(), &text, |_| false) {
                    // The token exchange knows no device: a 400/404 there is our credentials'.
                    PushError::Unregistered(why) | PushError::Refused(why) => {
                        PushError::Unauthorized(format!("token exchange: {why}"))
                    }
                    other => other,
                },
            );
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: Option<i64>,
        }
        let a: Answer = resp
            .json()
            .await
            .map_err(|e| PushError::Unavailable(format!("token exchange answer: {e}")))?;
        // A minute's margin, so a token is never sent in its last seconds.
        let until = now + a.expires_in.unwrap_or(3600).saturating_sub(60);
        *access = Some(Access {
            token: a.access_token.clone(),
            until,
        });
        Ok(a.access_token)
    }

    async fn send(&self, token: &str, wake: &Wake) -> Result<(), PushError> {
        let access = self.access_token().await?;
        let message = serde_json::json!({
            "message": {
                "token": token,
                "data": { "t": "sync", "urgent": if wake.urgent { "1" } else { "0" } },
                "android": {
                    "priority": if wake.urgent { "HIGH" } else { "NORMAL" },
                    "collapse_key": COLLAPSE_KEY,
                    "ttl": format!("{}s", wake.ttl.as_secs()),
                },
            }
        });
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.endpoint, self.project
        );
        let resp = self
            .client
            .post(url)
            .bearer_auth(&access)
            .json(&message)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp.headers().get("retry-after").cloned();
        let text = resp.text().await.unwrap_or_default();
        let err = classify_answer(status, retry_after.as_ref(), &text, |body| {
            body.contains("UNREGISTERED") || body.contains("registration token")
        });
        if matches!(err, PushError::Unauthorized(_)) {
            // The access token was revoked or expired early: exchange a new one next time.
            *self.access.lock().await = None;
        }
        Err(err)
    }
}

impl Pusher for Fcm {
    fn push<'a>(&'a self, token: &'a str, wake: &'a Wake) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(self.send(token, wake))
    }
}
