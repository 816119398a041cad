//! [`ClientAddr`]: the address every per-client limit counts (login, tracking lookups,
//! the integrity channel).
//!
//! It is the TCP peer's address, unless `trusted_proxy` is on (off by default): behind a
//! reverse proxy every peer is the proxy, so the client is the last address of
//! `X-Forwarded-For` — the one the proxy itself appended; earlier entries are whatever
//! the client claimed and are never read. With the setting off the header is ignored, so
//! a client cannot pick its own address.

use crate::http::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

/// The client's address as the limits count it (none: unknown, e.g. a test router
/// without connection info).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

/// The client address of a request: see the module documentation.
pub fn client_addr(parts: &Parts, trusted_proxy: bool) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    client_ip(&parts.headers, peer, trusted_proxy)
}

/// The client address from a request's headers and its TCP peer.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trusted_proxy: bool) -> Option<IpAddr> {
    if !trusted_proxy {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .next_back();
    forwarded.or(peer)
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts, state.config.trusted_proxy)))
    }
}
