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
//!
//! For `tests/suites/hostile.sh` (issue 16): `--file LAT,LON` (repeatable) files an
//! urgent pothole as a field report at that point and syncs until the server
//! acknowledged it (the JSON then lists the ids under `"filed"`); `--notes TASK,COUNT`
//! adds COUNT notes of 4000 random characters (16 KB each) to TASK and pushes them, so
//! that every other device of the crew is sent them.

use anyhow::{Context, bail};
use sync_core::DocId;
use sync_core::session::device::DeviceEvent;
use sync_core::store::Store;
use sync_core::task::{FieldReport, GeoPoint, Priority};
use tarmim_testing::phone::HttpPhone;

/// Takes every `flag VALUE` pair out of `args`.
fn take_all(args: &mut Vec<String>, flag: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    while let Some(i) = args.iter().position(|a| a == flag) {
        let value = args
            .get(i + 1)
            .with_context(|| format!("{flag} needs a value"))?
            .clone();
        args.drain(i..=i + 1);
        out.push(value);
    }
    Ok(out)
}

/// `A,B` split at its comma.
fn pair(v: &str) -> anyhow::Result<(&str, &str)> {
    v.split_once(',')
        .with_context(|| format!("expected two values separated by a comma: {v:?}"))
}

/// 4000 characters (the longest note) drawn at random from a block of 4-byte UTF-8
/// characters: 16 KB that no compression shrinks.
fn noise_note() -> String {
    (0..4000)
        .map(|_| char::from_u32(0x1_F300 + rand::random::<u32>() % 0x200).unwrap_or('x'))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let complete = take_all(&mut args, "--complete")?.pop();
    let file = take_all(&mut args, "--file")?;
    let notes = take_all(&mut args, "--notes")?;
    let [base, login, password, rest @ ..] = args.as_slice() else {
        bail!(
            "usage: phone_probe <base-url> <login> <password> [store-dir] [--complete TASK] \
             [--file LAT,LON]… [--notes TASK,COUNT]…"
        );
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
    let now = server::base::time::now_millis();
    let mut filed = Vec::new();
    for point in &file {
        let (lat, lon) = pair(point)?;
        let report = FieldReport {
            category: "pothole".into(),
            title: "Pothole found on the way (hostile.sh)".into(),
            description: String::new(),
            point: GeoPoint {
                lat: lat.parse()?,
                lon: lon.parse()?,
                accuracy_m: Some(5.0),
            },
            address: None,
            district: None,
            priority: Priority::Urgent,
        };
        filed.push(phone.dev.report_field_work(report, now)?);
    }
    for spec in &notes {
        let (task, count) = pair(spec)?;
        let id = DocId::new(task)?;
        let texts: Vec<String> = (0..count.parse::<usize>()?).map(|_| noise_note()).collect();
        // One edit (one save of the document on the phone), a change per note.
        phone.dev.edit(&id, now, |doc, actor| {
            texts
                .iter()
                .try_for_each(|t| doc.add_note(actor, now, t).map(drop))
        })?;
    }
    if !filed.is_empty() || !notes.is_empty() {
        let t0 = std::time::Instant::now();
        let events = phone.sync().await.map_err(anyhow::Error::msg)?;
        eprintln!("phone_probe: edits made, synced in {:?}", t0.elapsed());
        for id in &filed {
            let acked = events
                .iter()
                .any(|e| matches!(e, DeviceEvent::Acknowledged(d) if d == id));
            if !acked {
                bail!("the server did not acknowledge the field report {id}: {events:?}");
            }
        }
        let pending = phone.dev.pending_count()?;
        if pending != 0 {
            bail!("{pending} change(s) not acknowledged: {events:?}");
        }
    }
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
        serde_json::json!({"login": login, "crew": crew, "tasks": tasks, "statuses": statuses,
            "filed": filed.iter().map(DocId::as_str).collect::<Vec<_>>()})
    );
    Ok(())
}
