//! A device registering how it is woken: the push service (`fcm`, `apns`, `webpush`) and
//! its token, checked before it is stored (`PUT /api/v1/me/push`). A device has one
//! registration: a rotated token replaces the old one.

use crate::base::config::push::PushConfig;
use crate::base::time::now_millis;
use crate::domain::identity::Identity;
use crate::storage::{Db, DbError, push as rows};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// A push service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
    /// Web Push (UnifiedPush on de-Googled Android, browsers).
    WebPush,
}

impl Kind {
    /// From its wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "fcm" => Some(Kind::Fcm),
            "apns" => Some(Kind::Apns),
            "webpush" => Some(Kind::WebPush),
            _ => None,
        }
    }

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fcm => "fcm",
            Kind::Apns => "apns",
            Kind::WebPush => "webpush",
        }
    }
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The kind or token is not acceptable (400).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A Web Push subscription as `PushSubscription.toJSON()` gives it.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The push service's URL for this subscription.
    pub endpoint: String,
    /// Ms since the epoch after which the subscription is dead, if the browser said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<i64>,
    /// The user agent's keys.
    pub keys: SubscriptionKeys,
}

/// The user agent's keys of a [`Subscription`] (base64url).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct SubscriptionKeys {
    /// Its P-256 public key, uncompressed (65 bytes).
    pub p256dh: String,
    /// Its authentication secret (16 bytes).
    pub auth: String,
}

/// A subscription's parts, checked.
pub struct Checked {
    /// The endpoint.
    pub endpoint: reqwest::Url,
    /// The user agent's public key.
    pub p256dh: p256::PublicKey,
    /// The authentication secret.
    pub auth: [u8; 16],
}

impl Subscription {
    /// Parses and checks a subscription's JSON: an `https` endpoint (or `http` when
    /// `allow_http`), a P-256 point, a 16-byte secret, not expired.
    pub fn check(
        json: &str,
        allow_http: bool,
        now: i64,
    ) -> Result<(Subscription, Checked), String> {
        let s: Subscription = serde_json::from_str(json).map_err(|e| {
            format!("not a Web Push subscription (endpoint, keys.p256dh, keys.auth): {e}")
        })?;
        let endpoint = reqwest::Url::parse(&s.endpoint)
            .map_err(|e| format!("the subscription's endpoint is not a URL: {e}"))?;
        match endpoint.scheme() {
            "https" => {}
            "http" if allow_http => {}
            other => {
                return Err(format!(
                    "the subscription's endpoint must be https, not {other}"
                ));
            }
        }
        if endpoint.host_str().is_none() || !endpoint.username().is_empty() {
            return Err("the subscription's endpoint has no host, or carries credentials".into());
        }
        if s.expiration_time.is_some_and(|t| t <= now) {
            return Err("the subscription has expired".into());
        }
        let key = B64
            .decode(s.keys.p256dh.trim_end_matches('='))
            .map_err(|_| "keys.p256dh is not base64url".to_owned())?;
        if key.len() != 65 {
            return Err("keys.p256dh is not an uncompressed P-256 point (65 bytes)".into());
        }
        let p256dh = p256::PublicKey::from_sec1_bytes(&key)
            .map_err(|_| "keys.p256dh is not a point on P-256".to_owned())?;
        let auth: [u8; 16] = B64
            .decode(s.keys.auth.trim_end_matches('='))
            .ok()
            .and_then(|a| a.try_into().ok())
            .ok_or_else(|| "keys.auth is not 16 bytes of base64url".to_owned())?;
        Ok((
            s,
            Checked {
                endpoint,
                p256dh,
                auth,
            },
        ))
    }
}

