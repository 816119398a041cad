//! Photos on the server (design §4): verification under limits, EXIF orientation, the
//! EXIF place-and-time flag, public derivatives without metadata, storage, and the
//! resumable uploads that bring the blobs in.
//!
//! - [`verify`]: sniffing, limits, decoding, orientation;
//! - [`exif`]: the EXIF time and GPS position;
//! - [`flag`]: far from the task, or taken before it existed;
//! - [`derive`]: thumbnail and display size, metadata-free JPEG;
//! - [`storage`]: [`storage::BlobStore`] on the file system or any S3-compatible store;
//! - [`upload`]: partial uploads in the shared database, resumable from their last byte
//!   on any replica;
//! - `crate::storage::photos`: the `photos` and `photo_uploads` tables;
//! - [`ingest`]: a finished upload → hash check → verification → stored photo;
//! - [`tus`]: the tus upload flow (create, append, progress) and who may upload;
//! - [`serve`]: public derivatives to anyone, originals and facts to the task's district;
//! - [`expire`]: abandoned partial uploads discarded after `photo_upload_ttl_hours`.
//!
//! Decoding is CPU-heavy and blocking, so it runs with `spawn_blocking` behind a
//! semaphore ([`Photos::run_blocking`]): at most `photo_workers` photos are processed at
//! once, and a burst of uploads waits for a slot instead of starving the async runtime
//! that runs sync.

pub mod derive;
pub mod exif;
pub mod expire;
pub mod flag;
pub mod ingest;
pub mod serve;
pub mod storage;
pub mod tus;
pub mod upload;
pub mod verify;

pub use derive::Variant;
pub use verify::PhotoFormat;

use crate::base::config::Config;
use std::sync::Arc;
use std::time::Duration;
use storage::{FsStore, S3Settings, S3Store, Storage, StorageError};
use tokio::sync::Semaphore;

/// Why a photo was refused or could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Not a valid image of the declared type (truncated, corrupt, lying about its type).
    #[error("{0}")]
    Invalid(String),
    /// A format that is not accepted (HEIC, GIF, …).
    #[error("{0}")]
    Unsupported(String),
    /// Over the limits (bytes, pixels): a decompression bomb ends here.
    #[error("{0}")]
    TooLarge(String),
    /// Every worker slot stayed busy for the whole wait.
    #[error("photo processing is busy; retry later")]
    Busy,
    /// Our failure (logged, never shown).
    #[error("internal photo failure: {0}")]
    Internal(String),
}

/// Photo settings (from [`Config`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoSettings {
    /// Largest blob, bytes.
    pub max_bytes: u64,
    /// Largest width × height.
    pub max_pixels: u64,
    /// Largest side, pixels.
    pub max_side: u32,
    /// Largest total of one device's unfinished uploads, bytes.
    pub device_quota_bytes: u64,
    /// The place-and-time flag's rules.
    pub flag: flag::FlagRules,
    /// The city's zone, for EXIF times without an offset.
    pub zone: jiff::tz::TimeZone,
    /// Photos processed at once.
    pub workers: usize,
    /// How long an upload waits for a worker slot before 503.
    pub worker_wait: Duration,
    /// Hours after which an unfinished upload is discarded.
    pub upload_ttl_hours: u64,
}

impl PhotoSettings {
    /// From the server's configuration.
    pub fn from_config(c: &Config) -> PhotoSettings {
        PhotoSettings {
            max_bytes: c.photo_max_bytes,
            max_pixels: c.photo_max_pixels,
            max_side: 20_000,
            device_quota_bytes: c.photo_device_quota_bytes,
            flag: flag::FlagRules {
                max_distance_m: c.photo_max_distance_m,
                clock_skew_ms: i64::try_from(c.photo_clock_skew_secs)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
            },
            zone: c.zone(),
            workers: c.photo_workers.max(1),
            worker_wait: Duration::from_secs(30),
            upload_ttl_hours: c.photo_upload_ttl_hours,
        }
    }

    /// The decoder's limits.
    pub fn decode_limits(&self) -> verify::DecodeLimits {
        verify::DecodeLimits {
            max_pixels: self.max_pixels,
            max_side: self.max_side,
        }
    }
}

/// The outcome of processing a blob.
#[derive(Debug)]
pub struct Processed {
    /// What it is.
    pub format: PhotoFormat,
    /// Stored width.
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// EXIF time and place.
    pub facts: exif::ExifFacts,
    /// The public derivatives.
    pub derivatives: Vec<(Variant, Vec<u8>)>,
}

