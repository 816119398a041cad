//! HTTP handlers: thin adapters from requests to the domain modules. No SQL here.

pub mod auth;
pub mod health;
pub mod integrity;
pub mod sync;
