//! Limits against hostile clients (`[limits]` in the file, `TARMIM_*` variables in the
//! environment): login throttling, connection timeouts and caps, sync socket caps, the
//! Open311 body cap. Each setting's meaning, default and reason are in
//! `docs/security.md`; the defaults are what a city deployment should run with.

use serde::Deserialize;

/// `[limits]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Password hashes (argon2, 19 MiB each) computed at once, on threads of their own
    /// (`TARMIM_LOGIN_HASH_CONCURRENCY`).
    pub login_hash_concurrency: usize,
    /// Logins waiting for a hashing slot; beyond it a login is refused at once with 429
    /// (`TARMIM_LOGIN_HASH_QUEUE`).
    pub login_hash_queue: usize,
    /// Attempts on one account before back-off starts; a success clears them
    /// (`TARMIM_LOGIN_ACCOUNT_ATTEMPTS`).
    pub login_account_attempts: u32,
    /// Failed attempts from one client address (IPv6: its /64) before back-off starts
    /// (`TARMIM_LOGIN_ADDRESS_ATTEMPTS`).
    pub login_address_attempts: u32,
    /// Longest back-off, seconds; it doubles from one second with each attempt over the
    /// allowance (`TARMIM_LOGIN_BACKOFF_MAX_SECS`).
    pub login_backoff_max_secs: u64,
    /// Largest Open311 `POST /requests` body, bytes, multipart included
    /// (`TARMIM_OPEN311_MAX_BODY_BYTES`).
    pub open311_max_body_bytes: u64,
    /// Seconds a client has to send a request's headers (also how long an idle
    /// keep-alive connection waits for its next request) (`TARMIM_HEADER_TIMEOUT_SECS`).
    pub header_timeout_secs: u64,
    /// Seconds a request may take, its body included; WebSockets and event streams are
    /// not counted once upgraded or answered (`TARMIM_REQUEST_TIMEOUT_SECS`).
    pub request_timeout_secs: u64,
    /// Open TCP connections at once; beyond it new ones are closed as they arrive
    /// (`TARMIM_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Open sync WebSockets at once on this replica (`TARMIM_SYNC_MAX_SOCKETS`).
    pub sync_max_sockets: usize,
    /// Open sync WebSockets of one user (`TARMIM_SYNC_MAX_SOCKETS_PER_USER`).
    pub sync_max_sockets_per_user: usize,
    /// Seconds a sync socket may take to accept one outgoing message before it is closed
    /// (a peer that stops reading) (`TARMIM_SYNC_SEND_TIMEOUT_SECS`).
    pub sync_send_timeout_secs: u64,
    /// Sync handshakes (authentication, upgrade, `Hello`, the catch-up) run at once on
    /// this replica; the others wait their turn (`TARMIM_SYNC_HANDSHAKES`; 0: no limit).
    pub sync_handshakes: usize,
    /// Seconds a sync socket waits for a handshake turn before 503 with `Retry-After`
    /// (`TARMIM_SYNC_HANDSHAKE_WAIT_SECS`).
    pub sync_handshake_wait_secs: u64,
    /// The longest a handshake turn lasts, seconds: a phone that never says `Hello` or
    /// reads its catch-up slowly goes on outside the limit (`TARMIM_SYNC_HANDSHAKE_TURN_SECS`).
    pub sync_handshake_turn_secs: u64,
    /// Threads that decode, apply, validate and fold pushed sync changes, beside (never
    /// on) the async workers; pushes beyond them wait their turn
    /// (`TARMIM_SYNC_WORK_THREADS`; 0: one per CPU core).
    pub sync_work_threads: usize,
    /// Catch-up pages read and built at once on this replica (a reconnect storm's bulk
    /// work); the others wait their turn, so that live work — an urgent job's pull to a
    /// connected phone — does not queue behind thousands of them
    /// (`TARMIM_SYNC_CATCH_UP_PAGES`; 0: one per CPU core).
    pub sync_catch_up_pages: usize,
    /// Largest a task document may grow to through a device's push, bytes saved; a push's
    /// changes may not inflate to more than this either (`TARMIM_SYNC_MAX_DOC_BYTES`).
    pub sync_max_doc_bytes: usize,
    /// Most events, notes or photos (each) a task document may hold after a device's push
    /// (`TARMIM_SYNC_MAX_DOC_ENTRIES`).
    pub sync_max_doc_entries: usize,
    /// Seconds a pushed event's time may be ahead of the server's clock before the push
    /// is refused (`TARMIM_SYNC_CLOCK_SKEW_SECS`).
    pub sync_clock_skew_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            login_hash_concurrency: 2,
            login_hash_queue: 32,
            login_account_attempts: 10,
            login_address_attempts: 30,
            login_backoff_max_secs: 900,
            open311_max_body_bytes: 32 * 1024 * 1024,
            header_timeout_secs: 10,
            request_timeout_secs: 120,
            max_connections: 4096,
            sync_max_sockets: 2000,
            sync_max_sockets_per_user: 8,
            sync_send_timeout_secs: 30,
            sync_handshakes: 32,
            sync_handshake_wait_secs: 20,
            sync_handshake_turn_secs: 20,
            sync_work_threads: 0,
            sync_catch_up_pages: 0,
            sync_max_doc_bytes: 4 * 1024 * 1024,
            sync_max_doc_entries: 1_000,
            sync_clock_skew_secs: 300,
        }
    }
}

