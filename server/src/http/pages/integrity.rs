//! The reporting page: plain HTML, one script for the page and one for the proof of work,
//! one style sheet — all embedded in the binary and served from this origin, so the strict
//! CSP (`script-src 'self'`, no inline code) holds and no third party sees a reporter.
//! The page keeps nothing: no cookie, no local storage; the receipt code is shown once.

/// `GET /integrity`.
pub const INDEX_HTML: &str = include_str!("../../../web/integrity/index.html");
/// `GET /integrity/app.js`: forms, attachments, follow-up.
pub const APP_JS: &str = include_str!("../../../web/integrity/app.js");
/// `GET /integrity/pow.js`: SHA-256 and the proof-of-work search (also loadable by Node,
/// which the tests use to check it against the server's checker).
pub const POW_JS: &str = include_str!("../../../web/integrity/pow.js");
/// `GET /integrity/style.css`.
pub const STYLE_CSS: &str = include_str!("../../../web/integrity/style.css");
/// `GET /integrity` when no category is configured: the channel is off, said plainly.
pub const OFF_HTML: &str = include_str!("../../../web/integrity/off.html");
/// `GET /integrity/off.js`: the off page's language switch.
pub const OFF_JS: &str = include_str!("../../../web/integrity/off.js");
