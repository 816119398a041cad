//! A crew's phone in one shot, for the browser tests: logs in as a crew member, syncs
//! once as a real `sync_core::session::Device` (HTTP fallback transport, through
//! `tarmim_testing::phone`), and prints the tasks the device holds and their statuses as
//! JSON: `{"login", "crew", "tasks": [id…], "statuses": {id: status}}`.
//!
//! ```sh
//! cargo run -p server --example phone_probe -- http://127.0.0.1:8137 crew-d01-a demo-crew [store-dir] [--complete T-…]
//! ```
//!
//! With `store-dir`, the device's redb store is kept there, so a second run is the same
//! phone syncing again (it then also loses tasks that left its crew). With
//! `--complete TASK`, the phone then does the job again: starts it, adds a drawn after
//! photo, completes, syncs (the server acknowledges) and uploads the photo.

use anyhow::{Context, bail};
use sync_core::store::Store;
use tarmim_testing::phone::HttpPhone;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let complete = match args.iter().position(|a| a == "--complete") {
        Some(i) => {
            let task = args
                .get(i + 1)
                .context("--complete needs a task id")?
                .clone();
            args.drain(i..=i + 1);
            Some(task)
        }
        None => None,
    };
    let [base, login, password, rest @ ..] = args.as_slice() else {
        bail!("usage: phone_probe <base-url> <login> <password> [store-dir] [--complete TASK]");
    };
    let store = match rest.first() {
        Some(dir) => Store::open(std::path::Path::new(dir))?,
        None => Store::open_in_memory()?,
    };
    let device = format!("probe-{login}");
    let mut phone = HttpPhone::login(base, login, password, &device, store)
        .await
        .map_err(anyhow::Error::msg)?;
    phone.sync().await.map_err(anyhow::Error::msg)?;
    if let Some(task) = &complete {
        let seed = u32::try_from(server::base::time::now_millis() % 10_000).unwrap_or(1);
        let jpeg = server::demo::road_photo(seed, false, true);
        phone
            .complete_with_photo(task, &jpeg)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let tasks = phone.tasks().map_err(anyhow::Error::msg)?;
    let mut statuses = serde_json::Map::new();
    for t in &tasks {
        if let Some(s) = phone.status(t).map_err(anyhow::Error::msg)? {
            statuses.insert(t.clone(), s.as_str().into());
        }
    }
    let crew = phone.dev.actor().crew.clone();
    println!(
        "{}",
        serde_json::json!({"login": login, "crew": crew, "tasks": tasks, "statuses": statuses})
    );
    Ok(())
}
