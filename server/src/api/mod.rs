//! HTTP handlers: thin adapters from requests to the domain modules. No SQL here.

pub mod analytics;
pub mod auth;
pub mod console;
pub mod crews;
pub mod fallback;
pub mod gis;
pub mod health;
pub mod integrity;
pub mod open311;
pub mod openapi;
pub mod photos;
pub mod sync;
pub mod track;
