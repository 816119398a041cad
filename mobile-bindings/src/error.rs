//! The one error type apps see, and the one mapping into it from sync-core's and the
//! transport's errors.
//!
//! Its variants are what an app does differently, not where a failure came from (the
//! `reason` says that, for logs and support): wait and retry, ask the user to log in
//! again, show a refusal, fix the input, or deal with the phone's storage. Named
//! `TarmimError` (not `Error`) because Kotlin's bindings turn it into
//! `TarmimException`.

use crate::transport::TransportError;
use sync_core::IdError;
use sync_core::outbox::OutboxError;
use sync_core::session::device::DeviceError;
use sync_core::store::StoreError;
use sync_core::task::TaskError;

/// Why a call failed, grouped by what the app should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TarmimError {
    /// The server cannot be reached now (no network, server down, timeout, rate limit or a
    /// broken connection). Nothing is lost: edits stay on the phone; retry later, or let
    /// the background sync do it.
    #[error("offline: {reason}")]
    Offline {
        /// What happened, in plain words.
        reason: String,
        /// When the server said how long to wait (HTTP `Retry-After`), in seconds.
        retry_after_secs: Option<u64>,
    },
    /// The credentials are wrong, or the server revoked this device's session: ask the
    /// user to log in again (open a new client with the new password).
    #[error("login required: {reason}")]
    LoginRequired {
        /// What the server said.
        reason: String,
    },
    /// The user's account is disabled: no login will succeed. The phone has dropped the
    /// user's tasks and their photos, except what has not reached the server (tasks with
    /// unsent edits, photos still to upload), which stays until the account is enabled
    /// again and a sync sends it. Tell the user ("your account was disabled").
    #[error("account disabled: {reason}")]
    AccountDisabled {
        /// What the server said.
        reason: String,
    },
    /// The rules refuse the action (e.g. completing without an after photo, starting a
    /// task not assigned to the crew) or the server refused it. Show the reason; retrying
    /// the same thing will not help.
    #[error("refused: {reason}")]
    Refused {
        /// Why, in plain words.
        reason: String,
    },
    /// An argument is malformed: an unknown task id, a missing photo file, a point off
    /// the globe, empty text. Fix the input.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong with it.
        reason: String,
    },
    /// The phone's data folder cannot be used: unreadable, corrupt, locked by another
    /// client, or written by a newer app. For corrupt data the remedy is to delete the
    /// folder and open again, which fetches the tasks from the server (unsent edits are
    /// lost).
    #[error("storage: {reason}")]
    Storage {
        /// What is wrong.
        reason: String,
    },
}

impl TarmimError {
    pub(crate) fn invalid(reason: impl Into<String>) -> TarmimError {
        TarmimError::InvalidInput {
            reason: reason.into(),
        }
    }

    pub(crate) fn storage(reason: impl Into<String>) -> TarmimError {
        TarmimError::Storage {
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for TarmimError {
    fn from(e: StoreError) -> Self {
        TarmimError::storage(e.to_string())
    }
}

impl From<IdError> for TarmimError {
    fn from(e: IdError) -> Self {
        TarmimError::invalid(e.to_string())
    }
}

impl From<TaskError> for TarmimError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Transition { .. } | TaskError::NoAfterPhoto => TarmimError::Refused {
                reason: e.to_string(),
            },
            TaskError::Invalid(_) => TarmimError::invalid(e.to_string()),
            // A stored document that does not read is damaged storage.
            TaskError::Corrupt(_)
            | TaskError::Schema(_)
            | TaskError::TooNew { .. }
            | TaskError::Automerge(_) => TarmimError::storage(e.to_string()),
        }
    }
}

impl From<DeviceError> for TarmimError {
    fn from(e: DeviceError) -> Self {
        use sync_core::protocol::ErrorCode;
        match e {
            DeviceError::Store(e) => e.into(),
            DeviceError::Task(e) => e.into(),
            DeviceError::UnknownTask(_) => TarmimError::invalid(e.to_string()),
            DeviceError::Dropped(_) => TarmimError::Refused {
                reason: e.to_string(),
            },
            DeviceError::Outbox(OutboxError::Empty | OutboxError::TooLarge { .. }) => {
                TarmimError::invalid(e.to_string())
            }
            DeviceError::Outbox(_) => TarmimError::storage(e.to_string()),
            DeviceError::Server {
                code: ErrorCode::Unauthorized,
                ..
            } => TarmimError::LoginRequired {
                reason: e.to_string(),
            },
            // Broken or refused sessions are retried on the next connection.
            DeviceError::Frame(_)
            | DeviceError::Protocol(_)
            | DeviceError::Server { .. }
            | DeviceError::NotConnected => TarmimError::Offline {
                reason: e.to_string(),
                retry_after_secs: None,
            },
        }
    }
}

impl From<TransportError> for TarmimError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Unreachable(_)
            | TransportError::Broken(_)
            | TransportError::Unavailable(_)
            | TransportError::NoWebSocket(_) => TarmimError::Offline {
                reason: e.to_string(),
                retry_after_secs: None,
            },
            TransportError::RateLimited { retry_after_secs } => TarmimError::Offline {
                reason: e.to_string(),
                retry_after_secs,
            },
            TransportError::Unauthorized(_) => TarmimError::LoginRequired {
                reason: e.to_string(),
            },
            TransportError::AccountDisabled(reason) => TarmimError::AccountDisabled { reason },
            TransportError::BadRequest(_) => TarmimError::invalid(e.to_string()),
            TransportError::Forbidden(_) | TransportError::Unexpected { .. } => {
                TarmimError::Refused {
                    reason: e.to_string(),
                }
            }
        }
    }
}
