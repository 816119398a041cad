//! Apple Push Notification service, token-based: a provider token (JWT, ES256, `kid` the
//! key id, `iss` the team, `iat`), reused for 40 minutes (Apple refuses one older than an
//! hour and throttles one renewed more often than every 20 minutes), and
//! `POST {endpoint}/3/device/{token}` over **HTTP/2** (APNs speaks nothing else).
//!
//! A normal wake-up is a background push (`apns-push-type: background`, priority 5,
//! `content-available`); an urgent job is an alert (`apns-push-type: alert`, priority 10)
//! whose text is a localisation key the app holds (`TARMIM_URGENT_JOB`): iOS throttles
//! background pushes, and an urgent job must reach a crew whose app was swiped away. Both
//! carry `apns-collapse-id` and no task content.
//!
//! Answers: 410, or 400 `BadDeviceToken`/`DeviceTokenNotForTopic` → the token is removed;
//! 403 `ExpiredProviderToken`/`InvalidProviderToken` → a new provider token, retried;
//! 429 `TooManyRequests` honours `Retry-After`.

use super::jws::{Key, KeyError};
use super::{COLLAPSE_KEY, PushError, Pusher, Wake, classify_answer, now_secs, unreachable};
use futures_util::future::BoxFuture;
use std::path::Path;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a provider token is reused, seconds.
const TOKEN_TTL: i64 = 40 * 60;

/// The localisation key of an urgent job's alert (the app's strings hold the words).
pub const URGENT_ALERT_KEY: &str = "TARMIM_URGENT_JOB";

/// What APNs needs besides the key.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The signing key's id (`kid`).
    pub key_id: String,
    /// The team id (`iss`).
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// The base URL; `http://` speaks HTTP/2 without TLS (tests).
    pub endpoint: String,
    /// How long a send may take.
    pub timeout: Duration,
}

/// APNs with a signing key.
pub struct Apns {
    key: Key,
    s: Settings,
    client: reqwest::Client,
    token: Mutex<Option<(String, i64)>>,
}

impl Apns {
    /// From a `.p8` file.
    pub fn from_file(path: &Path, s: Settings) -> Result<Apns, KeyError> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| KeyError(format!("{}: {e}", path.display())))?;
        Apns::new(Key::es256_pem(&pem)?, s)
    }

    /// With a loaded key.
    pub fn new(key: Key, s: Settings) -> Result<Apns, KeyError> {
        if s.key_id.is_empty() || s.team_id.is_empty() || s.topic.is_empty() {
            return Err(KeyError(
                "APNs needs apns_key_id, apns_team_id and apns_topic".into(),
            ));
        }
        let builder = reqwest::Client::builder()
            .timeout(s.timeout)
            .redirect(reqwest::redirect::Policy::none());
        // Over TLS, ALPN picks HTTP/2; in the clear there is no ALPN, so say it up front.
        let builder = if s.endpoint.starts_with("http://") {
            builder.http2_prior_knowledge()
        } else {
            builder
        };
        let client = builder.build().map_err(|e| KeyError(e.to_string()))?;
        Ok(Apns {
            key,
            s: Settings {
                endpoint: s.endpoint.trim_end_matches('/').to_owned(),
                ..s
            },
            client,
            token: Mutex::new(None),
        })
    }

    async fn provider_token(&self) -> String {
        let mut t = self.token.lock().await;
        let now = now_secs();
        if let Some((jwt, at)) = t.as_ref()
            && now - at < TOKEN_TTL
        {
            return jwt.clone();
        }
        let jwt = self.key.sign(
            serde_json::json!({ "kid": self.s.key_id }),
            &serde_json::json!({ "iss": self.s.team_id, "iat": now }),
        );
        *t = Some((jwt.clone(), now));
        jwt
    }

    async fn send(&self, token: &str, wake: &Wake) -> Result<(), PushError> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PushError::Unregistered("not an APNs device token".into()));
        }
        let jwt = self.provider_token().await;
        let (push_type, priority, body) = if wake.urgent {
            (
                "alert",
                "10",
                serde_json::json!({
                    "aps": { "alert": { "loc-key": URGENT_ALERT_KEY }, "sound": "default",
                             "content-available": 1 },
                    "t": "sync",
                }),
            )
        } else {
            (
                "background",
                "5",
                serde_json::json!({ "aps": { "content-available": 1 }, "t": "sync" }),
            )
        };
        let expiration = now_secs().saturating_add(i64::try_from(wake.ttl.as_secs()).unwrap_or(0));
        let resp = self
            .client
            .post(format!("{}/3/device/{token}", self.s.endpoint))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", &self.s.topic)
            .header("apns-push-type", push_type)
            .header("apns-priority", priority)
            .header("apns-collapse-id", COLLAPSE_KEY)
            .header("apns-expiration", expiration.to_string())
            .json(&body)
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
            body.contains("BadDeviceToken") || body.contains("DeviceTokenNotForTopic")
        });
        if matches!(err, PushError::Unauthorized(_)) {
            *self.token.lock().await = None;
        }
        Err(err)
    }
}

impl Pusher for Apns {
    fn push<'a>(&'a self, token: &'a str, wake: &'a Wake) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(self.send(token, wake))
    }
}
