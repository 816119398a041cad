//! Resumable photo uploads with tus 1.0 (core + `creation`), as `server/README.md`
//! describes: the upload URL is the blob's SHA-256, so an upload cut off at any point,
//! even across an app restart, continues from the last byte the server holds.
//!
//! One [`TusUpload`] call runs one outbox entry as far as it gets; the caller (the sync
//! session) reads the bytes from sync-core's outbox and records progress and failures
//! there, so this module holds no state.

use super::{Endpoint, TransportError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::StatusCode;

const TUS_VERSION: &str = "1.0.0";
const UPLOADS: &str = "/api/v1/photos/uploads";

/// How much of a blob one `PATCH` carries: small enough that a flaky mobile link makes
/// progress, large enough that a 5 MB photo is a handful of requests.
pub const PATCH_BYTES: usize = 512 * 1024;

/// How one request of an upload ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// Worth retrying later (network, 5xx, 429, a task the server does not know yet).
    Retry(String),
    /// The server refused the blob itself: not retried.
    Refused(String),
    /// The token was refused: log in again, then retry.
    Unauthorized,
    /// The server holds another offset than ours (409 with `Upload-Offset`): resume there.
    Offset(u64),
    /// The upload is unknown to the server (404 on `HEAD`/`PATCH`): create it again.
    Gone,
    /// The finished blob's hash did not match (460): the server discarded it; start over.
    Mismatch,
}

/// The tus client of one server.
#[derive(Debug, Clone)]
pub struct TusUpload {
    endpoint: Endpoint,
    client: reqwest::Client,
}

fn offset_of(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn network(e: reqwest::Error) -> UploadError {
    UploadError::Retry(e.to_string())
}

async fn failure(resp: reqwest::Response) -> UploadError {
    let status = resp.status();
    let offset = offset_of(&resp);
    let body = resp.text().await.unwrap_or_default();
    let why = match TransportError::from_status(status.as_u16(), None, &body) {
        TransportError::Unexpected { message, .. } => message,
        other => other.to_string(),
    };
    match status.as_u16() {
        401 => UploadError::Unauthorized,
        404 => UploadError::Gone,
        409 => match offset {
            Some(o) => UploadError::Offset(o),
            None => UploadError::Retry(format!("the server does not know the task yet: {why}")),
        },
        460 => UploadError::Mismatch,
        400 | 403 | 413 | 415 | 422 => UploadError::Refused(format!("{status}: {why}")),
        _ => UploadError::Retry(format!("{status}: {why}")),
    }
}

impl TusUpload {
    /// A client for `endpoint`'s upload endpoint.
    pub fn new(endpoint: Endpoint, client: reqwest::Client) -> TusUpload {
        TusUpload { endpoint, client }
    }

    /// Creates (or finds) the upload of blob `hash` of `size` bytes for `task`; returns
    /// the offset the server holds (`size` when it already has the whole blob).
    pub async fn create(
        &self,
        token: &str,
        hash: &str,
        size: u64,
        task: &str,
        mime: &str,
    ) -> Result<u64, UploadError> {
        let metadata = format!(
            "sha256 {},task {},filetype {}",
            B64.encode(hash),
            B64.encode(task),
            B64.encode(mime)
        );
        let resp = self
            .client
            .post(self.endpoint.http_url(UPLOADS))
            .bearer_auth(token)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Length", size.to_string())
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .map_err(network)?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT => {
                Ok(offset_of(&resp).unwrap_or(0))
            }
            // No upload endpoint at all (an older server): wait for it, do not give up.
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Err(UploadError::Retry(
                "the server has no photo upload endpoint".into(),
            )),
            _ => Err(failure(resp).await),
        }
    }

    /// Sends `bytes` at `offset`; returns the server's new offset.
    pub async fn patch(
        &self,
        token: &str,
        hash: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<u64, UploadError> {
        let sent = bytes.len() as u64;
        let resp = self
            .client
            .patch(self.endpoint.http_url(&format!("{UPLOADS}/{hash}")))
            .bearer_auth(token)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Offset", offset.to_string())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/offset+octet-stream",
            )
            .body(bytes)
            .send()
            .await
            .map_err(network)?;
        if resp.status().is_success() {
            Ok(offset_of(&resp).unwrap_or(offset + sent))
        } else {
            Err(failure(resp).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_are_base64() {
        assert_eq!(B64.encode("image/jpeg"), "aW1hZ2UvanBlZw==");
    }
}