impl LimitsConfig {
    /// Limits that never get in the way (test fixtures that log in hundreds of times from
    /// one address). Never the default.
    pub fn relaxed() -> LimitsConfig {
        LimitsConfig {
            login_hash_queue: 100_000,
            login_account_attempts: 1_000_000,
            login_address_attempts: 1_000_000,
            ..LimitsConfig::default()
        }
    }

    /// Reads the variables through `get`.
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), (&'static str, String, String)> {
        fn num<T: std::str::FromStr>(
            var: &'static str,
            v: String,
        ) -> Result<T, (&'static str, String, String)>
        where
            T::Err: std::fmt::Display,
        {
            v.parse()
                .map_err(|e: T::Err| (var, v.clone(), e.to_string()))
        }
        macro_rules! read {
            ($field:ident, $var:literal) => {
                if let Some(v) = get($var) {
                    self.$field = num($var, v)?;
                }
            };
        }
        read!(login_hash_concurrency, "TARMIM_LOGIN_HASH_CONCURRENCY");
        read!(login_hash_queue, "TARMIM_LOGIN_HASH_QUEUE");
        read!(login_account_attempts, "TARMIM_LOGIN_ACCOUNT_ATTEMPTS");
        read!(login_address_attempts, "TARMIM_LOGIN_ADDRESS_ATTEMPTS");
        read!(login_backoff_max_secs, "TARMIM_LOGIN_BACKOFF_MAX_SECS");
        read!(open311_max_body_bytes, "TARMIM_OPEN311_MAX_BODY_BYTES");
        read!(header_timeout_secs, "TARMIM_HEADER_TIMEOUT_SECS");
        read!(request_timeout_secs, "TARMIM_REQUEST_TIMEOUT_SECS");
        read!(max_connections, "TARMIM_MAX_CONNECTIONS");
        read!(sync_max_sockets, "TARMIM_SYNC_MAX_SOCKETS");
        read!(
            sync_max_sockets_per_user,
            "TARMIM_SYNC_MAX_SOCKETS_PER_USER"
        );
        read!(sync_send_timeout_secs, "TARMIM_SYNC_SEND_TIMEOUT_SECS");
        read!(sync_handshakes, "TARMIM_SYNC_HANDSHAKES");
        read!(sync_handshake_wait_secs, "TARMIM_SYNC_HANDSHAKE_WAIT_SECS");
        read!(sync_handshake_turn_secs, "TARMIM_SYNC_HANDSHAKE_TURN_SECS");
        read!(sync_work_threads, "TARMIM_SYNC_WORK_THREADS");
        read!(sync_catch_up_pages, "TARMIM_SYNC_CATCH_UP_PAGES");
        read!(sync_max_doc_bytes, "TARMIM_SYNC_MAX_DOC_BYTES");
        read!(sync_max_doc_entries, "TARMIM_SYNC_MAX_DOC_ENTRIES");
        read!(sync_clock_skew_secs, "TARMIM_SYNC_CLOCK_SKEW_SECS");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_bad_values() {
        let mut l = LimitsConfig::default();
        l.apply_env(|k| (k == "TARMIM_LOGIN_HASH_CONCURRENCY").then(|| "4".to_owned()))
            .unwrap();
        assert_eq!(l.login_hash_concurrency, 4);
        assert!(
            l.apply_env(|k| (k == "TARMIM_MAX_CONNECTIONS").then(|| "many".to_owned()))
                .is_err()
        );
    }
}
