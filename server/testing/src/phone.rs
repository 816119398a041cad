//! A crew's phone over the HTTP fallback: a real `sync_core::session::Device` (its own
//! redb store) that logs in, syncs by `POST /api/v1/sync/exchange` (Hello, then its
//! pending pushes, in one flight; the server's batches and acks back), edits tasks, and
//! uploads photos through the tus endpoints. The verification tests and the browser
//! test's probe (`server/examples/phone_probe.rs`) drive it.

use base64::Engine;
use server::domain::sync::{FRAMES_MEDIA_TYPE, decode_frames, encode_frames};
use sync_core::outbox::content_hash;
use sync_core::session::device::{Device, DeviceEvent, NewPhoto};
use sync_core::store::Store;
use sync_core::task::{EventKind, PhotoKind, Status, TaskDoc};
use sync_core::{Actor, DeviceId, DocId, Role};

/// A phone; every failure is a message (this is test support).
pub struct HttpPhone {
    /// The device.
    pub dev: Device,
    base: String,
    token: String,
    http: reqwest::Client,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl HttpPhone {
    /// Logs `login` in on device `device` against the server at `base` (`http://…`),
    /// keeping the device's data in `store`.
    pub async fn login(
        base: &str,
        login: &str,
        password: &str,
        device: &str,
        store: Store,
    ) -> Result<HttpPhone, String> {
        // A pooled connection idle for long may be one the server has just closed (its
        // keep-alive wait is the header timeout, 3 s in tests/suites/hostile.sh): a phone
        // that worked offline for a while connects afresh.
        let http = crate::http_builder()
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .map_err(err)?;
        let r = http
            .post(format!("{base}/api/v1/login"))
            .json(&serde_json::json!({"login": login, "password": password, "device_id": device}))
            .send()
            .await
            .map_err(err)?;
        if !r.status().is_success() {
            return Err(format!("login {login}: {}", r.status()));
        }
        let body: serde_json::Value = r.json().await.map_err(err)?;
        let token = body["token"].as_str().ok_or("no token")?.to_owned();
        let me = &body["me"];
        if me["role"] != "crew" {
            return Err(format!("{login} is not a crew member"));
        }
        let actor = Actor {
            user: me["user_id"].as_str().ok_or("no user id")?.to_owned(),
            role: Role::Crew,
            crew: me["crew"].as_str().map(str::to_owned),
            device: DeviceId::new(device).map_err(err)?,
        };
        Ok(HttpPhone {
            dev: Device::new(store, actor),
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// Syncs: exchanges until the server says `CaughtUp` (an answer holds a bounded part
    /// of a long catch-up; the device comes back for the rest). Returns the device's
    /// events.
    pub async fn sync(&mut self) -> Result<Vec<DeviceEvent>, String> {
        let mut events = Vec::new();
        for _ in 0..10_000 {
            let more = self.exchange().await?;
            let done = more.contains(&DeviceEvent::CaughtUp);
            events.extend(more);
            if done {
                break;
            }
        }
        Ok(events)
    }

    /// One exchange: Hello and every pending push out, the server's frames in. Returns
    /// the device's events.
    pub async fn exchange(&mut self) -> Result<Vec<DeviceEvent>, String> {
        let out = self.dev.connect().map_err(err)?;
        let r = self
            .http
            .post(format!("{}/api/v1/sync/exchange", self.base))
            .bearer_auth(&self.token)
            .header("content-type", FRAMES_MEDIA_TYPE)
            .body(encode_frames(&out))
            .send()
            .await
            .map_err(err)?;
        if !r.status().is_success() {
            let s = r.status();
            return Err(format!("sync: {s} {}", r.text().await.unwrap_or_default()));
        }
        let bytes = r.bytes().await.map_err(err)?;
        let mut events = Vec::new();
        for frame in decode_frames(&bytes).map_err(err)? {
            events.extend(self.dev.on_frame(frame).map_err(err)?.events);
        }
        self.dev.disconnect();
        Ok(events)
    }

    /// The ids of the tasks the phone holds.
    pub fn tasks(&self) -> Result<Vec<String>, String> {
        Ok(self
            .dev
            .list()
            .map_err(err)?
            .into_iter()
            .map(|e| e.id.to_string())
            .collect())
    }

    /// The status of `task` as the phone folds it, if it holds the task.
    pub fn status(&self, task: &str) -> Result<Option<Status>, String> {
        let id = DocId::new(task).map_err(err)?;
        match self.dev.store().get(&id).map_err(err)? {
            None => Ok(None),
            Some(b) => Ok(Some(
                TaskDoc::load(&b)
                    .map_err(err)?
                    .view()
                    .map_err(err)?
                    .derived
                    .status,
            )),
        }
    }

    /// Does the job again and completes it: starts work, adds `jpeg` as an after photo,
    /// completes naming it, syncs (the server acknowledges), then uploads the photo.
    /// Returns the photo's hash.
    pub async fn complete_with_photo(&mut self, task: &str, jpeg: &[u8]) -> Result<String, String> {
        let id = DocId::new(task).map_err(err)?;
        let now = server::base::time::now_millis();
        let status = self
            .status(task)?
            .ok_or("the phone does not hold the task")?;
        if status != Status::InProgress {
            self.dev
                .edit(&id, now, |doc, actor| {
                    doc.append_event(actor, now, EventKind::Started)
                })
                .map_err(err)?;
        }
        let photo = NewPhoto {
            kind: PhotoKind::After,
            mime: "image/jpeg".into(),
            taken_at: Some(now),
            taken_point: None,
        };
        let hash = self.dev.add_photo(&id, photo, jpeg, now).map_err(err)?;
        self.dev
            .complete(&id, vec![hash.clone()], now)
            .map_err(err)?;
        let events = self.sync().await?;
        if !events
            .iter()
            .any(|e| matches!(e, DeviceEvent::Acknowledged(d) if d == &id))
        {
            return Err(format!("the completion was not acknowledged: {events:?}"));
        }
        self.upload(task, &hash, jpeg).await?;
        Ok(hash)
    }

    /// Uploads a photo whole through tus (create, one PATCH).
    pub async fn upload(&self, task: &str, hash: &str, bytes: &[u8]) -> Result<(), String> {
        debug_assert_eq!(content_hash(bytes), hash);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let meta = format!(
            "sha256 {},task {},filetype {},kind {}",
            b64(hash),
            b64(task),
            b64("image/jpeg"),
            b64("after")
        );
        let r = self
            .http
            .post(format!("{}/api/v1/photos/uploads", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", bytes.len().to_string())
            .header("Upload-Metadata", meta)
            .send()
            .await
            .map_err(err)?;
        if !r.status().is_success() {
            return Err(format!("upload create: {}", r.status()));
        }
        let r = self
            .http
            .patch(format!("{}/api/v1/photos/uploads/{hash}", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(err)?;
        if !r.status().is_success() {
            return Err(format!("upload patch: {}", r.status()));
        }
        Ok(())
    }
}
