//! Where photo bytes live: behind [`BlobStore`], with two implementations under one test
//! suite (`server/tests/it/photos.rs`): [`FsStore`], the default, files under the data folder;
//! [`S3Store`], any S3-compatible store through `object_store`, for several replicas.
//!
//! Keys are flat, `originals/<sha256>` and `derived/<sha256>/<variant>.jpg`; a key's bytes
//! never change once written (content addressing), so a put may be retried or raced
//! harmlessly.

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use std::future::Future;
use std::path::{Path, PathBuf};

/// Storage failures (the text may name paths and endpoints: logged, never shown).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A key that is not one of ours.
    #[error("invalid storage key {0:?}")]
    BadKey(String),
    /// The file system failed.
    #[error("photo storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The object store failed.
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    /// The store is misconfigured.
    #[error("photo storage is misconfigured: {0}")]
    Config(String),
}

/// Photo bytes by key.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key` durably (the call returns once they are safe).
    fn put(&self, key: &str, bytes: Bytes)
    -> impl Future<Output = Result<(), StorageError>> + Send;
    /// The bytes under `key`, if any.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Bytes>, StorageError>> + Send;
    /// Whether `key` exists.
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;
    /// Removes `key` (no error if it is absent).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Checks a key: ASCII letters, digits, `/`, `.`, `-`, `_`; no empty, `.` or `..` segment.
fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.-_".contains(&b))
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadKey(key.to_owned()))
    }
}

/// Files under a root folder; each put is written to a temporary file, fsynced, and
/// renamed into place (then the folder fsynced), so a crash never leaves a torn photo.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// A store rooted at `root` (created on first put).
    pub fn new(root: impl Into<PathBuf>) -> FsStore {
        FsStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a photo path has no folder"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("blob"),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl BlobStore for FsStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || write_durably(&path, &bytes))
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))??;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(tokio::fs::try_exists(self.path(key)?).await?)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Settings of an S3-compatible store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Bucket.
    pub bucket: String,
    /// Endpoint URL (`https://…`; `http://` is allowed for a local store); none for AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Access key id (else taken from `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret (else taken from `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
}

/// Any S3-compatible store, through `object_store` (path-style requests, so MinIO, Ceph,
/// Garage and moto work as well as AWS).
#[derive(Debug, Clone)]
pub struct S3Store {
    inner: std::sync::Arc<AmazonS3>,
}

impl S3Store {
    /// Builds the client (no request is made).
    pub fn new(s: &S3Settings) -> Result<S3Store, StorageError> {
        crate::base::tls::install_crypto_provider();
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region);
        if let Some(e) = &s.endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &s.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &s.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let inner = b.build().map_err(|e| StorageError::Config(e.to_string()))?;
        Ok(S3Store {
            inner: std::sync::Arc::new(inner),
        })
    }

    fn path(key: &str) -> Result<ObjectPath, StorageError> {
        check_key(key)?;
        Ok(ObjectPath::from(key))
    }
}

impl BlobStore for S3Store {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.inner
            .put(&Self::path(key)?, PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self.inner.get(&Self::path(key)?).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.inner.head(&Self::path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.inner.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The configured store, chosen at run time.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Files.
    Fs(FsStore),
    /// S3-compatible.
    S3(S3Store),
}

impl BlobStore for Storage {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        match self {
            Storage::Fs(s) => s.put(key, bytes).await,
            Storage::S3(s) => s.put(key, bytes).await,
        }
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self {
            Storage::Fs(s) => s.get(key).await,
            Storage::S3(s) => s.get(key).await,
        }
    }
    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self {
            Storage::Fs(s) => s.exists(key).await,
            Storage::S3(s) => s.exists(key).await,
        }
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self {
            Storage::Fs(s) => s.delete(key).await,
            Storage::S3(s) => s.delete(key).await,
        }
    }
}

/// Key of an original.
pub fn original_key(hash: &str) -> String {
    format!("originals/{hash}")
}

/// Key of a derivative.
pub fn derived_key(hash: &str, variant: super::Variant) -> String {
    format!("derived/{hash}/{}.jpg", variant.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(check_key("originals/abc").is_ok());
        for bad in ["", "/x", "x/", "a/../b", "a/./b", "a b", "a\\b", "ü"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
