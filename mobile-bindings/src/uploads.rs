//! Drives sync-core's photo outbox through the tus client: each due blob is uploaded from
//! the offset the server holds, progress recorded in the outbox after every request (so a
//! kill loses at most one request's worth), failures recorded with the outbox's back-off.

use crate::auth::Auth;
use crate::device::{SharedDevice, now_ms};
use crate::error::TarmimError;
use crate::transport::upload::{PATCH_BYTES, TusUpload, UploadError};
use sync_core::outbox::{OutboxEntry, UploadFailure};

/// How often one upload may start over (404 or a hash mismatch) before it waits.
const RESTARTS: u32 = 2;

/// The photo uploader the background worker owns.
pub(crate) struct Uploads {
    tus: TusUpload,
    /// Held while uploads run, so only one run goes at a time.
    running: tokio::sync::Mutex<()>,
}

impl Uploads {
    pub(crate) fn new(tus: TusUpload) -> Uploads {
        Uploads {
            tus,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Uploads every blob of `device` due now, one after the other; stops at the first
    /// that fails to be retried later (the network is likely gone). Only one run at a
    /// time.
    pub(crate) async fn run_due(
        &self,
        device: &SharedDevice,
        auth: &Auth,
    ) -> Result<(), TarmimError> {
        let Ok(_running) = self.running.try_lock() else {
            return Ok(());
        };
        let due = device.lock().due_uploads(now_ms())?;
        for entry in due {
            match self.upload(device, auth, &entry).await {
                Ok(()) => {
                    device.lock().upload_complete(&entry.hash)?;
                }
                Err(UploadError::Refused(why)) => {
                    let failure = UploadFailure::Refused(why);
                    device
                        .lock()
                        .upload_failed(&entry.hash, now_ms(), failure)?;
                }
                Err(e) => {
                    let failure = UploadFailure::Retry(format!("{e:?}"));
                    device
                        .lock()
                        .upload_failed(&entry.hash, now_ms(), failure)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// One blob, from wherever the server stands to its end.
    async fn upload(
        &self,
        device: &SharedDevice,
        auth: &Auth,
        entry: &OutboxEntry,
    ) -> Result<(), UploadError> {
        let hash = entry.hash.as_str();
        let task = entry
            .task()
            .ok_or_else(|| UploadError::Refused("the photo belongs to no task".into()))?
            .to_string();
        let mut token = auth
            .token()
            .await
            .map_err(|e| UploadError::Retry(e.to_string()))?;
        let mut relogged = false;
        let mut restarts = 0;
        let create = |token: String| {
            let task = task.clone();
            async move {
                self.tus
                    .create(&token, hash, entry.size, &task, &entry.mime)
                    .await
            }
        };
        let mut offset = loop {
            match create(token.clone()).await {
                Err(UploadError::Unauthorized) if !relogged => {
                    relogged = true;
                    token = login_again(auth).await?;
                }
                other => break other?,
            }
        };
        loop {
            if offset >= entry.size {
                return Ok(());
            }
            device
                .lock()
                .upload_progress(hash, offset)
                .map_err(|e| UploadError::Retry(e.to_string()))?;
            let chunk = device
                .lock()
                .blob_range(hash, offset, PATCH_BYTES)
                .map_err(|e| UploadError::Refused(e.to_string()))?;
            if chunk.is_empty() {
                return Err(UploadError::Refused(format!(
                    "the phone holds only {offset} of the photo's {} bytes",
                    entry.size
                )));
            }
            offset = match self.tus.patch(&token, hash, offset, chunk).await {
                Ok(o) | Err(UploadError::Offset(o)) => o,
                Err(UploadError::Gone | UploadError::Mismatch) if restarts < RESTARTS => {
                    restarts += 1;
                    create(token.clone()).await?
                }
                Err(UploadError::Unauthorized) if !relogged => {
                    relogged = true;
                    token = login_again(auth).await?;
                    offset
                }
                Err(e) => return Err(e),
            };
        }
    }
}

/// A fresh token after the server refused the last one; failing that, retry later.
async fn login_again(auth: &Auth) -> Result<String, UploadError> {
    auth.login_again()
        .await
        .map_err(|e| UploadError::Retry(e.to_string()))
}
