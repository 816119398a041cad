//! The phone's sync-core `Device`, shared by the client (reads and edits) and the
//! background worker (sync sessions and uploads), and the clock both stamp their calls
//! with.

use crate::error::TarmimError;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use sync_core::Millis;
use sync_core::outbox::UploadState;
use sync_core::session::device::Device;

/// The device behind one lock: calls from the app's threads and from the worker are
/// serialised on the phone's store.
pub(crate) struct SharedDevice(Mutex<Device>);

impl SharedDevice {
    pub(crate) fn new(device: Device) -> SharedDevice {
        SharedDevice(Mutex::new(device))
    }

    /// The device (a poisoned lock is taken over: every store write is atomic, so a
    /// panic half way through a call leaves nothing half-written).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Device> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Photos waiting to be uploaded.
    pub(crate) fn pending_uploads(&self) -> Result<u64, TarmimError> {
        let outbox = self.lock().outbox()?;
        Ok(outbox
            .iter()
            .filter(|e| e.state == UploadState::Pending)
            .count() as u64)
    }
}

/// Now, in milliseconds since the epoch (sync-core takes times as data).
pub(crate) fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
