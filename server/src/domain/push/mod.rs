//! Waking crews' phones (issue 20 §1): the [`Pusher`] interface behind every push service,
//! a device's registration ([`registration`]), and [`deliver`], which the outbox loop calls
//! for a `wake` row.
//!
//! - [`fcm`]: Firebase Cloud Messaging HTTP v1 (service-account JWT, RS256, token exchange).
//! - [`apns`]: Apple Push Notification service, token-based (ES256 JWT) over HTTP/2.
//! - [`webpush`]: Web Push (RFC 8030) with an RFC 8291 encrypted payload and VAPID (RFC 8292).
//! - [`jws`]: the JSON Web Signatures the three sign their requests with.
//!
//! **Nothing about a task goes through a provider** ([`Wake`] has no field for it): a
//! wake-up says "sync now" under one collapse key, and the phone fetches what changed
//! over its own authenticated connection (`docs/push.md`).
//!
//! A service is configured or absent ([`Pushers`]); a row for a device of an absent service,
//! a device with no registration, or a device connected to this replica is skipped. A
//! provider's "unregistered" answer deletes the registration (if it still holds that token).

pub mod apns;
pub mod fcm;
pub mod jws;
pub mod registration;
pub mod webpush;

use crate::base::config::push::PushConfig;
use crate::base::time::now_millis;
use crate::domain::outbox::{Done, Outbox};
use crate::storage::outbox::OutboxRow;
use crate::storage::push as registrations;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

pub use registration::{Kind, RegistrationError};

/// The collapse key of every wake-up: a provider holding several for one device delivers
/// the last only.
pub const COLLAPSE_KEY: &str = "tarmim-sync";

/// What a wake-up says: everything a provider sees of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// An urgent job: high priority, and on iOS a visible alert (with no task content).
    pub urgent: bool,
    /// How long the provider may hold it for an unreachable device.
    pub ttl: Duration,
}

/// Why a push failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The provider says the token or subscription is no longer valid: remove it.
    #[error("unregistered: {0}")]
    Unregistered(String),
    /// The provider refused our credentials (401/403): worth retrying with a fresh token.
    #[error("credentials refused: {0}")]
    Unauthorized(String),
    /// Too many requests: not before `retry_after` (the provider's `Retry-After`).
    #[error("rate limited: {why}")]
    RateLimited {
        /// The provider's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
        /// The provider's words.
        why: String,
    },
    /// Unreachable, timed out or a server error: worth trying again.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// Refused for good (a malformed request): retrying cannot help.
    #[error("refused: {0}")]
    Refused(String),
}

/// A push service.
pub trait Pusher: Send + Sync {
    /// Sends `wake` to the device holding `token` (for Web Push, its subscription JSON);
    /// done when the provider accepted it.
    fn push<'a>(&'a self, token: &'a str, wake: &'a Wake) -> BoxFuture<'a, Result<(), PushError>>;
}

/// The configured push services.
#[derive(Clone, Default)]
pub struct Pushers {
    /// FCM.
    pub fcm: Option<Arc<dyn Pusher>>,
    /// APNs.
    pub apns: Option<Arc<dyn Pusher>>,
    /// Web Push.
    pub webpush: Option<Arc<dyn Pusher>>,
    /// How long providers may hold a wake-up.
    pub ttl: Duration,
}

impl Pushers {
    /// None configured: every wake-up is skipped.
    pub fn none() -> Pushers {
        Pushers::default()
    }

    /// The services the configuration names. A service whose credentials do not load is
    /// left out, loudly (its wake-ups are then skipped).
    pub fn from_config(c: &PushConfig) -> Pushers {
        let timeout = Duration::from_secs(c.timeout_secs.max(1));
        let fcm = c.fcm_service_account.as_ref().and_then(|path| {
            match fcm::Fcm::from_file(path, c.fcm_token_uri.clone(), &c.fcm_endpoint, timeout) {
                Ok(f) => Some(Arc::new(f) as Arc<dyn Pusher>),
                Err(e) => {
                    tracing::error!(error = %e, "FCM wake-ups are off");
                    None
                }
            }
        });
        let apns = c.apns_key.as_ref().and_then(|path| {
            let settings = apns::Settings {
                key_id: c.apns_key_id.clone(),
                team_id: c.apns_team_id.clone(),
                topic: c.apns_topic.clone(),
                endpoint: c.apns_endpoint.clone(),
                timeout,
            };
            match apns::Apns::from_file(path, settings) {
                Ok(a) => Some(Arc::new(a) as Arc<dyn Pusher>),
                Err(e) => {
                    tracing::error!(error = %e, "APNs wake-ups are off");
                    None
                }
            }
        });
        let webpush = c.vapid_private_key.as_deref().and_then(|key| {
            match webpush::WebPush::new(key, &c.vapid_subject, timeout) {
                Ok(w) => Some(Arc::new(w) as Arc<dyn Pusher>),
                Err(e) => {
                    tracing::error!(error = %e, "Web Push wake-ups are off");
                    None
                }
            }
        });
        Pushers {
            fcm,
            apns,
            webpush,
            ttl: Duration::from_secs(c.ttl_secs),
        }
    }

    /// The service of `kind`, if configured.
    pub fn of(&self, kind: Kind) -> Option<&Arc<dyn Pusher>> {
        match kind {
            Kind::Fcm => self.fcm.as_ref(),
            Kind::Apns => self.apns.as_ref(),
            Kind::WebPush => self.webpush.as_ref(),
        }
    }
}

