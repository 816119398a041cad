//! A crew's phone in one shot, for the browser test: logs in as a crew member, syncs
//! once as a real `sync_core::session::Device` (HTTP fallback transport), and prints the
//! ids of the tasks the device holds as JSON.
//!
//! ```sh
//! cargo run -p server --example phone_probe -- http://127.0.0.1:8137 crew-d01-a demo-crew [store-dir]
//! ```
//!
//! With `store-dir`, the device's redb store is kept there, so a second run is the same
//! phone syncing again (it then also loses tasks that left its crew).

use anyhow::{Context, bail};
use server::domain::sync::{decode_frames, encode_frames};
use sync_core::session::device::Device;
use sync_core::store::Store;
use sync_core::{Actor, DeviceId, Role};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, login, password, rest @ ..] = args.as_slice() else {
        bail!("usage: phone_probe <base-url> <login> <password> [store-dir]");
    };
    let device_id = format!("probe-{login}");
    let http = tarmim_testing::http();
    let r = http
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"login": login, "password": password, "device_id": device_id}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("login failed: {} {}", r.status(), r.text().await?);
    }
    let body: serde_json::Value = r.json().await?;
    let token = body["token"].as_str().context("no token")?.to_owned();
    let me = &body["me"];
    if me["role"] != "crew" {
        bail!("{login} is not a crew member");
    }
    let actor = Actor {
        user: me["user_id"].as_str().context("no user id")?.to_owned(),
        role: Role::Crew,
        crew: me["crew"].as_str().map(str::to_owned),
        device: DeviceId::new(device_id)?,
    };
    let store = match rest.first() {
        Some(dir) => Store::open(std::path::Path::new(dir))?,
        None => Store::open_in_memory()?,
    };
    let mut dev = Device::new(store, actor);
    let hello = dev.connect()?;
    let r = http
        .post(format!("{base}/api/v1/sync/exchange"))
        .bearer_auth(&token)
        .header("content-type", "application/x-tarmim-frames")
        .body(encode_frames(&hello))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("sync failed: {} {}", r.status(), r.text().await?);
    }
    let bytes = r.bytes().await?;
    for frame in decode_frames(&bytes).map_err(|e| anyhow::anyhow!("{e}"))? {
        dev.on_frame(frame)?;
    }
    dev.disconnect();
    let tasks: Vec<String> = dev.list()?.into_iter().map(|e| e.id.to_string()).collect();
    println!(
        "{}",
        serde_json::json!({"login": login, "crew": me["crew"], "tasks": tasks})
    );
    Ok(())
}
