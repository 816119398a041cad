//! The server's public base URL: what every absolute link it writes starts with (Open311's
//! discovery and media URLs, OGC API's links), by one rule.
//!
//! 1. The `public_url` setting (`TARMIM_PUBLIC_URL`), when the operator gave one: the
//!    only way to be right behind a proxy that rewrites the host or the path.
//! 2. Else the host the client addressed (the `Host` header, or the request's authority
//!    over HTTP/2) if it is a plain `host[:port]`, else the listen address; the scheme is
//!    `http`, or `https` when `X-Forwarded-Proto` says so **and** the `trusted_proxy`
//!    setting says a proxy in front sets that header (otherwise any client could choose
//!    the scheme of the links the server hands to everyone).

use crate::base::config::Config;

/// What a request says about where it was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Addressed<'a> {
    /// The `Host` header (or the HTTP/2 authority).
    pub host: Option<&'a str>,
    /// The `X-Forwarded-Proto` header.
    pub forwarded_proto: Option<&'a str>,
}

/// The base URL (no trailing `/`) of links in the answer to a request addressed so.
pub fn base_url(config: &Config, addressed: Addressed<'_>) -> String {
    if let Some(url) = &config.public_url {
        return url.clone();
    }
    // The first proxy in a chain writes the client's own scheme first.
    let https = config.trusted_proxy
        && addressed
            .forwarded_proto
            .and_then(|p| p.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let scheme = if https { "https" } else { "http" };
    match addressed.host.filter(|h| is_host(h)) {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://{}", config.listen),
    }
}

/// A host name or address with an optional port: nothing a link could be bent with.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: Option<&'static str>, proto: Option<&'static str>) -> Addressed<'static> {
        Addressed {
            host,
            forwarded_proto: proto,
        }
    }

    #[test]
    fn the_setting_wins_then_the_host_then_the_listen_address() {
        let mut c = Config::default();
        assert_eq!(
            base_url(&c, at(Some("city.example:8080"), None)),
            "http://city.example:8080"
        );
        assert_eq!(base_url(&c, at(Some("[::1]:80"), None)), "http://[::1]:80");
        for bad in [
            None,
            Some(""),
            Some("evil.example/x"),
            Some("a b"),
            Some("a@b"),
        ] {
            assert_eq!(
                base_url(&c, at(bad, None)),
                "http://127.0.0.1:8137",
                "{bad:?}"
            );
        }
        c.public_url = Some("https://city.example/tarmim".into());
        assert_eq!(
            base_url(&c, at(Some("other.example"), Some("http"))),
            "https://city.example/tarmim"
        );
    }

    #[test]
    fn forwarded_proto_only_from_a_trusted_proxy() {
        let mut c = Config::default();
        let host = Some("city.example");
        assert_eq!(base_url(&c, at(host, Some("https"))), "http://city.example");
        c.trusted_proxy = true;
        assert_eq!(
            base_url(&c, at(host, Some("https"))),
            "https://city.example"
        );
        assert_eq!(
            base_url(&c, at(host, Some("HTTPS, http"))),
            "https://city.example"
        );
        assert_eq!(base_url(&c, at(host, Some("http"))), "http://city.example");
        assert_eq!(base_url(&c, at(host, None)), "http://city.example");
    }
}