/// Checks `token` for `kind`; returns the form to store (a Web Push subscription
/// re-serialised, so the same subscription is always the same text).
pub fn check(kind: &str, token: &str, c: &PushConfig, now: i64) -> Result<(Kind, String), String> {
    let Some(kind) = Kind::parse(kind) else {
        return Err(format!(
            "unknown push kind {kind:?}: expected fcm, apns or webpush"
        ));
    };
    let token = token.trim();
    if token.is_empty() {
        return Err("the push token is empty".into());
    }
    if token.len() > c.max_token_bytes {
        return Err(format!(
            "the push token is {} bytes; at most {} are accepted",
            token.len(),
            c.max_token_bytes
        ));
    }
    match kind {
        Kind::Fcm => {
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("an FCM token is printable ASCII without spaces".into());
            }
            Ok((kind, token.to_owned()))
        }
        Kind::Apns => {
            let ok = token.len() >= 64
                && token.len() <= 200
                && token.len().is_multiple_of(2)
                && token.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err("an APNs device token is 64 to 200 hexadecimal digits".into());
            }
            Ok((kind, token.to_ascii_lowercase()))
        }
        Kind::WebPush => {
            let (s, _) = Subscription::check(token, c.allow_http_endpoints, now)?;
            let json = serde_json::to_string(&s).map_err(|e| e.to_string())?;
            Ok((kind, json))
        }
    }
}

/// Registers the caller's device.
pub async fn register(
    db: &Db,
    who: &Identity,
    kind: &str,
    token: &str,
    c: &PushConfig,
) -> Result<Kind, RegistrationError> {
    let now = now_millis();
    let (kind, token) = check(kind, token, c, now).map_err(RegistrationError::Invalid)?;
    rows::register(
        db,
        who.device.as_str(),
        &who.user_id,
        kind.as_str(),
        &token,
        now,
    )
    .await?;
    Ok(kind)
}

/// Removes the caller's device's registration; true if it had one.
pub async fn unregister(db: &Db, who: &Identity) -> Result<bool, RegistrationError> {
    Ok(rows::unregister(db, who.device.as_str()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(endpoint: &str, p256dh: &str, auth: &str) -> String {
        serde_json::json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
            .to_string()
    }

    #[test]
    fn tokens_checked() {
        let c = PushConfig::default();
        let key = {
            let k = p256::SecretKey::from_slice(&[3u8; 32]).unwrap();
            B64.encode(k.public_key().to_sec1_bytes())
        };
        let auth = B64.encode([1u8; 16]);
        assert!(check("fcm", "abc:DEF_123-x", &c, 0).is_ok());
        assert!(check("fcm", "has space", &c, 0).is_err());
        assert!(check("fcm", &"a".repeat(10 * 1024), &c, 0).is_err());
        assert!(check("sms", "x", &c, 0).is_err());
        assert!(check("fcm", "  ", &c, 0).is_err());
        assert_eq!(
            check("apns", &"AB".repeat(32), &c, 0).unwrap().1,
            "ab".repeat(32)
        );
        assert!(check("apns", "abc", &c, 0).is_err());
        assert!(
            check(
                "webpush",
                &sub("https://push.example/x", &key, &auth),
                &c,
                0
            )
            .is_ok()
        );
        assert!(check("webpush", &sub("http://push.example/x", &key, &auth), &c, 0).is_err());
        assert!(
            check(
                "webpush",
                &sub("https://push.example/x", &key[1..], &auth),
                &c,
                0
            )
            .is_err()
        );
        assert!(
            check(
                "webpush",
                &sub("https://push.example/x", &key, "AAAA"),
                &c,
                0
            )
            .is_err()
        );
        assert!(check("webpush", "{}", &c, 0).is_err());
        let expired = serde_json::json!({"endpoint": "https://push.example/x", "expirationTime": 5,
            "keys": {"p256dh": key, "auth": auth}})
        .to_string();
        assert!(check("webpush", &expired, &c, 10).is_err());
        // 65 bytes that are not a point on the curve.
        let off = {
            let mut b = vec![4u8];
            b.extend([0xffu8; 64]);
            B64.encode(b)
        };
        assert!(
            check(
                "webpush",
                &sub("https://push.example/x", &off, &auth),
                &c,
                0
            )
            .is_err()
        );
    }
}
