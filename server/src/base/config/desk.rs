//! The call centre's desk (`[desk]` in the file, `TARMIM_CALLER_KEY` and
//! `TARMIM_CALL_TIMEOUT_SECS` in the environment).
//!
//! The caller key is the secret of the keyed hash (HMAC-SHA256) that callers' phone
//! numbers are looked up by. Without one, the server keeps a random key in
//! `data_dir/caller.key`, made at first start (the demo's case); several replicas must
//! share one key, so a deployment with replicas sets it here.

use serde::Deserialize;

/// `[desk]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeskConfig {
    /// The caller key, 64 hex digits (32 bytes); none: `data_dir/caller.key`.
    pub caller_key: Option<String>,
    /// A call not ended this many seconds after it started is closed as abandoned.
    pub call_timeout_secs: u64,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            caller_key: None,
            call_timeout_secs: 2 * 60 * 60,
        }
    }
}

/// Reads a caller key: 64 hex digits.
pub fn parse_key(v: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(v.trim()).map_err(|_| "64 hex digits".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "64 hex digits (32 bytes)".to_owned())
}

impl DeskConfig {
    /// Reads `TARMIM_CALLER_KEY` and `TARMIM_CALL_TIMEOUT_SECS` through `get`.
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), (&'static str, String, String)> {
        if let Some(v) = get("TARMIM_CALLER_KEY") {
            // The value is a secret: the error names its shape, never echoes it.
            parse_key(&v).map_err(|why| ("TARMIM_CALLER_KEY", "<hidden>".to_owned(), why))?;
            self.caller_key = Some(v);
        }
        if let Some(v) = get("TARMIM_CALL_TIMEOUT_SECS") {
            self.call_timeout_secs = v.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                (
                    "TARMIM_CALL_TIMEOUT_SECS",
                    v.clone(),
                    "a positive number of seconds".to_owned(),
                )
            })?;
        }
        Ok(())
    }
}
