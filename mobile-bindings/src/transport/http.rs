//! The server's JSON endpoints the phone uses and the sync fallback over plain HTTP.
//!
//! - `POST /api/v1/login` `{login, password, device_id}` → `{token, me}`;
//! - `PUT /api/v1/me/duty` `{on_duty}` → 204;
//! - `POST /api/v1/me/position` `{lat, lon, at, accuracy_m?}` → 202 `{flags}`;
//! - `POST /api/v1/sync/exchange`: client frames in, server frames out, each prefixed by
//!   its length (u32 little-endian), for networks that do not pass WebSockets.

use super::{Endpoint, TransportError};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

/// Who the server says the caller is (`me` of the login answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// User id: the `user` of every edit.
    pub user_id: String,
    /// Login name.
    pub login: String,
    /// Role wire name (`crew`, `dispatcher`, ...).
    pub role: String,
    /// The crew, for crew members.
    pub crew: Option<String>,
    /// The device id the token is bound to.
    pub device_id: String,
}

/// A successful login.
#[derive(Debug, Clone, Deserialize)]
pub struct Login {
    /// Bearer token.
    pub token: String,
    /// The caller.
    pub me: Me,
}

/// The JSON and fallback endpoints of one server.
#[derive(Debug, Clone)]
pub struct HttpApi {
    endpoint: Endpoint,
    client: reqwest::Client,
}

fn unreachable(e: reqwest::Error) -> TransportError {
    if e.is_connect() || e.is_timeout() {
        TransportError::Unreachable(e.to_string())
    } else {
        TransportError::Broken(e.to_string())
    }
}

/// Turns a non-success answer into an error.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, TransportError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = resp.text().await.unwrap_or_default();
    Err(TransportError::from_status(
        status.as_u16(),
        retry_after,
        &body,
    ))
}

impl HttpApi {
    /// An API over `endpoint`.
    pub fn new(endpoint: Endpoint) -> Result<HttpApi, TransportError> {
        Ok(HttpApi {
            endpoint,
            client: super::endpoint::http_client()?,
        })
    }

    /// The server.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Logs in; the token is bound to `device_id`.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        device_id: &str,
    ) -> Result<Login, TransportError> {
        let resp = self
            .client
            .post(self.endpoint.http_url("/api/v1/login"))
            .json(
                &serde_json::json!({"login": login, "password": password, "device_id": device_id}),
            )
            .send()
            .await
            .map_err(unreachable)?;
        check(resp)
            .await?
            .json::<Login>()
            .await
            .map_err(|e| TransportError::Broken(format!("login answer: {e}")))
    }

    /// Sets the crew's on-duty state.
    pub async fn set_duty(&self, token: &str, on_duty: bool) -> Result<(), TransportError> {
        let resp = self
            .client
            .put(self.endpoint.http_url("/api/v1/me/duty"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "on_duty": on_duty }))
            .send()
            .await
            .map_err(unreachable)?;
        check(resp).await.map(drop)
    }

    /// Registers how this device is woken: a push service (`fcm`, `apns`, `webpush`) and
    /// its token (a Web Push subscription's JSON); replaces the device's earlier token.
    pub async fn register_push(
        &self,
        token: &str,
        kind: &str,
        push_token: &str,
    ) -> Result<(), TransportError> {
        let resp = self
            .client
            .put(self.endpoint.http_url("/api/v1/me/push"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "kind": kind, "token": push_token }))
            .send()
            .await
            .map_err(unreachable)?;
        check(resp).await.map(drop)
    }

    /// Reports the device's position; returns the server's flags (e.g. a jump too fast to
    /// be true).
    pub async fn report_position(
        &self,
        token: &str,
        lat: f64,
        lon: f64,
        at_rfc3339: &str,
        accuracy_m: Option<f64>,
    ) -> Result<Vec<String>, TransportError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            flags: Vec<String>,
        }
        let resp = self
            .client
            .post(self.endpoint.http_url("/api/v1/me/position"))
            .bearer_auth(token)
            .json(&serde_json::json!({"lat": lat, "lon": lon, "at": at_rfc3339, "accuracy_m": accuracy_m}))
            .send()
            .await
            .map_err(unreachable)?;
        let resp = check(resp).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let text = resp.text().await.map_err(unreachable)?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str::<Answer>(&text)
            .map(|a| a.flags)
            .map_err(|e| TransportError::Broken(format!("position answer: {e}")))
    }

    /// One sync exchange over plain HTTP: sends `frames`, returns the server's frames.
    pub async fn exchange(
        &self,
        token: &str,
        frames: &[Vec<u8>],
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        let resp = self
            .client
            .post(self.endpoint.http_url("/api/v1/sync/exchange"))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tarmim-frames")
            .body(encode_frames(frames))
            .send()
            .await
            .map_err(unreachable)?;
        let body = check(resp).await?.bytes().await.map_err(unreachable)?;
        decode_frames(&body).map_err(TransportError::Broken)
    }
}

/// Frames, each prefixed by its length as a u32 little-endian.
pub fn encode_frames(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.iter().map(|f| f.len() + 4).sum());
    for f in frames {
        // A frame is at most sync_core::protocol::MAX_FRAME_BYTES, far below u32::MAX.
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The inverse of [`encode_frames`]; refuses a truncated body.
pub fn decode_frames(mut body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let Some((len, rest)) = body.split_first_chunk::<4>() else {
            return Err(format!("{} stray bytes after the last frame", body.len()));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(format!(
                "frame of {len} bytes truncated to {} bytes",
                rest.len()
            ));
        }
        out.push(rest[..len].to_vec());
        body = &rest[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_truncation_is_refused() {
        let frames = vec![b"TM-one".to_vec(), Vec::new(), vec![7; 300]];
        let body = encode_frames(&frames);
        assert_eq!(decode_frames(&body).expect("decodes"), frames);
        assert!(decode_frames(&body[..body.len() - 1]).is_err());
        assert!(decode_frames(&[1, 0]).is_err());
    }

    #[test]
    fn error_bodies_keep_the_message() {
        let e = TransportError::from_status(
            401,
            None,
            r#"{"error":"unauthorized","message":"bad password"}"#,
        );
        assert_eq!(e, TransportError::Unauthorized("bad password".into()));
        assert_eq!(
            TransportError::from_status(429, Some(3), ""),
            TransportError::RateLimited {
                retry_after_secs: Some(3)
            }
        );
        assert!(matches!(
            TransportError::from_status(503, None, "x"),
            TransportError::Unavailable(_)
        ));
        // A disabled account is told apart on a login (403) and a token (401) alike.
        for status in [401, 403] {
            assert_eq!(
                TransportError::from_status(
                    status,
                    None,
                    r#"{"error":"account_disabled","message":"disabled"}"#
                ),
                TransportError::AccountDisabled("disabled".into())
            );
        }
    }
}
