//! Open311 settings (`[open311]` in the file, `TARMIM_OPEN311_*` in the environment).

use serde::Deserialize;

/// Open311 settings (`[open311]` in the file, `TARMIM_OPEN311_*` in the environment).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Open311Config {
    /// Open reports of the same service within this many metres are offered as
    /// duplicates (`TARMIM_OPEN311_DUPLICATE_RADIUS_M`).
    pub duplicate_radius_m: f64,
    /// Largest `media[]` file, bytes (`TARMIM_OPEN311_MAX_MEDIA_BYTES`).
    pub max_media_bytes: u64,
    /// Most `media[]` files in one request.
    pub max_media_files: usize,
    /// Read from the file only, into the server's `public_url` (its old name); always
    /// `None` once the settings are loaded.
    pub public_url: Option<String>,
}

impl Default for Open311Config {
    fn default() -> Self {
        Open311Config {
            duplicate_radius_m: 50.0,
            max_media_bytes: 10 * 1024 * 1024,
            max_media_files: 3,
            public_url: None,
        }
    }
}

impl Open311Config {
    /// Reads the `TARMIM_OPEN311_*` variables through `get`.
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), (&'static str, String, String)> {
        if let Some(v) = get("TARMIM_OPEN311_DUPLICATE_RADIUS_M") {
            self.duplicate_radius_m = v.parse().map_err(|e: std::num::ParseFloatError| {
                (
                    "TARMIM_OPEN311_DUPLICATE_RADIUS_M",
                    v.clone(),
                    e.to_string(),
                )
            })?;
        }
        if let Some(v) = get("TARMIM_OPEN311_MAX_MEDIA_BYTES") {
            self.max_media_bytes = v.parse().map_err(|e: std::num::ParseIntError| {
                ("TARMIM_OPEN311_MAX_MEDIA_BYTES", v.clone(), e.to_string())
            })?;
        }
        Ok(())
    }
}
