//! The outbox and the citizens' notification channels (`[outbox]` in the file,
//! `TARMIM_OUTBOX_*`, `TARMIM_SMTP_*`, `TARMIM_SMS_*`, `TARMIM_NOTIFY_TIMEOUT_SECS`,
//! `TARMIM_CONTACT_RETENTION_DAYS` in the environment).

use serde::Deserialize;

/// The outbox and its channels. No SMTP URL: no e-mail is sent (notifications for an
/// e-mail contact are marked skipped); likewise for SMS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// How often each replica looks for due rows, ms (`TARMIM_OUTBOX_TICK_MS`).
    pub tick_ms: u64,
    /// How long a claimed row is this replica's before another may take it over, seconds
    /// (`TARMIM_OUTBOX_LEASE_SECS`): longer than the slowest send.
    pub lease_secs: u64,
    /// Attempts before a row is given up into the dead-letter list
    /// (`TARMIM_OUTBOX_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The first retry's delay, seconds; each next one doubles, up to an hour
    /// (`TARMIM_OUTBOX_RETRY_SECS`).
    pub retry_secs: u64,
    /// `smtp://host:port` (plain), `smtp://host:587?tls=required` (STARTTLS required),
    /// `?tls=opportunistic` (STARTTLS when offered) or `smtps://host:465` (TLS from the
    /// start), with `user:password@` for AUTH (`TARMIM_SMTP_URL`).
    pub smtp_url: Option<String>,
    /// The `From:` address (`TARMIM_SMTP_FROM`).
    pub smtp_from: String,
    /// A PEM file of root certificates the SMTP server's TLS certificate may chain to,
    /// besides the webpki roots (`TARMIM_SMTP_CA_FILE`): a relay with a private CA, or
    /// the tests' self-signed one. Unused with a URL without TLS.
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// Seconds a send may take before it counts as failed (`TARMIM_NOTIFY_TIMEOUT_SECS`).
    pub timeout_secs: u64,
    /// The SMS gateway's URL (`TARMIM_SMS_URL`): the webhook's, or Kavenegar's base.
    pub sms_url: Option<String>,
    /// `webhook` or `kavenegar` (`TARMIM_SMS_FORMAT`).
    pub sms_format: String,
    /// The webhook's bearer token, or Kavenegar's API key (`TARMIM_SMS_TOKEN`).
    pub sms_token: Option<String>,
    /// The sender line (`TARMIM_SMS_SENDER`, Kavenegar).
    pub sms_sender: Option<String>,
    /// Hours in the city's zone when no SMS is sent but the one carrying the tracking
    /// code (`TARMIM_SMS_QUIET_HOURS`: `HH:MM-HH:MM`, or `off`).
    pub sms_quiet_hours: String,
    /// Days after a report is closed, or a message answered, that its citizens'
    /// contacts are erased (`TARMIM_CONTACT_RETENTION_DAYS`).
    pub contact_retention_days: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            tick_ms: 1000,
            lease_secs: 60,
            max_attempts: 8,
            retry_secs: 30,
            smtp_url: None,
            smtp_from: "Tarmim 137 <no-reply@tarmim.invalid>".into(),
            smtp_ca_file: None,
            timeout_secs: 20,
            sms_url: None,
            sms_format: "webhook".into(),
            sms_token: None,
            sms_sender: None,
            sms_quiet_hours: "22:00-07:00".into(),
            contact_retention_days: 90,
        }
    }
}

type EnvError = (&'static str, String, String);

fn num<T: std::str::FromStr>(var: &'static str, v: String) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| (var, v.clone(), e.to_string()))
}

impl OutboxConfig {
    /// Reads the variables through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), EnvError> {
        if let Some(v) = get("TARMIM_OUTBOX_TICK_MS") {
            self.tick_ms = num("TARMIM_OUTBOX_TICK_MS", v)?;
        }
        if let Some(v) = get("TARMIM_OUTBOX_LEASE_SECS") {
            self.lease_secs = num("TARMIM_OUTBOX_LEASE_SECS", v)?;
        }
        if let Some(v) = get("TARMIM_OUTBOX_MAX_ATTEMPTS") {
            self.max_attempts = num("TARMIM_OUTBOX_MAX_ATTEMPTS", v)?;
        }
        if let Some(v) = get("TARMIM_OUTBOX_RETRY_SECS") {
            self.retry_secs = num("TARMIM_OUTBOX_RETRY_SECS", v)?;
        }
        if let Some(v) = get("TARMIM_SMTP_URL") {
            self.smtp_url = Some(v);
        }
        if let Some(v) = get("TARMIM_SMTP_FROM") {
            self.smtp_from = v;
        }
        if let Some(v) = get("TARMIM_SMTP_CA_FILE") {
            self.smtp_ca_file = Some(v.into());
        }
        if let Some(v) = get("TARMIM_NOTIFY_TIMEOUT_SECS") {
            self.timeout_secs = num("TARMIM_NOTIFY_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("TARMIM_SMS_URL") {
            self.sms_url = Some(v);
        }
        if let Some(v) = get("TARMIM_SMS_FORMAT") {
            self.sms_format = v;
        }
        if !matches!(self.sms_format.as_str(), "webhook" | "kavenegar") {
            return Err((
                "TARMIM_SMS_FORMAT",
                self.sms_format.clone(),
                "expected `webhook` or `kavenegar`".into(),
            ));
        }
        if let Some(v) = get("TARMIM_SMS_TOKEN") {
            self.sms_token = Some(v);
        }
        if let Some(v) = get("TARMIM_SMS_SENDER") {
            self.sms_sender = Some(v);
        }
        if let Some(v) = get("TARMIM_SMS_QUIET_HOURS") {
            self.sms_quiet_hours = v;
        }
        if let Err(why) = self.quiet_hours() {
            return Err(("TARMIM_SMS_QUIET_HOURS", self.sms_quiet_hours.clone(), why));
        }
        if let Some(v) = get("TARMIM_CONTACT_RETENTION_DAYS") {
            self.contact_retention_days = num("TARMIM_CONTACT_RETENTION_DAYS", v)?;
        }
        Ok(())
    }

    /// The quiet hours as minutes after local midnight (start, end); none when `off`.
    pub fn quiet_hours(&self) -> Result<Option<(u16, u16)>, String> {
        let s = self.sms_quiet_hours.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let minutes = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let bad = || format!("expected HH:MM-HH:MM or off, not {s:?}");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (a, b) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        Ok((a != b).then_some((a, b)))
    }
}

#[cfg(test)]
mod tests {
    use super::OutboxConfig;

    #[test]
    fn quiet_hours_parse() {
        let q = |s: &str| {
            OutboxConfig {
                sms_quiet_hours: s.into(),
                ..OutboxConfig::default()
            }
            .quiet_hours()
        };
        assert_eq!(q("22:00-07:00"), Ok(Some((1320, 420))));
        assert_eq!(q("off"), Ok(None));
        assert!(q("25:00-07:00").is_err());
        assert!(q("22-7").is_err());
    }
}
