//! The console's Content-Security-Policy, sent with every console page (`index.html`,
//! `manage.html`, `verify.html`, `messages.html`, `desk.html`, `penalties.html`, `roster.html`,
//! `admin.html`): scripts, styles and
//! connections only from this server; images only from this server (photos, Leaflet's
//! own images, `data:` for Leaflet's inline ones) and the configured tile host, so text
//! that slipped through escaping could neither run script nor beacon data to a third
//! party through an image; never framed.

use axum::http::HeaderValue;

/// The policy for a console whose map loads tiles from `tile_url` (a template such as
/// `https://{s}.tile.example.org/{z}/{x}/{y}.png`; none: no tiles, no other image host).
pub fn console(tile_url: Option<&str>) -> HeaderValue {
    let tiles = tile_url.and_then(tile_source);
    let img = match &tiles {
        Some(t) => format!("img-src 'self' data: {t}"),
        None => "img-src 'self' data:".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; {img}; style-src 'self' 'unsafe-inline'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        )
    })
}

/// The CSP source of a tile URL template: its scheme and host (a `{s}`-style placeholder
/// in the host becomes `*`); none for anything that is not a plain http(s) origin (it
/// could otherwise smuggle directives into the header).
fn tile_source(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split('/').next()?;
    let mut out = String::with_capacity(host.len());
    let mut in_placeholder = false;
    for c in host.chars() {
        match c {
            '{' if !in_placeholder => {
                in_placeholder = true;
                out.push('*');
            }
            '}' if in_placeholder => in_placeholder = false,
            _ if in_placeholder => {}
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']') => {
                out.push(c)
            }
            _ => return None,
        }
    }
    if out.is_empty() || in_placeholder {
        return None;
    }
    Some(format!("{scheme}://{out}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_only_from_the_server_and_the_tile_host() {
        let p = console(Some("https://{s}.tile.example.org/{z}/{x}/{y}.png"));
        let p = p.to_str().unwrap();
        assert!(
            p.contains("img-src 'self' data: https://*.tile.example.org;"),
            "{p}"
        );
        assert!(!p.contains("https:;") && !p.contains(" http:"), "{p}");
        let p = console(Some("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"));
        assert!(
            p.to_str()
                .unwrap()
                .contains("img-src 'self' data: http://127.0.0.1:8080;")
        );
        let none = console(None);
        assert!(none.to_str().unwrap().contains("img-src 'self' data:;"));
        // A template that would inject a directive, or is not http(s), adds no host.
        for bad in [
            "https://x.org; script-src *; /{z}.png",
            "javascript:alert(1)",
            "https://{s/x.png",
            "ftp://x.org/{z}.png",
        ] {
            assert_eq!(console(Some(bad)), none, "{bad}");
        }
    }
}