/// Verifies, reads EXIF and derives: the whole CPU-bound part, blocking.
pub fn process(
    bytes: &[u8],
    declared: PhotoFormat,
    settings: &PhotoSettings,
) -> Result<Processed, PhotoError> {
    if bytes.len() as u64 > settings.max_bytes {
        return Err(PhotoError::TooLarge(format!(
            "{} bytes is over the limit of {} bytes",
            bytes.len(),
            settings.max_bytes
        )));
    }
    let v = verify::verify(bytes, declared, &settings.decode_limits())?;
    let facts = exif::read(bytes, &settings.zone);
    let derivatives = derive::derive(v.image)?;
    Ok(Processed {
        format: v.format,
        width: v.width,
        height: v.height,
        facts,
        derivatives,
    })
}

/// The photo service: storage, settings, the worker slots and the upload area. Cheap to
/// clone.
#[derive(Clone)]
pub struct Photos {
    /// Where blobs and derivatives live.
    pub storage: Storage,
    /// Settings.
    pub settings: Arc<PhotoSettings>,
    /// Partial uploads.
    pub uploads: upload::UploadArea,
    workers: Arc<Semaphore>,
}

impl Photos {
    /// Builds the service the configuration describes: S3 if `photo_s3_bucket` is set,
    /// else files under `data_dir/photos`.
    pub fn from_config(c: &Config) -> Result<Photos, StorageError> {
        let storage = match &c.photo_s3_bucket {
            Some(bucket) => Storage::S3(S3Store::new(&S3Settings {
                bucket: bucket.clone(),
                endpoint: c.photo_s3_endpoint.clone(),
                region: c.photo_s3_region.clone(),
                access_key_id: None,
                secret_access_key: None,
            })?),
            None => return Ok(Photos::on_disk(c)),
        };
        Ok(Photos::new(
            storage,
            PhotoSettings::from_config(c),
            upload::UploadArea::new(),
        ))
    }

    /// The service with photos on disk under `data_dir/photos`, whatever the S3 settings.
    pub fn on_disk(c: &Config) -> Photos {
        Photos::new(
            Storage::Fs(FsStore::new(c.data_dir.join("photos"))),
            PhotoSettings::from_config(c),
            upload::UploadArea::new(),
        )
    }

    /// A service over explicit parts (tests, benches).
    pub fn new(storage: Storage, settings: PhotoSettings, uploads: upload::UploadArea) -> Photos {
        let workers = Arc::new(Semaphore::new(settings.workers.max(1)));
        Photos {
            storage,
            settings: Arc::new(settings),
            uploads,
            workers,
        }
    }

    /// Worker slots free now.
    pub fn free_workers(&self) -> usize {
        self.workers.available_permits()
    }

    /// Runs `f` on a blocking thread once a worker slot is free (waiting at most
    /// `worker_wait`, else [`PhotoError::Busy`]).
    pub async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, PhotoError> + Send + 'static,
    ) -> Result<T, PhotoError> {
        let permit = tokio::time::timeout(
            self.settings.worker_wait,
            Arc::clone(&self.workers).acquire_owned(),
        )
        .await
        .map_err(|_| PhotoError::Busy)?
        .map_err(|_| PhotoError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let r = f();
            drop(permit);
            r
        })
        .await
        .map_err(|e| PhotoError::Internal(format!("photo worker: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst waits for the bounded workers and gives up with `Busy`; it never runs more
    /// photos at once than there are slots.
    #[tokio::test]
    async fn workers_are_bounded() {
        let dir = std::env::temp_dir().join(format!("tarmim-photo-{}", rand::random::<u64>()));
        let mut settings = PhotoSettings::from_config(&Config::default());
        settings.workers = 1;
        settings.worker_wait = Duration::from_millis(50);
        let photos = Photos::new(
            Storage::Fs(FsStore::new(&dir)),
            settings,
            upload::UploadArea::new(),
        );
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let p = photos.clone();
        let first = tokio::spawn(async move {
            p.run_blocking(move || rx.recv().map_err(|e| PhotoError::Internal(e.to_string())))
                .await
        });
        while photos.free_workers() > 0 {
            tokio::task::yield_now().await;
        }
        let second = photos.run_blocking(|| Ok(())).await;
        assert!(matches!(second, Err(PhotoError::Busy)), "{second:?}");
        tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        photos.run_blocking(|| Ok(())).await.unwrap();
        assert_eq!(photos.free_workers(), 1);
    }
}
