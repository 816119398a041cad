//! Abandoned uploads expire. A phone that started an upload and never came back (lost,
//! wiped, its task cancelled) would otherwise hold its partial bytes in the database and
//! against the device's quota forever. An upload expires once it was created more than
//! `photo_upload_ttl_hours` ago **and** no chunk of it was written for as long, on any
//! replica (a slow upload still in progress keeps going). Every replica runs the sweep;
//! the row (and its chunks, by cascade) is deleted under this replica's lock of the
//! upload, and a `PATCH` on another replica that races it finds its offset's
//! compare-and-swap failing, so it writes nothing after the delete.
//!
//! A phone whose upload expired gets 404 on its next `HEAD` and starts again with a
//! `POST` (the tus status table in `server/README.md`), so nothing acknowledged is lost:
//! an unfinished upload was never acknowledged.

use super::Photos;
use crate::base::time::now_millis;
use crate::storage::Db;
use crate::storage::DbError;
use crate::storage::photos as records;
use std::time::Duration;
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
    let uploads = &photos.uploads;
    let mut out = Swept::default();
    for hash in records::uploads_created_before(store, cutoff, BATCH).await? {
        let Some(_guard) = uploads.lock(&hash, Duration::from_millis(50)).await else {
            out.busy += 1;
            continue;
        };
        if uploads
            .last_written(store, &hash)
            .await?
            .is_some_and(|t| t > cutoff)
        {
            out.still_active += 1;
            continue;
        }
        records::delete_upload(store, &hash).await?;
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
