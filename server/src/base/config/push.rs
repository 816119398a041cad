//! Push wake-ups of crews' phones (`[push]` in the file, `TARMIM_PUSH_*`, `TARMIM_FCM_*`,
//! `TARMIM_APNS_*`, `TARMIM_VAPID_*` in the environment). A service left unconfigured
//! sends nothing: its devices' wake-ups are marked skipped. See `docs/push.md`.

use serde::Deserialize;
use std::path::PathBuf;

/// The push services and the wake-ups' coalescing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// At most one non-urgent wake-up per device per this many seconds
    /// (`TARMIM_PUSH_COALESCE_SECS`); urgent jobs are never held back.
    pub coalesce_secs: u64,
    /// Seconds a provider may take to answer before the attempt counts as failed
    /// (`TARMIM_PUSH_TIMEOUT_SECS`).
    pub timeout_secs: u64,
    /// How long a provider keeps an undelivered wake-up, seconds (`TARMIM_PUSH_TTL_SECS`).
    pub ttl_secs: u64,
    /// The longest token (or Web Push subscription) a device may register, bytes
    /// (`TARMIM_PUSH_MAX_TOKEN_BYTES`).
    pub max_token_bytes: usize,
    /// Firebase's service-account JSON file (`TARMIM_FCM_SERVICE_ACCOUNT`): its
    /// `client_email`, `private_key` (RSA, PEM), `project_id` and `token_uri`.
    pub fcm_service_account: Option<PathBuf>,
    /// Overrides the service account's `token_uri` (`TARMIM_FCM_TOKEN_URI`).
    pub fcm_token_uri: Option<String>,
    /// FCM's base URL (`TARMIM_FCM_ENDPOINT`).
    pub fcm_endpoint: String,
    /// The APNs signing key, a `.p8` file (PKCS #8 PEM, P-256) (`TARMIM_APNS_KEY`).
    pub apns_key: Option<PathBuf>,
    /// The key's id (`TARMIM_APNS_KEY_ID`).
    pub apns_key_id: String,
    /// The Apple developer team id (`TARMIM_APNS_TEAM_ID`).
    pub apns_team_id: String,
    /// The app's bundle id, sent as `apns-topic` (`TARMIM_APNS_TOPIC`).
    pub apns_topic: String,
    /// APNs' base URL (`TARMIM_APNS_ENDPOINT`; the sandbox is
    /// `https://api.sandbox.push.apple.com`). An `http://` URL speaks HTTP/2 without TLS
    /// (tests only).
    pub apns_endpoint: String,
    /// The VAPID private key: 32 bytes, base64url (`TARMIM_VAPID_PRIVATE_KEY`).
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub` claim, a `mailto:` or `https:` contact (`TARMIM_VAPID_SUBJECT`).
    pub vapid_subject: String,
    /// Accept Web Push subscriptions whose endpoint is `http://` (`TARMIM_PUSH_ALLOW_HTTP`):
    /// tests only; real push services are HTTPS.
    pub allow_http_endpoints: bool,
    /// The push services a citizen's Web Push subscription may point at, by host: a host
    /// equal to one of these or under it (`TARMIM_WEBPUSH_HOSTS`, comma-separated).
    /// Citizens subscribe without an account, so an endpoint anywhere else — an address
    /// inside the city's network above all — is refused rather than POSTed to. The
    /// default names the browsers' push services (Chrome, Firefox, Edge, Safari).
    pub citizen_push_hosts: Vec<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            coalesce_secs: 60,
            timeout_secs: 10,
            ttl_secs: 3600,
            max_token_bytes: 4096,
            fcm_service_account: None,
            fcm_token_uri: None,
            fcm_endpoint: "https://fcm.googleapis.com".into(),
            apns_key: None,
            apns_key_id: String::new(),
            apns_team_id: String::new(),
            apns_topic: String::new(),
            apns_endpoint: "https://api.push.apple.com".into(),
            vapid_private_key: None,
            vapid_subject: "mailto:ops@tarmim.invalid".into(),
            allow_http_endpoints: false,
            citizen_push_hosts: [
                "fcm.googleapis.com",
                "updates.push.services.mozilla.com",
                "notify.windows.com",
                "push.apple.com",
            ]
            .map(String::from)
            .to_vec(),
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

impl PushConfig {
    /// Reads the variables through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), EnvError> {
        if let Some(v) = get("TARMIM_PUSH_COALESCE_SECS") {
            self.coalesce_secs = num("TARMIM_PUSH_COALESCE_SECS", v)?;
        }
        if let Some(v) = get("TARMIM_PUSH_TIMEOUT_SECS") {
            self.timeout_secs = num("TARMIM_PUSH_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("TARMIM_PUSH_TTL_SECS") {
            self.ttl_secs = num("TARMIM_PUSH_TTL_SECS", v)?;
        }
        if let Some(v) = get("TARMIM_PUSH_MAX_TOKEN_BYTES") {
            self.max_token_bytes = num("TARMIM_PUSH_MAX_TOKEN_BYTES", v)?;
        }
        if let Some(v) = get("TARMIM_FCM_SERVICE_ACCOUNT") {
            self.fcm_service_account = Some(v.into());
        }
        if let Some(v) = get("TARMIM_FCM_TOKEN_URI") {
            self.fcm_token_uri = Some(v);
        }
        if let Some(v) = get("TARMIM_FCM_ENDPOINT") {
            self.fcm_endpoint = v;
        }
        if let Some(v) = get("TARMIM_APNS_KEY") {
            self.apns_key = Some(v.into());
        }
        if let Some(v) = get("TARMIM_APNS_KEY_ID") {
            self.apns_key_id = v;
        }
        if let Some(v) = get("TARMIM_APNS_TEAM_ID") {
            self.apns_team_id = v;
        }
        if let Some(v) = get("TARMIM_APNS_TOPIC") {
            self.apns_topic = v;
        }
        if let Some(v) = get("TARMIM_APNS_ENDPOINT") {
            self.apns_endpoint = v;
        }
        if let Some(v) = get("TARMIM_VAPID_PRIVATE_KEY") {
            self.vapid_private_key = Some(v);
        }
        if let Some(v) = get("TARMIM_VAPID_SUBJECT") {
            self.vapid_subject = v;
        }
        if let Some(v) = get("TARMIM_PUSH_ALLOW_HTTP") {
            self.allow_http_endpoints = matches!(v.as_str(), "1" | "true" | "on" | "yes");
        }
        if let Some(v) = get("TARMIM_WEBPUSH_HOSTS") {
            self.citizen_push_hosts = v
                .split(',')
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::PushConfig;

    #[test]
    fn env_read_and_bad_numbers_refused() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let mut c = PushConfig::default();
        c.apply_env(env(&[
            ("TARMIM_PUSH_COALESCE_SECS", "5"),
            ("TARMIM_APNS_ENDPOINT", "https://api.sandbox.push.apple.com"),
            ("TARMIM_PUSH_ALLOW_HTTP", "true"),
        ]))
        .unwrap();
        assert_eq!(c.coalesce_secs, 5);
        assert_eq!(c.apns_endpoint, "https://api.sandbox.push.apple.com");
        assert!(c.allow_http_endpoints);
        let mut c = PushConfig::default();
        let e = c
            .apply_env(env(&[("TARMIM_PUSH_COALESCE_SECS", "soon")]))
            .unwrap_err();
        assert_eq!(e.0, "TARMIM_PUSH_COALESCE_SECS");
    }
}
