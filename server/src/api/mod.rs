//! HTTP handlers: thin adapters from requests to the domain modules. No SQL here.

pub mod analytics;
pub mod auth;
pub mod console;
pub mod crews;
pub mod health;
pub mod integrity;
pub mod photos;
pub mod sync;
