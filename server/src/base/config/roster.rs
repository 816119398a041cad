//! Crews' rosters (`[roster]` in the file; `TARMIM_ROSTER_GAP_LEAD_SECS`,
//! `TARMIM_ROSTER_TICK_MS` in the environment): how far ahead a coverage gap raises a
//! dispatcher alert, and how often each replica looks for gaps and shift starts.

use serde::Deserialize;

/// `[roster]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RosterConfig {
    /// A coverage gap starting within this many seconds raises an alert for the
    /// district's dispatchers (once per gap).
    pub gap_lead_secs: u64,
    /// How often each replica looks for coverage gaps and shifts that started, ms.
    pub tick_ms: u64,
}

impl Default for RosterConfig {
    fn default() -> Self {
        RosterConfig {
            gap_lead_secs: 24 * 60 * 60,
            tick_ms: 60_000,
        }
    }
}

impl RosterConfig {
    /// Reads `TARMIM_ROSTER_GAP_LEAD_SECS` and `TARMIM_ROSTER_TICK_MS` through `get`.
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), (&'static str, String, String)> {
        if let Some(v) = get("TARMIM_ROSTER_GAP_LEAD_SECS") {
            self.gap_lead_secs =
                v.parse()
                    .ok()
                    .filter(|s| *s <= 7 * 24 * 3600)
                    .ok_or_else(|| {
                        (
                            "TARMIM_ROSTER_GAP_LEAD_SECS",
                            v.clone(),
                            "seconds, at most 604800 (the 7 days the coverage check looks at)"
                                .to_owned(),
                        )
                    })?;
        }
        if let Some(v) = get("TARMIM_ROSTER_TICK_MS") {
            self.tick_ms = v.parse().ok().filter(|s| *s >= 50).ok_or_else(|| {
                (
                    "TARMIM_ROSTER_TICK_MS",
                    v.clone(),
                    "milliseconds, at least 50".to_owned(),
                )
            })?;
        }
        Ok(())
    }

    /// The lead in milliseconds.
    pub fn gap_lead_ms(&self) -> i64 {
        i64::try_from(self.gap_lead_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}
