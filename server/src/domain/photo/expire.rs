//! Abandoned uploads expire. A phone that started an upload and never came back (lost,
//! wiped, its task cancelled) would otherwise hold its partial file on disk and its bytes
//! against the device's quota forever. An upload expires once it was created more than
//! `photo_upload_ttl_hours` ago **and** its partial file on this replica was not written
//! for as long (a slow upload still in progress keeps going). Every replica runs the
//! sweep; the row is deleted under the upload's lock, so a `PATCH` never races it.
//!
//! A phone whose upload expired gets 404 on its next `HEAD` and starts again with a
//! `POST` (the tus status table in `server/README.md`), so nothing acknowledged is lost:
//! an unfinished upload was never acknowledged.

use super::Photos;
use crate::base::time::now_millis;
use crate::storage::Db;
use crate::storage::DbError;
use crate::storage::photos as records;
use std::time::{Duration, SystemTime};
use sync_core::Millis;

/// How often each replica sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);
/// Uploads looked at per sweep (the rest wait for the next one).
const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Uploads discarded.
    pub expired: usize,
    /// Old enough by creation, but written to recently: kept.
    pub still_active: usize,
    /// Old enough, but busy (a request holds the lock): left for the next sweep.
    pub busy: usize,
}

/// One sweep as of `now`.
pub async fn sweep(store: &Db, photos: &Photos, now: Millis) -> Result<Swept, DbError> {
    let ttl_ms = i64::try_from(photos.settings.upload_ttl_hours)
        .unwrap_or(i64::MAX / 3_600_000)
        .saturating_mul(3_600_000);
    let cutoff = now.saturating_sub(ttl_ms);
    let cutoff_time =
        SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(cutoff).unwrap_or(0));
    let uploads = &photos.uploads;
    let mut out = Swept::default();
    for hash in records::uploads_created_before(store, cutoff, BATCH).await? {
        let Some(_guard) = uploads.lock(&hash, Duration::from_millis(50)).await else {
            out.busy += 1;
            continue;
        };
        match uploads.last_written(&hash).await {
            Ok(Some(t)) if t > cutoff_time => {
                out.still_active += 1;
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading an upload's partial file failed; sweeping it anyway");
            }
        }
        records::delete_upload(store, &hash).await?;
        if let Err(e) = uploads.remove(&hash).await {
            tracing::warn!(error = %e, "removing an expired upload's partial file failed");
        }
        uploads.forget_lock(&hash);
        out.expired += 1;
    }
    if out.expired > 0 {
        metrics::counter!("tarmim_photo_uploads_expired_total").increment(out.expired as u64);
        tracing::info!(expired = out.expired, "abandoned photo uploads discarded");
    }
    Ok(out)
}

/// Runs [`sweep`] every [`SWEEP_EVERY`] until the task is aborted.
pub fn spawn(store: Db, photos: Photos) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(&store, &photos, now_millis()).await {
                tracing::warn!(error = %e, "sweeping abandoned photo uploads failed");
            }
        }
    })
}
