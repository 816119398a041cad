//! Web Push for citizens (issue 17 §3): "notify me" on the tracking page subscribes the
//! browser with the server's VAPID key and gives the subscription for that tracking code
//! ([`subscribe`]); each public status change then reaches it through the outbox
//! ([`CitizenPush`], a [`Notifier`]).
//!
//! The encryption (RFC 8291) and the VAPID request (RFC 8292) are the crews' wake-ups'
//! ([`crate::domain::push::webpush::WebPush::post`]); only the payload differs:
//! `{"text": <the status text>, "url": <the tracking link>, "lang": "fa"|"en"}` — no
//! contact, no photo, nothing the tracking page does not show anyone holding the code.
//!
//! A subscription is a contact detail (`storage::citizen_push`): never logged, erased by
//! "forget my contact" and the retention sweep, stopped by the unsubscribe link, removed
//! by [`unsubscribe`] and by the push service's 404/410. Citizens have no account, so an
//! endpoint must be `https` on a known push service's host (`[push]
//! citizen_push_hosts`): the server never POSTs to an address a stranger chose.

use super::{Message, Notifier, NotifyError};
use crate::base::config::push::PushConfig;
use crate::base::time::now_millis;
use crate::domain::citizen::Citizens;
use crate::domain::citizen::codes::{self, Role};
use crate::domain::citizen::public_view::TrackError;
use crate::domain::push::PushError;
use crate::domain::push::registration::Subscription;
use crate::domain::push::webpush::{Delivery, WebPush};
use crate::storage::citizen_push as rows;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// How long a push service may hold a citizen's notification for a browser that is off.
const TTL: Duration = Duration::from_secs(24 * 3600);

/// The Web Push channel of citizens' notifications.
pub struct CitizenPush {
    push: WebPush,
}

impl CitizenPush {
    /// The channel, when `[push]` has a VAPID key (else none: the page hides its
    /// button, as `GET /api/v1/push/vapid` answers 404).
    pub fn from_config(c: &PushConfig) -> Option<CitizenPush> {
        let key = c.vapid_private_key.as_deref()?;
        let timeout = Duration::from_secs(c.timeout_secs.max(1));
        match WebPush::new(key, &c.vapid_subject, timeout) {
            Ok(push) => Some(CitizenPush { push }),
            Err(e) => {
                tracing::error!(error = %e, "citizens' Web Push notifications are off");
                None
            }
        }
    }
}

/// What a citizen's browser decrypts: the status text and the tracking link only.
pub fn payload(m: &Message) -> String {
    serde_json::json!({ "text": m.text, "url": m.link, "lang": m.lang }).to_string()
}

impl Notifier for CitizenPush {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        async move {
            let how = Delivery {
                ttl: TTL,
                urgent: false,
                topic: None,
            };
            self.push
                .post(&m.to, payload(m).as_bytes(), &how)
                .await
                .map_err(|e| match e {
                    PushError::Unregistered(why) => NotifyError::Gone(why),
                    PushError::Refused(why) => NotifyError::Refused(format!("Web Push: {why}")),
                    e @ (PushError::Unauthorized(_)
                    | PushError::RateLimited { .. }
                    | PushError::Unavailable(_)) => {
                        NotifyError::Unavailable(format!("Web Push: {e}"))
                    }
                })
        }
        .boxed()
    }
}

/// Whether `host` is one of `known` or under one of them.
fn known_host(host: &str, known: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    known.iter().any(|k| {
        host == *k
            || host
                .strip_suffix(k.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// Checks a citizen's subscription (as `PushSubscription.toJSON()` gives it): its size,
/// its keys (a P-256 point, a 16-byte secret), an `https` endpoint (`http` only where
/// `allow_http_endpoints`, for tests) on a known push service. Returns the form to store.
pub fn check(json: &str, c: &PushConfig, now: i64) -> Result<String, String> {
    if json.len() > c.max_token_bytes {
        return Err(format!(
            "the subscription is {} bytes; at most {} are accepted",
            json.len(),
            c.max_token_bytes
        ));
    }
    let (s, checked) = Subscription::check(json, c.allow_http_endpoints, now)?;
    let host = checked.endpoint.host_str().unwrap_or("");
    if !known_host(host, &c.citizen_push_hosts) {
        return Err(format!(
            "the subscription's endpoint is not on a known push service (got {:?})",
            host.chars().take(80).collect::<String>()
        ));
    }
    serde_json::to_string(&s).map_err(|e| e.to_string())
}

/// Stores the subscription `json` for the holder of tracking code `code`, in `lang`
/// (the page's language) unless their contact already has one. Refused when Web Push is
/// not configured ([`TrackError::NotOpen`]) or the subscription is not acceptable
/// ([`TrackError::Invalid`]).
pub async fn subscribe(
    c: &Citizens<'_>,
    push: &PushConfig,
    code: &str,
    json: &str,
    lang: &str,
) -> Result<(), TrackError> {
    let db = &c.dispatch.store;
    let t = codes::resolve(db, code)
        .await?
        .ok_or(TrackError::UnknownCode)?;
    if push.vapid_private_key.is_none() {
        return Err(TrackError::NotOpen(
            "Web Push is not configured on this server".into(),
        ));
    }
    let now = now_millis();
    let stored = check(json, push, now).map_err(TrackError::Invalid)?;
    let lang = if lang == "en" { "en" } else { "fa" };
    let (reference, kind) = match t.role {
        Role::Reporter => (t.task.to_string(), "request"),
        Role::Supporter => (t.code.clone(), "support"),
    };
    rows::subscribe(db, &reference, kind, t.task.as_str(), &stored, lang, now).await?;
    metrics::counter!("tarmim_citizen_push_subscribed_total").increment(1);
    Ok(())
}

/// Drops the subscription the holder of `code` gave; true if there was one.
pub async fn unsubscribe(c: &Citizens<'_>, code: &str) -> Result<bool, TrackError> {
    let db = &c.dispatch.store;
    let t = codes::resolve(db, code)
        .await?
        .ok_or(TrackError::UnknownCode)?;
    let reference = match t.role {
        Role::Reporter => t.task.to_string(),
        Role::Supporter => t.code.clone(),
    };
    Ok(rows::clear(db, &reference).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_and_their_subdomains_only() {
        let known = vec!["push.apple.com".to_owned(), "127.0.0.1".to_owned()];
        assert!(known_host("web.push.apple.com", &known));
        assert!(known_host("push.apple.com.", &known));
        assert!(known_host("127.0.0.1", &known));
        assert!(!known_host("evilpush.apple.com", &known));
        assert!(!known_host("push.apple.com.evil.example", &known));
        assert!(!known_host("10.0.0.1", &known));
    }
}
