//! The server's address, the URLs derived from it, and the TLS configuration shared by
//! the HTTP client and the WebSocket.

use super::TransportError;
use std::sync::{Arc, OnceLock};

/// A server: `http://` or `https://` base URL (any path prefix kept), without a trailing
/// slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
    tls: bool,
}

impl Endpoint {
    /// Checks and normalises a base URL such as `https://tarmim.example.org` or
    /// `http://127.0.0.1:8137`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim().trim_end_matches('/');
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "server URL {url:?} must start with http:// or https://"
            ));
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#']) {
            return Err(format!("server URL {url:?} has no usable host"));
        }
        Ok(Endpoint {
            base: url.to_owned(),
            tls,
        })
    }

    /// `https://host/prefix` + `path` (which starts with `/`).
    pub fn http_url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The sync WebSocket's URL (`wss://` for an `https://` server).
    pub fn ws_url(&self) -> String {
        let rest = self
            .base
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or_default();
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{rest}/api/v1/sync")
    }
}

/// The TLS client configuration: rustls with the ring provider and the Mozilla root
/// certificates compiled in, so it behaves the same on Android, iOS and Linux and needs
/// neither OpenSSL nor the platform's verifier (which on Android needs a JNI context).
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, TransportError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TransportError::Unreachable(format!("TLS configuration: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// The HTTP client, over [`tls_config`].
pub fn http_client() -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls_config()?).clone())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| TransportError::Unreachable(format!("HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_derive_from_the_base() {
        let e = Endpoint::parse("https://tarmim.example.org/city/").expect("valid");
        assert_eq!(
            e.http_url("/api/v1/login"),
            "https://tarmim.example.org/city/api/v1/login"
        );
        assert_eq!(e.ws_url(), "wss://tarmim.example.org/city/api/v1/sync");
        let e = Endpoint::parse("http://127.0.0.1:8137").expect("valid");
        assert_eq!(e.ws_url(), "ws://127.0.0.1:8137/api/v1/sync");
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "",
            "ftp://x",
            "http://",
            "127.0.0.1:8137",
            "http://a b",
            "https://x?y",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tls_config_builds() {
        let config = tls_config().expect("TLS configuration builds");
        assert!(config.alpn_protocols.is_empty());
        http_client().expect("client builds");
    }
}
