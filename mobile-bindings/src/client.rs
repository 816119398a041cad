//! [`TarmimClient`]: the object an app holds, one per account and data folder. Every
//! method is a line or two over `sync_core::session::device::Device` (reads, edits), over
//! the transport (duty, position) or over the background worker's handle (sync). The
//! client builds the pieces it shares with the worker (the device, the login, the
//! listener) and hands them down; nothing below it reaches back up.
//!
//! # Threading
//! Every method blocks the calling thread for disk (each edit is fsynced before it
//! returns) or network I/O (`open`, `sync_now`, `set_on_duty`, `report_position`,
//! `stop_sync`): call them from a worker thread (Kotlin `Dispatchers.IO`, a Swift
//! `Task.detached` or background queue), never from the UI thread. The client is
//! thread-safe; calls from several threads are serialised on the phone's store. Network
//! work runs on the client's own small tokio runtime, so the background sync and the
//! listener's callbacks run on the client's threads, not the app's. A listener callback
//! may read and edit tasks but must not call the network methods (they would wait for the
//! thread the callback runs on), which are refused there with `InvalidInput`.

use crate::account;
use crate::auth::Auth;
use crate::background;
use crate::device::{SharedDevice, now_ms};
use crate::error::TarmimError;
use crate::listener::{ChangeListener, Listeners};
use crate::model::*;
use crate::photo;
use crate::transport::endpoint::Endpoint;
use crate::transport::http::HttpApi;
use crate::transport::upload::TusUpload;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use sync_core::DocId;
use sync_core::day_order;
use sync_core::session::device::{Device, NewPhoto};
use sync_core::store::Store;
use sync_core::task::{EventKind, GeoPoint, Priority, Status};

/// A crew member's phone client: the tasks on this phone, edits made offline, and sync
/// with the server. Open one per account and data folder; share it across the app.
#[derive(uniffi::Object)]
pub struct TarmimClient {
    account: account::Saved,
    /// Shared with the worker, which syncs it.
    device: Arc<SharedDevice>,
    /// Shared with the worker, which logs in with it too.
    auth: Arc<Auth>,
    /// Shared with the worker, which calls them.
    listeners: Arc<Listeners>,
    /// The background worker: sync sessions, the live loop, photo uploads.
    worker: background::Handle,
}

fn task_id(id: &str) -> Result<DocId, TarmimError> {
    Ok(DocId::new(id)?)
}

impl TarmimClient {
    fn event(&self, task: &str, kind: EventKind) -> Result<String, TarmimError> {
        let id = task_id(task)?;
        let at = now_ms();
        let event = self
            .device
            .lock()
            .edit(&id, at, |doc, actor| doc.append_event(actor, at, kind))?;
        self.worker.edited();
        Ok(event)
    }
}

#[uniffi::export]
impl TarmimClient {
    /// Opens the client on `config.data_dir`, logging in to `config.server_url`.
    ///
    /// The first open of a data folder must reach the server (to learn who the login is);
    /// later opens work offline with the account saved in the folder, and log in when the
    /// server is reachable again. Fails with `LoginRequired` for wrong credentials,
    /// `Offline` when a new folder cannot reach the server, `Storage` for a corrupt or
    /// locked folder, `InvalidInput` for a malformed URL or a folder that belongs to
    /// another login, `AccountDisabled` when the user was disabled (the folder's tasks are
    /// dropped then, except those with edits not yet on the server).
    #[uniffi::constructor]
    pub fn open(config: ClientConfig) -> Result<Arc<TarmimClient>, TarmimError> {
        let endpoint = Endpoint::parse(&config.server_url).map_err(TarmimError::invalid)?;
        if config.data_dir.trim().is_empty() || config.login.trim().is_empty() {
            return Err(TarmimError::invalid("data_dir and login must not be empty"));
        }
        let store = Store::open(Path::new(&config.data_dir))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tarmim-sync")
            .enable_all()
            .build()
            .map_err(|e| TarmimError::storage(format!("cannot start the sync thread: {e}")))?;
        let api = HttpApi::new(endpoint.clone())?;
        let tus = TusUpload::new(endpoint, crate::transport::endpoint::http_client()?);
        let (account, token) = match rt.block_on(account::sign_in(&api, &store, &config)) {
            Err(e @ TarmimError::AccountDisabled { .. }) => {
                // Disabled while the app was closed: what the folder holds of the user's
                // tasks goes now (what has not reached the server stays).
                if let Some(saved) = account::load(&store)? {
                    Device::new(store, account::actor_of(&saved)?).account_disabled()?;
                }
                return Err(e);
            }
            other => other?,
        };
        let device = Arc::new(SharedDevice::new(Device::new(
            store,
            account::actor_of(&account)?,
        )));
        let auth = Arc::new(Auth::new(api, &account, config.password, token));
        let listeners = Arc::new(Listeners::default());
        let worker = background::Handle::new(
            rt,
            device.clone(),
            auth.clone(),
            listeners.clone(),
            tus,
            config.http_only,
        );
        Ok(Arc::new(TarmimClient {
            account,
            device,
            auth,
            listeners,
            worker,
        }))
    }