/// Sends the wake-up of one outbox row.
pub async fn deliver(o: &Outbox, row: &OutboxRow) -> Done {
    let d = &o.dispatch;
    let Some(device) = row.device.as_deref() else {
        return Done::Fatal("a wake-up row names no device".into());
    };
    if d.hub.is_connected(device) {
        return Done::Skipped("the device is connected".into());
    }
    let reg = match registrations::of_device(&d.store, device).await {
        Ok(Some(r)) => r,
        Ok(None) => return Done::Skipped("the device has no push registration".into()),
        Err(e) => return Done::Failed(e.to_string()),
    };
    let Some(kind) = Kind::parse(&reg.kind) else {
        return Done::Skipped(format!("unknown push kind {:?}", reg.kind));
    };
    let Some(pusher) = o.pushers.of(kind) else {
        return Done::Skipped(format!("no {} service is configured", kind.as_str()));
    };
    let wake = Wake {
        urgent: row.event.as_deref() == Some("urgent"),
        ttl: o.pushers.ttl,
    };
    let result = pusher.push(&reg.token, &wake).await;
    let outcome = match &result {
        Ok(()) => "sent",
        Err(PushError::Unregistered(_)) => "unregistered",
        Err(PushError::Unauthorized(_)) => "unauthorized",
        Err(PushError::RateLimited { .. }) => "rate_limited",
        Err(PushError::Unavailable(_)) => "unavailable",
        Err(PushError::Refused(_)) => "refused",
    };
    metrics::counter!("tarmim_push_total", "kind" => kind.as_str(), "outcome" => outcome)
        .increment(1);
    match result {
        Ok(()) => Done::Sent,
        Err(PushError::Unregistered(why)) => {
            // Only the token the provider refused: a newer one registered meanwhile stays.
            if let Err(e) = registrations::forget_token(&d.store, device, &reg.token).await {
                return Done::Failed(format!("removing an unregistered token failed: {e}"));
            }
            tracing::info!(
                device,
                kind = kind.as_str(),
                "push token unregistered by the provider; removed"
            );
            Done::Skipped(format!(
                "unregistered by the provider ({why}); registration removed"
            ))
        }
        Err(e @ PushError::RateLimited { retry_after, .. }) => match retry_after {
            Some(after) => {
                let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
                Done::FailedUntil(now_millis().saturating_add(after), e.to_string())
            }
            None => Done::Failed(e.to_string()),
        },
        Err(e @ PushError::Refused(_)) => Done::Fatal(e.to_string()),
        Err(e @ (PushError::Unauthorized(_) | PushError::Unavailable(_))) => {
            Done::Failed(e.to_string())
        }
    }
}

/// Reads a provider's answer into a [`PushError`] for the statuses every provider shares
/// (401/403, 404/410, 413, 429, 5xx); `unregistered` decides a 400's meaning from its body.
pub(crate) fn classify_answer(
    status: reqwest::StatusCode,
    retry_after: Option<&reqwest::header::HeaderValue>,
    body: &str,
    unregistered: impl Fn(&str) -> bool,
) -> PushError {
    let why = format!("{status}: {}", body.chars().take(300).collect::<String>());
    match status.as_u16() {
        401 | 403 => PushError::Unauthorized(why),
        404 | 410 => PushError::Unregistered(why),
        429 => PushError::RateLimited {
            retry_after: retry_after.and_then(parse_retry_after),
            why,
        },
        400 if unregistered(body) => PushError::Unregistered(why),
        s if s >= 500 => PushError::Unavailable(why),
        _ => PushError::Refused(why),
    }
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(v: &reqwest::header::HeaderValue) -> Option<Duration> {
    let s = v.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(s).ok()?.timestamp();
    let wait = at.as_millisecond().saturating_sub(now_millis());
    Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
}

/// A request's failure to reach the provider.
pub(crate) fn unreachable(e: reqwest::Error) -> PushError {
    if e.is_timeout() {
        PushError::Unavailable("timed out".into())
    } else {
        // Without the URL: a Web Push endpoint identifies its subscriber, and this text
        // reaches the log and the dead-letter list.
        PushError::Unavailable(format!("unreachable: {}", e.without_url()))
    }
}

/// Seconds since the epoch, for JWT claims.
pub(crate) fn now_secs() -> i64 {
    now_millis() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    #[test]
    fn answers_classified() {
        let no = |_: &str| false;
        let c = |s: u16, ra: Option<&str>| {
            let v = ra.map(|r| HeaderValue::from_str(r).unwrap());
            classify_answer(StatusCode::from_u16(s).unwrap(), v.as_ref(), "x", no)
        };
        assert!(matches!(c(401, None), PushError::Unauthorized(_)));
        assert!(matches!(c(410, None), PushError::Unregistered(_)));
        assert!(matches!(c(404, None), PushError::Unregistered(_)));
        assert!(matches!(c(500, None), PushError::Unavailable(_)));
        assert!(matches!(c(413, None), PushError::Refused(_)));
        assert_eq!(
            c(429, Some("7")),
            PushError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
                why: "429 Too Many Requests: x".into()
            }
        );
        assert!(matches!(
            c(429, Some("soon")),
            PushError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        let bad = classify_answer(StatusCode::BAD_REQUEST, None, "BadDeviceToken", |b| {
            b.contains("BadDeviceToken")
        });
        assert!(matches!(bad, PushError::Unregistered(_)));
    }
}
