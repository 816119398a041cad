//! Web Push (RFC 8030): a POST to the subscription's endpoint with the payload encrypted
//! to the subscription's keys (RFC 8291, `aes128gcm` of RFC 8188) and signed for by VAPID
//! (RFC 8292). Used by UnifiedPush distributors on de-Googled Android and by browsers.
//!
//! A crew's wake-up's payload is `{"t":"sync","urgent":…}` — the push service sees only
//! ciphertext, and even the decrypted text names no task. `Topic` is the collapse key;
//! `Urgency` is `high` for an urgent job, `normal` otherwise.
//!
//! [`WebPush::post`] is the one implementation of the encryption and the VAPID request:
//! citizens' notifications (`domain::notify::webpush`) send through it too, with their
//! own payload and no collapse key.

use super::jws::{Key, KeyError};
use super::registration::{Checked, Subscription};
use super::{COLLAPSE_KEY, PushError, Pusher, Wake, classify_answer, now_secs, unreachable};
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// The record size written in the header (one record: the payload is small).
const RECORD_SIZE: u32 = 4096;

/// Web Push with a VAPID key.
pub struct WebPush {
    key: Key,
    public_b64: String,
    subject: String,
    client: reqwest::Client,
}

impl WebPush {
    /// With the VAPID private key (32 bytes, base64url) and contact (`mailto:`/`https:`).
    pub fn new(private_b64: &str, subject: &str, timeout: Duration) -> Result<WebPush, KeyError> {
        let key = Key::es256_raw_b64(private_b64)?;
        let public = key
            .es256_public()
            .ok_or_else(|| KeyError("a VAPID key is P-256".into()))?;
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
            return Err(KeyError(format!(
                "the VAPID subject must be a mailto: or https: URI, not {subject:?}"
            )));
        }
        // reqwest is built without a TLS provider of its own: the process's must be in
        // place before a client is built (a server with only Web Push configured has
        // built no other client yet).
        crate::base::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| KeyError(e.to_string()))?;
        Ok(WebPush {
            key,
            public_b64: B64.encode(public),
            subject: subject.to_owned(),
            client,
        })
    }

    /// The VAPID public key (base64url), which the page or app subscribes with
    /// (`applicationServerKey`).
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    async fn send(&self, token: &str, wake: &Wake) -> Result<(), PushError> {
        let plaintext = serde_json::json!({ "t": "sync", "urgent": wake.urgent }).to_string();
        let how = Delivery {
            ttl: wake.ttl,
            urgent: wake.urgent,
            topic: Some(COLLAPSE_KEY),
        };
        self.post(token, plaintext.as_bytes(), &how).await
    }

    /// Encrypts `plaintext` to the subscription `subscription` (its JSON, as stored),
    /// signs for it with VAPID and POSTs it to the subscription's endpoint; done when the
    /// push service accepted it (2xx). Shared by crews' wake-ups and citizens'
    /// notifications (`domain::notify::webpush`), which differ only in what they send.
    pub async fn post(
        &self,
        subscription: &str,
        plaintext: &[u8],
        how: &Delivery<'_>,
    ) -> Result<(), PushError> {
        // Checked when stored; checked again in case a row predates a rule.
        let now_ms = now_secs().saturating_mul(1000);
        let (_, sub) =
            Subscription::check(subscription, true, now_ms).map_err(PushError::Unregistered)?;
        let body =
            encrypt(&sub, plaintext, &random_key(), &rand::random()).map_err(PushError::Refused)?;
        let origin = sub.endpoint.origin().ascii_serialization();
        let jwt = self.key.sign(
            serde_json::json!({}),
            &serde_json::json!({
                "aud": origin,
                "exp": now_secs() + 12 * 3600,
                "sub": self.subject,
            }),
        );
        let mut req = self
            .client
            .post(sub.endpoint.clone())
            .header(
                "authorization",
                format!("vapid t={jwt}, k={}", self.public_b64),
            )
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .header("ttl", how.ttl.as_secs().to_string())
            .header("urgency", if how.urgent { "high" } else { "normal" });
        if let Some(topic) = how.topic {
            req = req.header("topic", topic);
        }
        let resp = req.body(body).send().await.map_err(unreachable)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp.headers().get("retry-after").cloned();
        let text = resp.text().await.unwrap_or_default();
        Err(classify_answer(status, retry_after.as_ref(), &text, |_| {
            false
        }))
    }
}

/// How a push service should treat one message (RFC 8030 §5.2–5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// How long the service may hold it for an unreachable user agent (`TTL`).
    pub ttl: Duration,
    /// `Urgency: high` rather than `normal`.
    pub urgent: bool,
    /// The collapse key (`Topic`): a newer message with the same topic replaces one
    /// not yet delivered. None: every message is delivered.
    pub topic: Option<&'a str>,
}

impl Pusher for WebPush {
    fn push<'a>(&'a self, token: &'a str, wake: &'a Wake) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(self.send(token, wake))
    }
}

/// A fresh P-256 key for one message (the application server's ephemeral key).
fn random_key() -> p256::SecretKey {
    loop {
        // Out of range (above the group order, or zero) with odds of about 2^-32.
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            return k;
        }
    }
}

fn hkdf_expand(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), String> {
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|e| e.to_string())
}

/// Encrypts `plaintext` for the subscription (RFC 8291 §3.4), with the application
/// server's key `ephemeral` and `salt`: the `aes128gcm` body, header included.
pub fn encrypt(
    sub: &Checked,
    plaintext: &[u8],
    ephemeral: &p256::SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, String> {
    let ua_public = sub.p256dh.to_sec1_bytes();
    let as_public = ephemeral.public_key().to_sec1_bytes();
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), sub.p256dh.as_affine());
    // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0 || ua_public || as_public)
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(&ua_public);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    hkdf_expand(&sub.auth, shared.raw_secret_bytes(), &key_info, &mut ikm)?;
    let mut cek = [0u8; 16];
    hkdf_expand(salt, &ikm, b"Content-Encoding: aes128gcm\0", &mut cek)?;
    let mut nonce = [0u8; 12];
    hkdf_expand(salt, &ikm, b"Content-Encoding: nonce\0", &mut nonce)?;
    // One record, the last: the payload, then the delimiter 0x02 (RFC 8188 §2).
    let mut record = plaintext.to_vec();
    record.push(2);
    let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
    let sealed = cipher
        .encrypt(aes_gcm::Nonce::from_slice(&nonce), record.as_slice())
        .map_err(|e| e.to_string())?;
    let id_len = u8::try_from(as_public.len()).map_err(|e| e.to_string())?;
    let mut body = Vec::with_capacity(21 + as_public.len() + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(id_len);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291 Appendix A: the same inputs give the RFC's message, byte for byte.
    #[test]
    fn rfc8291_appendix_a() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let as_private =
            p256::SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
                .unwrap();
        let ua_public = b64(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        );
        let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let sub = Checked {
            endpoint: reqwest::Url::parse(
                "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
            )
            .unwrap(),
            p256dh: p256::PublicKey::from_sec1_bytes(&ua_public).unwrap(),
            auth,
        };
        let body = encrypt(&sub, plaintext, &as_private, &salt).unwrap();
        let want = b64(
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
        );
        assert_eq!(B64.encode(&body), B64.encode(&want));
    }
}
