//! The base layer: what every other layer may use and which uses none of them —
//! settings, time, distances on the Earth, the codes people type, the public base URL,
//! logging and metrics set-up, the TLS crypto provider.

pub mod config;
pub mod crockford;
pub mod geodesy;
pub mod public_url;
pub mod telemetry;
pub mod time;
pub mod tls;
