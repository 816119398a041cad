//! The callback interface an app implements to hear about changes (so a list screen can
//! refresh), and the fan-out to it.
//!
//! Callbacks run on the library's sync thread, never on the app's main thread: hop to the
//! UI thread before touching views, and return quickly (the sync waits for the callback).

use crate::model::{RefusedChange, SyncState};
use std::sync::{Arc, Mutex};

/// What an app implements to be told about changes. Own edits made through the client are
/// not echoed back: the caller knows about them.
#[uniffi::export(callback_interface)]
pub trait ChangeListener: Send + Sync {
    /// Tasks arrived or changed from the server (including a task reset after a refusal).
    fn on_tasks_changed(&self, task_ids: Vec<String>);
    /// Tasks left this phone (reassigned away, closed, or a refused new task).
    fn on_tasks_removed(&self, task_ids: Vec<String>);
    /// The server refused a change; the task is back to the server's copy.
    fn on_change_refused(&self, refused: RefusedChange);
    /// The background sync's state changed.
    fn on_sync_state(&self, state: SyncState);
}

/// The registered listener, if any. Calls are made without holding any other lock.
#[derive(Default)]
pub(crate) struct Listeners {
    current: Mutex<Option<Arc<dyn ChangeListener>>>,
}

impl Listeners {
    pub(crate) fn set(&self, listener: Option<Box<dyn ChangeListener>>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = listener.map(Arc::from);
    }

    fn get(&self) -> Option<Arc<dyn ChangeListener>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn changed(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        if let Some(l) = self.get() {
            l.on_tasks_changed(ids);
        }
    }

    pub(crate) fn removed(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        if let Some(l) = self.get() {
            l.on_tasks_removed(ids);
        }
    }

    pub(crate) fn refused(&self, r: RefusedChange) {
        if let Some(l) = self.get() {
            l.on_change_refused(r);
        }
    }

    pub(crate) fn state(&self, s: SyncState) {
        if let Some(l) = self.get() {
            l.on_sync_state(s);
        }
    }
}
