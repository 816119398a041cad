//! Compact JSON Web Signatures (RFC 7515) as the push providers want them: RS256 (FCM's
//! service-account assertion) and ES256 (APNs' provider token, VAPID). Only signing: the
//! keys are the well-kept `rsa` and `p256` crates'; this module only lays out
//! `base64url(header).base64url(claims).base64url(signature)`, with the ECDSA signature
//! as the fixed 64-byte `r || s` that JWS asks for (RFC 7518 §3.4), not DER.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use rsa::signature::SignatureEncoding;

/// A key that signs JWTs.
pub enum Key {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(Box<rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>>),
    /// ECDSA on P-256 with SHA-256.
    Es256(p256::ecdsa::SigningKey),
}

/// Why a key did not load.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

impl Key {
    /// An RSA private key in PKCS #8 PEM (`-----BEGIN PRIVATE KEY-----`), as in a Google
    /// service-account file.
    pub fn rs256_pem(pem: &str) -> Result<Key, KeyError> {
        use rsa::pkcs8::DecodePrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError(format!("not an RSA private key (PKCS #8 PEM): {e}")))?;
        Ok(Key::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(key))))
    }

    /// A P-256 private key in PKCS #8 PEM, as in an APNs `.p8` file.
    pub fn es256_pem(pem: &str) -> Result<Key, KeyError> {
        use p256::pkcs8::DecodePrivateKey;
        let key = p256::SecretKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError(format!("not a P-256 private key (PKCS #8 PEM): {e}")))?;
        Ok(Key::Es256(key.into()))
    }

    /// A raw 32-byte P-256 private key, base64url (the usual form of a VAPID key).
    pub fn es256_raw_b64(b64: &str) -> Result<Key, KeyError> {
        let bytes = B64
            .decode(b64.trim().trim_end_matches('='))
            .map_err(|e| KeyError(format!("not base64url: {e}")))?;
        let key = p256::SecretKey::from_slice(&bytes)
            .map_err(|_| KeyError("not a 32-byte P-256 private key".into()))?;
        Ok(Key::Es256(key.into()))
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Rs256(_) => "RS256",
            Key::Es256(_) => "ES256",
        }
    }

    /// Signs `claims` with `extra` header fields (e.g. `kid`) into a compact JWT.
    pub fn sign(&self, extra: serde_json::Value, claims: &serde_json::Value) -> String {
        let mut header = serde_json::json!({ "alg": self.alg(), "typ": "JWT" });
        if let (Some(h), serde_json::Value::Object(more)) = (header.as_object_mut(), extra) {
            h.extend(more);
        }
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = match self {
            Key::Rs256(k) => k.sign(input.as_bytes()).to_vec(),
            Key::Es256(k) => {
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", B64.encode(signature))
    }

    /// The ES256 key's public point, uncompressed (65 bytes); none for RSA.
    pub fn es256_public(&self) -> Option<Vec<u8>> {
        match self {
            Key::Es256(k) => Some(
                k.verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            ),
            Key::Rs256(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn es256_verifies_with_the_public_key() {
        let key = Key::es256_raw_b64(&B64.encode([7u8; 32])).unwrap();
        let jwt = key.sign(
            serde_json::json!({"kid": "K1"}),
            &serde_json::json!({"iss": "T"}),
        );
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "K1");
        let public =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.es256_public().unwrap()).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn bad_keys_refused() {
        assert!(Key::es256_raw_b64("AAAA").is_err());
        assert!(Key::es256_raw_b64(&B64.encode([0u8; 32])).is_err());
        assert!(
            Key::es256_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
        );
        assert!(Key::rs256_pem("not pem").is_err());
    }
}
