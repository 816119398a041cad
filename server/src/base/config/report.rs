//! The citizens' report page's settings (`[report]` in the file, `TARMIM_REPORT_*` in the
//! environment): its abuse limits and where non-field messages go.

use serde::Deserialize;

/// Where complaints, criticism, suggestions, ideas and thanks are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxMode {
    /// To the inbox of the district the message names or is placed in (else the city's).
    District,
    /// Always to the city-wide inbox.
    City,
}

/// `[report]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Reports (and "+1"s) one client address may file per minute
    /// (`TARMIM_REPORT_PER_MINUTE`; 429 beyond).
    pub per_minute: u32,
    /// Leading zero bits of the proof of work a report carries (`TARMIM_REPORT_POW_BITS`;
    /// 0 turns it off). The integrity channel's stamp, computed by the page.
    pub pow_bits: u8,
    /// Department inboxes per district or one for the city (`TARMIM_MESSAGE_INBOX`:
    /// `district` or `city`).
    pub inbox: InboxMode,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            per_minute: 5,
            pow_bits: 16,
            inbox: InboxMode::District,
        }
    }
}

impl ReportConfig {
    /// Reads the `TARMIM_REPORT_*` variables through `get`.
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), (&'static str, String, String)> {
        if let Some(v) = get("TARMIM_REPORT_PER_MINUTE") {
            self.per_minute = v.parse().map_err(|e: std::num::ParseIntError| {
                ("TARMIM_REPORT_PER_MINUTE", v.clone(), e.to_string())
            })?;
        }
        if let Some(v) = get("TARMIM_REPORT_POW_BITS") {
            self.pow_bits = v.parse().ok().filter(|b| *b <= 32).ok_or_else(|| {
                (
                    "TARMIM_REPORT_POW_BITS",
                    v.clone(),
                    "a number of bits from 0 to 32".to_owned(),
                )
            })?;
        }
        if let Some(v) = get("TARMIM_MESSAGE_INBOX") {
            self.inbox = match v.as_str() {
                "district" => InboxMode::District,
                "city" => InboxMode::City,
                _ => {
                    return Err((
                        "TARMIM_MESSAGE_INBOX",
                        v.clone(),
                        "`district` or `city`".to_owned(),
                    ));
                }
            };
        }
        Ok(())
    }
}
