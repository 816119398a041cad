//! Sync sessions.
