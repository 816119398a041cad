//! The integrity channel's settings (`[integrity]` in the TOML file): categories and the
//! public keys of their investigators, limits, proof-of-work difficulty, receipt lifetime.
//!
//! Investigator keys are checked when the file is read (a bad key stops the server from
//! starting), and only public keys can be written here: the server holds no private key.

use serde::Deserialize;

/// An age X25519 public key (`age1…`), checked when the configuration is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct InvestigatorKey(String);

impl InvestigatorKey {
    /// Parses and checks an `age1…` public key.
    pub fn parse(s: &str) -> Result<InvestigatorKey, String> {
        let s = s.trim();
        s.parse::<age::x25519::Recipient>()
            .map_err(|e| format!("not an age X25519 public key (age1…): {s:?}: {e}"))?;
        Ok(InvestigatorKey(s.to_owned()))
    }

    /// The key as age uses it.
    pub fn recipient(&self) -> age::x25519::Recipient {
        match self.0.parse() {
            Ok(r) => r,
            // Checked in `parse`, the only constructor.
            Err(_) => unreachable!("investigator keys are checked when parsed"),
        }
    }

    /// The key's text (`age1…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for InvestigatorKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        InvestigatorKey::parse(&s)
    }
}

/// A category of report and who investigates it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Stable code (e.g. `bribery`), sent by the reporting page.
    pub code: String,
    /// Name shown to reporters.
    pub name: String,
    /// Public keys of the investigators who may read this category's reports (at least one).
    pub investigators: Vec<InvestigatorKey>,
}

/// `[integrity]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrityConfig {
    /// Report categories; none configured means the channel refuses reports (503).
    pub categories: Vec<Category>,
    /// A receipt code stops working this many days after the case's last message.
    pub receipt_ttl_days: u64,
    /// Leading zero bits the proof of work for a report needs (0 turns it off).
    pub pow_bits: u8,
    /// Length of a rate-limit window in seconds; the keyed-hash key is replaced, and every
    /// count forgotten, at the end of each window.
    pub rate_window_secs: u64,
    /// Reports one client may make per window.
    pub reports_per_client: u32,
    /// Reports the whole server takes per window (a distributed flood's ceiling).
    pub reports_per_window: u32,
    /// Reports one network prefix (an IPv6 /48, an IPv4 /24) may make per window, so
    /// that one network cannot use up `reports_per_window` for everyone.
    pub reports_per_prefix: u32,
    /// Most clients and prefixes the rate limiter counts at once; when full, the least
    /// recently seen is forgotten to make room (a full table never refuses a newcomer).
    pub rate_table_clients: usize,
    /// Reports whose body is being read, parsed or decoded at once; beyond it a report
    /// is refused (503, `Retry-After`) before its body is read.
    pub reports_in_flight: usize,
    /// Attachment decodes (and re-encodes) at once, on blocking threads; the others wait.
    pub decode_concurrency: usize,
    /// Receipt-code uses (reading a case, writing back) one client may make per window.
    pub follow_ups_per_client: u32,
    /// Deprecated alias of the server's `trusted_proxy` (issue 16 §17: one setting for
    /// every per-client limit): `true` in the file turns `trusted_proxy` on, unless
    /// `TARMIM_TRUSTED_PROXY` says otherwise, and the server warns at start
    /// ([`super::Config::deprecations`]). This channel reads only `trusted_proxy`.
    pub trust_forwarded_for: bool,
    /// Longest report or message text, in characters.
    pub max_text_chars: usize,
    /// Most attachments per report.
    pub max_attachments: usize,
    /// Largest attachment, in bytes (before base64).
    pub max_attachment_bytes: usize,
    /// Largest attachment image, in pixels.
    pub max_image_pixels: u64,
    /// Argon2id memory for receipt codes, in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id passes for receipt codes.
    pub argon2_iterations: u32,
    /// Receipt-code hashings allowed at once (each holds `argon2_memory_kib`).
    pub argon2_concurrency: usize,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            categories: Vec::new(),
            receipt_ttl_days: 365,
            pow_bits: 16,
            rate_window_secs: 600,
            reports_per_client: 5,
            reports_per_window: 500,
            reports_per_prefix: 50,
            rate_table_clients: 100_000,
            reports_in_flight: 8,
            decode_concurrency: 2,
            follow_ups_per_client: 30,
            trust_forwarded_for: false,
            max_text_chars: 20_000,
            max_attachments: 4,
            max_attachment_bytes: 8 * 1024 * 1024,
            max_image_pixels: 40_000_000,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_concurrency: 2,
        }
    }
}

impl IntegrityConfig {
    /// The category with this code.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }

    /// Checks what serde cannot: unique codes, at least one investigator per category.
    pub fn check(&self) -> Result<(), String> {
        for (i, c) in self.categories.iter().enumerate() {
            if c.code.is_empty() || c.code.len() > 64 {
                return Err(format!(
                    "integrity category {i}: the code must have 1 to 64 characters"
                ));
            }
            if c.investigators.is_empty() {
                return Err(format!(
                    "integrity category {:?} has no investigator key: nobody could read its reports",
                    c.code
                ));
            }
            if self.categories[..i].iter().any(|o| o.code == c.code) {
                return Err(format!("integrity category {:?} is listed twice", c.code));
            }
        }
        if self.argon2_memory_kib < 8 || self.argon2_iterations == 0 {
            return Err("integrity argon2 settings are too weak".into());
        }
        if self.pow_bits > 32 {
            return Err("integrity pow_bits above 32 would take a phone hours".into());
        }
        Ok(())
    }

    /// The largest request body the report route accepts (attachments are base64).
    pub fn max_body_bytes(&self) -> usize {
        let attachments = self
            .max_attachments
            .saturating_mul(self.max_attachment_bytes)
            .saturating_mul(4)
            / 3;
        attachments
            .saturating_add(self.max_text_chars.saturating_mul(4))
            .saturating_add(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<IntegrityConfig, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            integrity: IntegrityConfig,
        }
        let w: Wrapper = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        w.integrity.check()?;
        Ok(w.integrity)
    }

    #[test]
    fn keys_and_categories_are_checked() {
        let key = age::x25519::Identity::generate().to_public().to_string();
        let good = format!(
            "[integrity]\n[[integrity.categories]]\ncode = \"bribery\"\nname = \"Bribery\"\ninvestigators = [\"{key}\"]\n"
        );
        let c = parse(&good).unwrap();
        assert_eq!(
            c.category("bribery").unwrap().investigators[0].as_str(),
            key
        );
        assert!(c.category("other").is_none());

        let bad_key = good.replace(&key, "age1notakey");
        assert!(
            parse(&bad_key)
                .unwrap_err()
                .contains("not an age X25519 public key")
        );
        let secret = age::secrecy::ExposeSecret::expose_secret(
            &age::x25519::Identity::generate().to_string(),
        )
        .to_owned();
        let private = good.replace(&key, &secret);
        assert!(parse(&private).is_err(), "a private key is refused");
        let nobody = good.replace(&format!("\"{key}\""), "");
        assert!(parse(&nobody).unwrap_err().contains("no investigator key"));
        let twice = format!("{good}{}", good.replace("[integrity]\n", ""));
        assert!(parse(&twice).unwrap_err().contains("listed twice"));
        assert!(parse("[integrity]\npow_bits = 40\n").is_err());
        assert!(parse("[integrity]\nno_such = 1\n").is_err());
    }

    #[test]
    fn body_limit_covers_base64_attachments() {
        let c = IntegrityConfig::default();
        assert!(c.max_body_bytes() > c.max_attachments * c.max_attachment_bytes * 4 / 3);
    }
}