    /// Who this client acts as.
    pub fn account(&self) -> Account {
        Account::from(&self.account)
    }

    /// The tasks on this phone (the crew's jobs, and its district's open tasks if the
    /// server is so configured), read from the store's index: fast, no document loaded.
    pub fn tasks(&self) -> Result<Vec<TaskSummary>, TarmimError> {
        let rows = self.device.lock().list()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One task in full: derived status, timeline, notes, photos.
    pub fn task(&self, task_id: String) -> Result<TaskDetail, TarmimError> {
        let id = self::task_id(&task_id)?;
        Ok(self.device.lock().task(&id)?.into())
    }

    /// Acknowledges a job assigned to the crew. Returns the event id.
    pub fn acknowledge(&self, task_id: String) -> Result<String, TarmimError> {
        self.event(&task_id, EventKind::Acknowledged)
    }

    /// Starts (or resumes) work. Returns the event id.
    pub fn start(&self, task_id: String) -> Result<String, TarmimError> {
        self.event(&task_id, EventKind::Started)
    }

    /// Pauses work, saying why. Returns the event id.
    pub fn pause(&self, task_id: String, reason: String) -> Result<String, TarmimError> {
        self.event(&task_id, EventKind::Paused { reason })
    }

    /// Completes the job. `after_photos` are hashes of after photos already added to the
    /// task; empty means all of the task's after photos. Refused (`Refused`) without one.
    /// Returns the event id.
    pub fn complete(
        &self,
        task_id: String,
        after_photos: Vec<String>,
    ) -> Result<String, TarmimError> {
        let id = self::task_id(&task_id)?;
        let event = self.device.lock().complete(&id, after_photos, now_ms())?;
        self.worker.edited();
        Ok(event)
    }

    /// Adds a note (1 to 4000 characters). Returns the note id.
    pub fn add_note(&self, task_id: String, text: String) -> Result<String, TarmimError> {
        let id = self::task_id(&task_id)?;
        let at = now_ms();
        let note = self
            .device
            .lock()
            .edit(&id, at, |doc, actor| doc.add_note(actor, at, &text))?;
        self.worker.edited();
        Ok(note)
    }

    /// Adds a photo to a task from an image file the app wrote (JPEG, PNG or WebP), e.g.
    /// the camera's output in the app's cache folder. The library copies the bytes into
    /// the phone's outbox together with the task's photo reference, in one durable write;
    /// the file may be deleted once this returns. Uploads (resumable) happen during sync. `taken_at_ms`, `lat` and `lon` are where and when it was
    /// taken, if known. Adding the same image twice (from any phone) makes one photo.
    /// Returns the photo's hash, which `complete` takes. `InvalidInput` for a missing,
    /// unreadable, empty or non-image file.
    pub fn add_photo(
        &self,
        task_id: String,
        path: String,
        kind: PhotoKind,
        taken_at_ms: Option<i64>,
        lat: Option<f64>,
        lon: Option<f64>,
    ) -> Result<String, TarmimError> {
        let id = self::task_id(&task_id)?;
        let (bytes, mime) = photo::read(Path::new(&path))?;
        let photo = NewPhoto {
            kind: kind.into(),
            mime: mime.into(),
            taken_at: taken_at_ms,
            taken_point: photo::point(lat, lon)?,
        };
        let hash = self.device.lock().add_photo(&id, photo, &bytes, now_ms())?;
        self.worker.edited();
        Ok(hash)
    }

    /// The photo outbox: every photo added on this phone and how far its upload got.
    pub fn uploads(&self) -> Result<Vec<PhotoUpload>, TarmimError> {
        let outbox = self.device.lock().outbox()?;
        Ok(outbox.into_iter().map(Into::into).collect())
    }

    /// Reports work found in the field as a new task (source `crew`). Returns its id.
    pub fn report_task(&self, report: FieldReport) -> Result<String, TarmimError> {
        let id = self
            .device
            .lock()
            .report_field_work(report.into(), now_ms())?;
        self.worker.edited();
        Ok(id.to_string())
    }

    /// Local changes not yet acknowledged by the server.
    pub fn pending_changes(&self) -> Result<u64, TarmimError> {
        Ok(self.device.lock().pending_count()? as u64)
    }

    /// Tells dispatch whether the crew is on duty (online only: `Offline` when the server
    /// cannot be reached; retry later).
    pub fn set_on_duty(&self, on_duty: bool) -> Result<(), TarmimError> {
        let auth = &self.auth;
        let call = auth.authed(|t| async move { auth.api().set_duty(&t, on_duty).await });
        Ok(self.worker.block_on(call)??)
    }

    /// Registers how the server wakes this phone when its app is in the background
    /// (online only): `kind` is `fcm` (the FCM registration token), `apns` (the APNs device
    /// token, hex) or `webpush` (a UnifiedPush/Web Push subscription's JSON:
    /// `{"endpoint", "keys": {"p256dh", "auth"}}`). Call it at every start and whenever the
    /// platform rotates the token: the new token replaces the old. A wake-up carries no
    /// task content, only "sync now": answer it with `sync_now`. `InvalidInput` for an
    /// unknown kind or a malformed token; `Offline` when the server cannot be reached.
    pub fn register_push(&self, kind: String, token: String) -> Result<(), TarmimError> {
        let auth = &self.auth;
        let call = auth.authed(|t| {
            let (kind, token) = (kind.clone(), token.clone());
            async move { auth.api().register_push(&t, &kind, &token).await }
        });
        Ok(self.worker.block_on(call)??)
    }

    /// Reports the phone's position for dispatch (online only). Returns the server's
    /// flags about it (e.g. an implausible jump); `InvalidInput` for a point off the
    /// globe, `Offline` with `retry_after_secs` when sent too often.
    pub fn report_position(&self, position: Position) -> Result<Vec<String>, TarmimError> {
        let Position {
            lat,
            lon,
            at_ms,
            accuracy_m,
        } = position;
        let on_globe = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        if !on_globe || accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
            return Err(TarmimError::invalid(format!(
                "position ({lat}, {lon}) ± {accuracy_m:?} m is not on the globe"
            )));
        }
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
        let at = humantime::format_rfc3339_millis(at).to_string();
        let auth = &self.auth;
        let call = auth.authed(|t| {
            let at = at.clone();
            async move {
                auth.api()
                    .report_position(&t, lat, lon, &at, accuracy_m)
                    .await
            }
        });
        Ok(self.worker.block_on(call)??)
    }

