//! Open311 API keys (table `open311_keys`): issued by the admin command
//! (`tarmim-server open311 key create <name>`), revocable, needed for every POST; GETs
//! are public.
//!
//! A key is 128 random bits (`o311_` + 32 hex digits). It is stored only as its SHA-256:
//! for a random high-entropy secret a fast hash is as good as a slow one (nobody can
//! guess through the hash), and it keeps the check to one indexed lookup on every POST.

use crate::base::time::now_millis;
use crate::storage::open311 as records;
use crate::storage::{Db, DbError};
use sha2::{Digest, Sha256};

/// The demo city's key. **Public by design**, like the demo passwords.
pub const DEMO_KEY: &str = "o311_demo0000000000000000000000000000";
/// The demo key's name.
pub const DEMO_KEY_NAME: &str = "demo";

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// A fresh random key.
pub fn new_key() -> String {
    format!("o311_{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// Stores `key` under `name` ([`DbError::Duplicate`] if the name is taken).
pub async fn insert(db: &Db, name: &str, key: &str) -> Result<(), DbError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_whitespace) {
        return Err(DbError::Invalid(
            "a key name is 1 to 64 characters without spaces".into(),
        ));
    }
    if !records::insert_key(db, name, &hash(key), now_millis()).await? {
        return Err(DbError::Duplicate(format!("Open311 key {name:?}")));
    }
    Ok(())
}

/// Issues a new key under `name` and returns it (shown once; only its hash is kept).
pub async fn create(db: &Db, name: &str) -> Result<String, DbError> {
    let key = new_key();
    insert(db, name, &key).await?;
    Ok(key)
}

/// Revokes the key named `name`; false if there is no such live key.
pub async fn revoke(db: &Db, name: &str) -> Result<bool, DbError> {
    records::revoke_key(db, name, now_millis()).await
}

/// Every key: (name, created_at, revoked_at).
pub async fn list(db: &Db) -> Result<Vec<(String, i64, Option<i64>)>, DbError> {
    Ok(records::keys(db)
        .await?
        .into_iter()
        .map(|k| (k.name, k.created_at, k.revoked_at))
        .collect())
}

/// The name of the live key `key`, if it is one.
pub async fn check(db: &Db, key: &str) -> Result<Option<String>, DbError> {
    if key.is_empty() || key.len() > 200 {
        return Ok(None);
    }
    records::live_key(db, &hash(key)).await
}

/// [`check`] from the catalogue cache: only for filing a request, whose commit checks
/// the key again (a key revoked on another replica an instant ago is still refused).
pub async fn check_cached(db: &Db, key: &str) -> Result<Option<String>, DbError> {
    if key.is_empty() || key.len() > 200 {
        return Ok(None);
    }
    records::live_key_cached(db, &hash(key)).await
}