    /// The crew's open jobs in the order to visit them from `position`, computed on the
    /// phone with no network (`sync_core::day_order`): urgent jobs first, then deadlines,
    /// then the shortest drive. Call it again when the listener reports a change (a job
    /// arrived, was reassigned or completed). `InvalidInput` for a point off the globe.
    pub fn day_order(&self, position: Position) -> Result<Vec<PlannedStop>, TarmimError> {
        let Position { lat, lon, .. } = position;
        let on_globe = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        if !on_globe {
            return Err(TarmimError::invalid(format!(
                "position ({lat}, {lon}) is not on the globe"
            )));
        }
        let crew = self.account().crew;
        let mut jobs = Vec::new();
        let mut titles = std::collections::HashMap::new();
        {
            let device = self.device.lock();
            for entry in device.list()? {
                let open = matches!(
                    Status::parse(&entry.status),
                    Some(
                        Status::Assigned
                            | Status::Acknowledged
                            | Status::InProgress
                            | Status::Paused
                            | Status::Reopened
                    )
                );
                if !open || crew.is_none() || entry.assignee != crew {
                    continue;
                }
                let view = device.task(&entry.id)?;
                titles.insert(entry.id.to_string(), view.title.clone());
                jobs.push(day_order::Job {
                    id: entry.id.to_string(),
                    point: view.point,
                    priority: view.derived.priority,
                    complete_due: view.sla.complete_due,
                });
            }
        }
        let start = GeoPoint {
            lat,
            lon,
            accuracy_m: None,
        };
        let dues: std::collections::HashMap<String, (Priority, Option<i64>)> = jobs
            .iter()
            .map(|j| (j.id.clone(), (j.priority, j.complete_due)))
            .collect();
        let plan = day_order::plan(start, now_ms(), &jobs, &day_order::Params::default());
        Ok(plan
            .stops
            .into_iter()
            .map(|s| {
                let (priority, complete_due_ms) =
                    dues.get(&s.id).copied().unwrap_or((Priority::Normal, None));
                PlannedStop {
                    title: titles.remove(&s.id).unwrap_or_default(),
                    task_id: s.id,
                    priority: priority.into(),
                    arrive_at_ms: s.arrive_at,
                    finish_at_ms: s.finish_at,
                    travel_m: s.travel_m,
                    complete_due_ms,
                    late_ms: s.late_ms,
                }
            })
            .collect())
    }

    /// Syncs now and returns what happened: sends every local change, receives what
    /// changed on the server, waits until the server has answered every change, then
    /// uploads the photos that are due (an interrupted upload resumes where it stopped).
    /// `Offline` when the server cannot be reached (nothing is lost). While the
    /// background sync runs, this asks it instead of opening a second connection.
    pub fn sync_now(&self) -> Result<SyncReport, TarmimError> {
        self.worker.sync_now()
    }

    /// Starts the background sync: a live connection while the server is reachable
    /// (changes arrive within a second, edits leave at once), reconnecting with back-off
    /// otherwise. Its state goes to the listener's `on_sync_state`. Does nothing if it
    /// already runs.
    pub fn start_sync(&self) -> Result<(), TarmimError> {
        self.worker.start()
    }

    /// Stops the background sync (closing its connection) and waits for it to end (at most
    /// a couple of seconds).
    pub fn stop_sync(&self) -> Result<(), TarmimError> {
        self.worker.stop()
    }

    /// Registers the listener for changes (replacing any earlier one); `None` removes it.
    pub fn set_listener(&self, listener: Option<Box<dyn ChangeListener>>) {
        self.listeners.set(listener);
    }
}
