//! The demo city: what an empty database is seeded with on first start (and what
//! `tarmim-server demo` adds on demand).
//!
//! - 12 synthetic districts, a 4 × 3 grid of cells around Tehran's centre (35.69 N,
//!   51.39 E), in 3 regions (one row each); `D12` is a MultiPolygon with a small exclave.
//!   They go through the same GeoJSON import as real districts.
//! - Open311-like services (pothole, garbage, streetlight, ...).
//! - 2–3 crews per district with skills, some on duty, some contractors, one member each.
//! - One user per role. **Demo passwords are public by design** (see [`DEMO_LOGINS`]);
//!   they are printed once when the city is seeded.
//! - A few hundred tasks in every state, built with the sync-core `TaskDoc` API and
//!   committed through the server's store like any other document.

pub mod history;

use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::domain::geo::{GeoError, PropertyNames, parse_geojson};
use crate::domain::identity::{UserRole, hash_password};
use crate::storage::{Crew, Db, DbError, DistrictStore, IdentityStore, NewUser, Service};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DeviceId, DocId, Millis, Role};

/// The demo logins and their (public) passwords: `(login, password, role)`.
/// Crew members are `crew-<crew id in lower case>`, all with [`DEMO_CREW_PASSWORD`].
pub const DEMO_LOGINS: &[(&str, &str, &str)] = &[
    ("admin", "demo-admin", "admin"),
    (
        "dispatcher-r1",
        "demo-dispatcher",
        "dispatcher (region R1: D01–D04)",
    ),
    (
        "dispatcher-r2",
        "demo-dispatcher",
        "dispatcher (region R2: D05–D08)",
    ),
    (
        "dispatcher-r3",
        "demo-dispatcher",
        "dispatcher (region R3: D09–D12)",
    ),
    ("manager", "demo-manager", "manager (all districts)"),
    ("callcentre", "demo-callcentre", "call_centre"),
];

/// The password of every demo crew member (`crew-d01-a`, `crew-d01-b`, ...).
pub const DEMO_CREW_PASSWORD: &str = "demo-crew";

/// Failures while seeding.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The generated districts did not import.
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// Hashing a password failed.
    #[error("{0}")]
    Auth(String),
    /// Committing a task document failed.
    #[error("committing demo task {doc}: {why}")]
    Commit {
        /// The task.
        doc: String,
        /// Why.
        why: String,
    },
}

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// How many tasks.
    pub tasks: usize,
    /// Random seed (the same seed gives the same city).
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            tasks: 300,
            seed: 7261,
        }
    }
}

/// What was seeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Districts imported.
    pub districts: usize,
    /// Services created.
    pub services: usize,
    /// Crews created.
    pub crews: usize,
    /// Users created.
    pub users: usize,
    /// Tasks committed.
    pub tasks: usize,
    /// Why tasks could not be built, if they could not.
    pub tasks_skipped: Option<String>,
}

const LAT_TOP: f64 = 35.735;
const LON_LEFT: f64 = 51.32;
const CELL_LAT: f64 = 0.03;
const CELL_LON: f64 = 0.035;
const COLS: usize = 4;
const ROWS: usize = 3;
const NAMES: [&str; 12] = [
    "Tajrish",
    "Niavaran",
    "Pasdaran",
    "Tehranpars",
    "Saadat Abad",
    "Yusef Abad",
    "Haft-e Tir",
    "Narmak",
    "Azadi",
    "Enghelab",
    "Imam Ali",
    "Shahr-e Rey",
];

fn cell(row: usize, col: usize) -> (f64, f64, f64, f64) {
    let top = LAT_TOP - CELL_LAT * row as f64;
    let bottom = LAT_TOP - CELL_LAT * (row + 1) as f64;
    let left = LON_LEFT + CELL_LON * col as f64;
    let right = LON_LEFT + CELL_LON * (col + 1) as f64;
    (left, bottom, right, top)
}

fn ring(left: f64, bottom: f64, right: f64, top: f64) -> serde_json::Value {
    json!([[
        [left, bottom],
        [right, bottom],
        [right, top],
        [left, top],
        [left, bottom]
    ]])
}

/// The demo districts as a GeoJSON FeatureCollection (properties `code`, `name`, `region`).
pub fn demo_districts_geojson() -> String {
    let mut features = Vec::new();
    for row in 0..ROWS {
        for col in 0..COLS {
            let n = row * COLS + col + 1;
            let (l, b, r, t) = cell(row, col);
            let geometry = if n == 12 {
                json!({"type": "MultiPolygon", "coordinates": [
                    ring(l, b, r, t),
                    ring(51.40, 35.630, 51.41, 35.640),
                ]})
            } else {
                json!({"type": "Polygon", "coordinates": ring(l, b, r, t)})
            };
            features.push(json!({
                "type": "Feature",
                "properties": {"code": format!("D{n:02}"), "name": NAMES[n - 1], "region": format!("R{}", row + 1)},
                "geometry": geometry,
            }));
        }
    }
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// The demo services.
pub fn demo_services() -> Vec<Service> {
    let s = |code: &str, name: &str, group: &str, p: Priority, ack: i64, done: i64| Service {
        code: code.into(),
        name: name.into(),
        description: format!("{name} (demo service)"),
        group: group.into(),
        default_priority: p,
        ack_minutes: Some(ack),
        complete_minutes: Some(done),
    };
    vec![
        s("pothole", "Pothole", "streets", Priority::Normal, 240, 4320),
        s(
            "garbage",
            "Uncollected garbage",
            "sanitation",
            Priority::Normal,
            120,
            1440,
        ),
        s(
            "streetlight",
            "Broken street light",
            "lighting",
            Priority::Low,
            480,
            7200,
        ),
        s(
            "graffiti",
            "Graffiti",
            "sanitation",
            Priority::Low,
            1440,
            10080,
        ),
        s(
            "violation",
            "Building violation",
            "enforcement",
            Priority::Normal,
            1440,
            20160,
        ),
        s(
            "tree",
            "Fallen or dangerous tree",
            "parks",
            Priority::High,
            60,
            1440,
        ),
        s(
            "water_leak",
            "Water leak",
            "utilities",
            Priority::Urgent,
            15,
            240,
        ),
        s(
            "traffic_signal",
            "Traffic signal fault",
            "streets",
            Priority::Urgent,
            15,
            180,
        ),
    ]
}

/// Seeds the demo city if the database has no users and no districts.
pub async fn seed_if_empty(db: &Db, config: &Config) -> Result<Option<DemoSummary>, DemoError> {
    if db.count_users().await? > 0 || !db.districts().await?.is_empty() {
        return Ok(None);
    }
    tracing::info!("empty database: seeding the demo city");
    let summary = seed(db, DemoOptions::default()).await?;
    // The tracking page's showcase: real photos, tracking codes (printed below).
    match crate::domain::photo::Photos::from_config(config) {
        Ok(photos) => {
            if let Err(e) = seed_tracking_showcase(db, &photos, config).await {
                tracing::warn!(error = %e, "demo tracking showcase not seeded");
            }
        }
        Err(e) => tracing::warn!(error = %e, "demo tracking showcase not seeded: photo storage"),
    }
    // Past-dated, closed tasks over the last 60 days, so the managers' charts have a
    // history (analytics::generate).
    match crate::demo::history::seed_history(db, 400, 60, 7261, now_millis()).await {
        Ok(n) => tracing::info!(tasks = n, "demo history seeded"),
        Err(e) => tracing::warn!(error = %e, "demo history not seeded"),
    }
    Ok(Some(summary))
}

/// Seeds the demo city (districts, services, crews, users, tasks).
pub async fn seed(db: &Db, opts: DemoOptions) -> Result<DemoSummary, DemoError> {
    let mut summary = DemoSummary::default();
    let props = PropertyNames {
        code: "code".into(),
        name: "name".into(),
        region: Some("region".into()),
    };
    let districts = parse_geojson(&demo_districts_geojson(), &props)?;
    summary.districts = db.import_districts(&districts).await?.districts;

    let services = demo_services();
    for s in &services {
        db.upsert_service(s).await?;
    }
    summary.services = services.len();
    crate::domain::open311::seed_demo(db).await?;

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let contractors = ["Pars Asphalt Co.", "Green City Services"];
    let mut crews = Vec::new();
    for d in 1..=ROWS * COLS {
        let n = if d % 3 == 0 { 3 } else { 2 };
        for k in 0..n {
            let letter = (b'A' + k as u8) as char;
            let mut skills: Vec<String> = services
                .iter()
                .filter(|_| rng.random_bool(0.5))
                .map(|s| s.code.clone())
                .collect();
            if skills.is_empty() {
                skills.push("pothole".into());
            }
            crews.push(Crew {
                id: format!("C-D{d:02}-{letter}"),
                name: format!("{} crew {letter}", NAMES[d - 1]),
                district: format!("D{d:02}"),
                skills,
                contractor: (k == 2).then(|| contractors[d % 2].to_owned()),
                on_duty: k == 0 || rng.random_bool(0.4),
            });
        }
    }
    for c in &crews {
        db.upsert_crew(c).await?;
    }
    summary.crews = crews.len();

    // Hash each distinct demo password once (argon2 is deliberately slow).
    let hash = |pw: &'static str| async move {
        tokio::task::spawn_blocking(move || hash_password(pw))
            .await
            .map_err(|e| DemoError::Auth(e.to_string()))?
            .map_err(|e| DemoError::Auth(e.to_string()))
    };
    let all_districts: Vec<String> = (1..=12).map(|d| format!("D{d:02}")).collect();
    let region = |r: usize| -> Vec<String> {
        ((r - 1) * COLS + 1..=r * COLS)
            .map(|d| format!("D{d:02}"))
            .collect()
    };
    let mut users = vec![
        (
            "admin",
            hash("demo-admin").await?,
            UserRole::Admin,
            None,
            vec![],
        ),
        (
            "manager",
            hash("demo-manager").await?,
            UserRole::Manager,
            None,
            all_districts,
        ),
        (
            "callcentre",
            hash("demo-callcentre").await?,
            UserRole::CallCentre,
            None,
            vec![],
        ),
    ];
    let dispatcher_hash = hash("demo-dispatcher").await?;
    for (r, login) in [
        (1, "dispatcher-r1"),
        (2, "dispatcher-r2"),
        (3, "dispatcher-r3"),
    ] {
        users.push((
            login,
            dispatcher_hash.clone(),
            UserRole::Dispatcher,
            None,
            region(r),
        ));
    }
    let crew_hash = hash(DEMO_CREW_PASSWORD).await?;
    let crew_logins: Vec<(String, String)> = crews
        .iter()
        .map(|c| {
            (
                format!("crew-{}", c.id.to_lowercase().trim_start_matches("c-")),
                c.id.clone(),
            )
        })
        .collect();
    for (login, hash_, role, crew, districts) in users {
        db.create_user(&NewUser {
            id: format!("u-{login}"),
            login: login.to_owned(),
            password_hash: hash_,
            role,
            crew,
            districts,
        })
        .await?;
        summary.users += 1;
    }
    for (login, crew) in &crew_logins {
        db.create_user(&NewUser {
            id: format!("u-{login}"),
            login: login.clone(),
            password_hash: crew_hash.clone(),
            role: UserRole::Crew,
            crew: Some(crew.clone()),
            districts: vec![],
        })
        .await?;
        summary.users += 1;
    }

    // Tasks: built off the async runtime (CPU work), then committed one by one.
    let now = now_millis();
    let crews_for_tasks = crews.clone();
    let seed = opts.seed;
    let n_tasks = opts.tasks;
    let built = tokio::task::spawn_blocking(move || {
        build_tasks(n_tasks, seed, now, &crews_for_tasks, &demo_services())
    })
    .await;
    match built {
        Ok(commits) => {
            for c in commits {
                let doc = c.doc.to_string();
                db.commit(c).await.map_err(|e| DemoError::Commit {
                    doc,
                    why: e.to_string(),
                })?;
                summary.tasks += 1;
            }
        }
        Err(e) => {
            let why = if e.is_panic() {
                "sync-core's TaskDoc is not available in this build (it panicked)".to_owned()
            } else {
                e.to_string()
            };
            tracing::warn!(%why, "demo city seeded without tasks");
            summary.tasks_skipped = Some(why);
        }
    }

    tracing::info!(
        districts = summary.districts,
        services = summary.services,
        crews = summary.crews,
        users = summary.users,
        tasks = summary.tasks,
        "demo city seeded"
    );
    // Demo passwords are public by design; print them once, at seed time.
    for (login, password, role) in DEMO_LOGINS {
        tracing::info!("demo login: {login} / {password} ({role})");
    }
    if let Some((first, _)) = crew_logins.first() {
        tracing::info!(
            "demo crew logins: {first} … (one per crew, crew-<district>-<letter>) / {DEMO_CREW_PASSWORD}"
        );
    }
    Ok(summary)
}

/// How far along its life a demo task is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    New,
    Queued,
    Assigned,
    Acknowledged,
    InProgress,
    Paused,
    Completed,
    Verified,
    Reopened,
    Cancelled,
}

fn pick_target(rng: &mut StdRng) -> Target {
    const TABLE: [(Target, u32); 10] = [
        (Target::New, 4),
        (Target::Queued, 12),
        (Target::Assigned, 12),
        (Target::Acknowledged, 10),
        (Target::InProgress, 10),
        (Target::Paused, 4),
        (Target::Completed, 16),
        (Target::Verified, 18),
        (Target::Reopened, 6),
        (Target::Cancelled, 8),
    ];
    let total: u32 = TABLE.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (t, w) in TABLE {
        if x < w {
            return t;
        }
        x -= w;
    }
    Target::Queued
}

fn photo(task: &DocId, kind: PhotoKind, actor: &Actor, at: Millis, point: GeoPoint) -> PhotoRef {
    let hash = hex::encode(Sha256::digest(
        format!("demo-photo/{task}/{kind:?}").as_bytes(),
    ));
    PhotoRef {
        hash,
        kind,
        taken_at: Some(at),
        taken_point: Some(point),
        author: actor.user.clone(),
        device: actor.device.to_string(),
        bytes: 180_000,
        mime: "image/jpeg".into(),
        added_at: at,
    }
}

fn device(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap_or_else(|_| DeviceId::new("demo").unwrap_or_else(|_| unreachable!()))
}

/// Builds the demo task documents and their commits. Runs on a blocking thread.
fn build_tasks(
    n: usize,
    seed: u64,
    now: Millis,
    crews: &[Crew],
    services: &[Service],
) -> Vec<DocCommit> {
    const MIN: Millis = 60_000;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7a5c);
    let server = Actor::server(device("server-demo"));
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let d = rng.random_range(1..=ROWS * COLS);
        let code = format!("D{d:02}");
        let (l, b, r, t) = cell((d - 1) / COLS, (d - 1) % COLS);
        let point = GeoPoint {
            lat: b + (t - b) * rng.random_range(0.05..0.95),
            lon: l + (r - l) * rng.random_range(0.05..0.95),
            accuracy_m: Some(rng.random_range(3.0..25.0)),
        };
        let Some(service) = services.get(rng.random_range(0..services.len())) else {
            continue;
        };
        let district_crews: Vec<&Crew> = crews.iter().filter(|c| c.district == code).collect();
        let Some(crew) = district_crews.get(rng.random_range(0..district_crews.len().max(1)))
        else {
            continue;
        };
        let region = (d - 1) / COLS + 1;
        let dispatcher = Actor {
            user: format!("u-dispatcher-r{region}"),
            role: Role::Dispatcher,
            crew: None,
            device: device(&format!("console-dispatcher-r{region}")),
        };
        let crew_login = format!("crew-{}", crew.id.to_lowercase().trim_start_matches("c-"));
        let crew_actor = Actor {
            user: format!("u-{crew_login}"),
            role: Role::Crew,
            crew: Some(crew.id.clone()),
            device: device(&format!("phone-{crew_login}")),
        };
        let by_phone = rng.random_bool(0.3);
        // A citizen's report is created by the server on the citizen's behalf (Open311);
        // the citizen acts on it later (reopen, rate) through the tracking code.
        let citizen = Actor {
            user: format!("citizen-{i}"),
            role: Role::Citizen,
            crew: None,
            device: device("web-tracking"),
        };
        let creator = if by_phone {
            Actor {
                user: "u-callcentre".into(),
                role: Role::CallCentre,
                crew: None,
                device: device("console-callcentre"),
            }
        } else {
            server.clone()
        };
        let created = now - rng.random_range(60 * MIN..14 * 24 * 60 * MIN);
        let priority = if rng.random_bool(0.08) {
            Priority::Urgent
        } else {
            service.default_priority
        };
        let Ok(id) = DocId::new(format!("T-{:05}", i + 1)) else {
            continue;
        };
        let new = NewTask {
            id: id.clone(),
            source: if by_phone {
                Source::CallCentre
            } else {
                Source::Citizen
            },
            category: service.code.clone(),
            title: format!("{} in {}", service.name, NAMES[d - 1]),
            description: format!("Demo report #{} ({}).", i + 1, service.name.to_lowercase()),
            point,
            address: Some(format!(
                "{} St. {}, {}",
                NAMES[d - 1],
                rng.random_range(1..200),
                code
            )),
            district: None,
            priority,
            sla: Sla {
                ack_due: service.ack_minutes.map(|m| created + m * MIN),
                complete_due: service.complete_minutes.map(|m| created + m * MIN),
            },
            reopen_window_ms: 7 * 24 * 60 * MIN,
        };
        let target = pick_target(&mut rng);
        let mut doc = match TaskDoc::create(new, &creator, created) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "demo task not created");
                continue;
            }
        };
        let mut at = created;
        let mut step = |rng: &mut StdRng| {
            at += rng.random_range(2 * MIN..90 * MIN);
            at
        };
        // Each step stops the task's story at the first refusal: the task is still
        // committed as far as it got.
        let story = (|| -> Result<(), sync_core::task::TaskError> {
            if target == Target::New {
                return Ok(());
            }
            doc.append_event(
                &server,
                step(&mut rng),
                EventKind::Routed {
                    district: code.clone(),
                },
            )?;
            if target == Target::Queued {
                return Ok(());
            }
            if target == Target::Cancelled {
                if rng.random_bool(0.5) {
                    doc.append_event(
                        &dispatcher,
                        step(&mut rng),
                        EventKind::Assigned {
                            crew: crew.id.clone(),
                            reason: "demo: dispatcher's choice".into(),
                        },
                    )?;
                }
                doc.append_event(
                    &dispatcher,
                    step(&mut rng),
                    EventKind::Cancelled {
                        reason: "demo: not a city matter".into(),
                    },
                )?;
                return Ok(());
            }
            doc.append_event(
                &dispatcher,
                step(&mut rng),
                EventKind::Assigned {
                    crew: crew.id.clone(),
                    reason: "demo: nearest on-duty crew with the skill".into(),
                },
            )?;
            if target == Target::Assigned {
                return Ok(());
            }
            doc.append_event(&crew_actor, step(&mut rng), EventKind::Acknowledged)?;
            if target == Target::Acknowledged {
                return Ok(());
            }
            let t = step(&mut rng);
            doc.add_photo(
                &crew_actor,
                photo(&id, PhotoKind::Before, &crew_actor, t, point),
            )?;
            doc.append_event(&crew_actor, t, EventKind::Started)?;
            if target == Target::InProgress {
                return Ok(());
            }
            if target == Target::Paused {
                doc.append_event(
                    &crew_actor,
                    step(&mut rng),
                    EventKind::Paused {
                        reason: "demo: waiting for material".into(),
                    },
                )?;
                return Ok(());
            }
            let t = step(&mut rng);
            let after = photo(&id, PhotoKind::After, &crew_actor, t, point);
            let hash = after.hash.clone();
            doc.add_photo(&crew_actor, after)?;
            doc.append_event(&crew_actor, t, EventKind::Completed { photos: vec![hash] })?;
            doc.add_note(&crew_actor, t, "Fixed. (demo)")?;
            match target {
                Target::Verified => {
                    doc.append_event(&dispatcher, step(&mut rng), EventKind::Verified)?;
                }
                Target::Reopened => {
                    doc.append_event(
                        &citizen,
                        step(&mut rng),
                        EventKind::Reopened {
                            reason: "demo: still broken".into(),
                        },
                    )?;
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = story {
            tracing::warn!(task = %id, ?target, error = %e, "demo task stopped early");
        }
        let view = match doc.view() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "demo task unreadable");
                continue;
            }
        };
        let scopes = TaskScopes.scopes_of(&view);
        let changes = doc
            .automerge()
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        out.push(DocCommit {
            doc: id,
            base_seq: None,
            changes,
            snapshot: doc.save(),
            view,
            scopes,
            origin: server.device.clone(),
        });
    }
    out
}

// ------------------------------------------------------------------ tracking showcase

/// Ids of the tracking page's showcase tasks (all in `D01`, region R1): completed with
/// real before/after photos; reopened by its citizen ("not fixed", with a photo); merged
/// into the completed one.
pub const SHOWCASE_TASKS: [&str; 3] = ["T-90001", "T-90002", "T-90003"];

/// A demo road photo, 800 × 600 JPEG, drawn here so the demo needs no files: grey
/// asphalt with a kerb and a dashed lane line; `pothole` draws a dark hole, `patch` a
/// fresh rectangle of asphalt over it (a `pothole` too = the hole came back). `seed`
/// varies the texture and the hole's shape, so every photo is a distinct blob.
pub fn road_photo(seed: u32, pothole: bool, patch: bool) -> Vec<u8> {
    const W: u32 = 800;
    const H: u32 = 600;
    let noise = |x: u32, y: u32, k: u32| -> i32 {
        let mut h = x
            .wrapping_mul(374_761_393)
            .wrapping_add(y.wrapping_mul(668_265_263))
            .wrapping_add(k.wrapping_mul(2_246_822_519));
        h = (h ^ (h >> 13)).wrapping_mul(1_274_126_177);
        ((h ^ (h >> 16)) & 0xff) as i32
    };
    let (cx, cy) = (
        400.0 + (seed % 7) as f64 * 6.0,
        300.0 + (seed % 5) as f64 * 4.0,
    );
    let wobble = (seed % 3) as f64 * 0.4 + 1.0;
    let img = image::RgbImage::from_fn(W, H, |x, y| {
        let fine = noise(x, y, seed) / 12 - 10;
        let coarse = noise(x / 6, y / 6, seed + 1) / 10 - 12;
        let mut v = 104 + fine + coarse;
        let mut tint = (0i32, 0i32, 3i32);
        if y < 70 {
            // The kerb: pale concrete.
            v = 176 + fine / 2;
            tint = (4, 2, -4);
        } else if y < 80 {
            v = 60;
        }
        // A dashed lane line, slightly worn.
        if (470..484).contains(&y) && (x / 70) % 2 == 0 && noise(x, y, seed + 2) > 30 {
            v = 222 + fine / 3;
            tint = (6, 4, -18);
        }
        let dx = (f64::from(x) - cx) / 190.0;
        let dy = (f64::from(y) - cy) / 105.0;
        let angle = dy.atan2(dx);
        let r = (dx * dx + dy * dy).sqrt();
        let edge = 1.0 + 0.12 * (angle * 3.0 * wobble).sin() + 0.07 * (angle * 7.0).cos();
        if patch && (210..=590).contains(&x) && (190..=410).contains(&y) {
            // Fresh asphalt: darker, smoother, with a lighter sealed seam.
            let seam = !(216..=584).contains(&x) || !(196..=404).contains(&y);
            v = if seam { 128 } else { 62 + fine / 3 };
            tint = (0, 0, 2);
            if pothole && r < edge * 0.45 {
                // The hole came back in the middle of the patch.
                v = if r > edge * 0.38 { 84 } else { 30 + fine / 2 };
            }
        } else if pothole && r < edge {
            if r > edge * 0.86 {
                // A crumbly rim.
                v = 74 + fine;
            } else {
                v = 34 + fine / 2;
                if r < edge * 0.45 && dy > 0.0 {
                    // Standing water.
                    v = 58 + fine / 4;
                    tint = (-6, 0, 12);
                }
            }
        }
        let c = |d: i32| (v + d).clamp(0, 255) as u8;
        image::Rgb([c(tint.0), c(tint.1), c(tint.2)])
    });
    let mut out = Vec::new();
    let encoded =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img);
    if let Err(e) = encoded {
        tracing::warn!(error = %e, "demo photo not encoded");
    }
    out
}

/// Seeds the tracking page's showcase ([`SHOWCASE_TASKS`]): the photos go through the
/// photo pipeline (so their public derivatives exist), each task gets a reporter's
/// tracking code, and the codes are printed (dispatchers also see them in the console's
/// task detail). Returns `(task, code as shown)`.
pub async fn seed_tracking_showcase(
    db: &Db,
    photos: &crate::domain::photo::Photos,
    config: &Config,
) -> Result<Vec<(String, String)>, DemoError> {
    use crate::domain::citizen::{track, tracking};
    use crate::domain::photo::ingest;
    const HOUR: Millis = 60 * 60 * 1000;
    let now = now_millis();
    let server = Actor::server(device("server-demo"));
    let dispatcher = Actor {
        user: "u-dispatcher-r1".into(),
        role: Role::Dispatcher,
        crew: None,
        device: device("console-dispatcher-r1"),
    };
    let crew = Actor {
        user: "u-crew-d01-a".into(),
        role: Role::Crew,
        crew: Some("C-D01-A".into()),
        device: device("phone-crew-d01-a"),
    };
    let commit_err = |doc: &str, e: &dyn std::fmt::Display| DemoError::Commit {
        doc: doc.to_owned(),
        why: e.to_string(),
    };
    let mut out = Vec::new();
    let stories: [(&str, &str, &str, f64, f64); 3] = [
        (
            SHOWCASE_TASKS[0],
            "Deep pothole on Shariati Street",
            "A deep pothole in the right lane, in front of the bakery; cars swerve around it.",
            35.7212,
            51.3361,
        ),
        (
            SHOWCASE_TASKS[1],
            "Pothole at the Tajrish square bus stop",
            "The road is broken where the buses stop; water collects in it.",
            35.7238,
            51.3442,
        ),
        (
            SHOWCASE_TASKS[2],
            "Big hole in the road on Shariati",
            "Same street, near the bakery: a hole in the asphalt.",
            35.7213,
            51.3363,
        ),
    ];
    for (k, (id, title, description, lat, lon)) in stories.into_iter().enumerate() {
        let task = DocId::new(id).map_err(|e| commit_err(id, &e))?;
        let code = tracking::issue(db, &task, tracking::Role::Reporter).await?;
        let citizen = track::citizen_actor(&code.code);
        let point = GeoPoint {
            lat,
            lon,
            accuracy_m: Some(6.0),
        };
        let created = now - (72 + 24 * k as Millis) * HOUR;
        let new = NewTask {
            id: task.clone(),
            source: Source::Citizen,
            category: "pothole".into(),
            title: title.into(),
            description: description.into(),
            point,
            address: Some("Shariati St., Tajrish, D01".into()),
            district: None,
            priority: Priority::High,
            sla: Sla {
                ack_due: Some(created + 4 * HOUR),
                complete_due: Some(created + 96 * HOUR),
            },
            reopen_window_ms: config.feedback_window_ms(),
        };
        let mut doc = TaskDoc::create(new, &server, created).map_err(|e| commit_err(id, &e))?;
        let photo =
            async |seed: u32, hole: bool, patch: bool, kind: PhotoKind, who: &Actor, at: Millis| {
                let bytes = road_photo(seed, hole, patch);
                let row = ingest::ingest_bytes(
                    db,
                    photos,
                    bytes,
                    id,
                    Some(kind.as_str()),
                    who.device.as_str(),
                )
                .await
                .map_err(|e| commit_err(id, &e))?;
                Ok::<PhotoRef, DemoError>(PhotoRef {
                    hash: row.hash,
                    kind,
                    taken_at: Some(at),
                    taken_point: Some(point),
                    author: who.user.clone(),
                    device: who.device.to_string(),
                    bytes: u64::try_from(row.bytes).unwrap_or(0),
                    mime: row.mime,
                    added_at: at,
                })
            };
        let seed = 11 + k as u32 * 17;
        let story: Result<(), DemoError> = async {
            let step = |h: Millis| created + h * HOUR;
            let te = |e: sync_core::task::TaskError| commit_err(id, &e);
            doc.append_event(
                &server,
                step(0),
                EventKind::Routed {
                    district: "D01".into(),
                },
            )
            .map_err(te)?;
            if k == 2 {
                doc.append_event(
                    &dispatcher,
                    step(1),
                    EventKind::MarkedDuplicate {
                        of: DocId::new(SHOWCASE_TASKS[0]).map_err(|e| commit_err(id, &e))?,
                    },
                )
                .map_err(te)?;
                return Ok::<(), DemoError>(());
            }
            doc.append_event(
                &dispatcher,
                step(1),
                EventKind::Assigned {
                    crew: "C-D01-A".into(),
                    reason: "demo: nearest on-duty crew with the skill".into(),
                },
            )
            .map_err(te)?;
            doc.append_event(&crew, step(2), EventKind::Acknowledged)
                .map_err(te)?;
            let before = photo(seed, true, false, PhotoKind::Before, &crew, step(20)).await?;
            doc.add_photo(&crew, before).map_err(te)?;
            doc.append_event(&crew, step(20), EventKind::Started)
                .map_err(te)?;
            let after = photo(seed + 1, false, true, PhotoKind::After, &crew, step(22)).await?;
            let hash = after.hash.clone();
            doc.add_photo(&crew, after).map_err(te)?;
            // The first one was completed three hours ago: its feedback window is open.
            let done_at = if k == 0 { now - 3 * HOUR } else { step(24) };
            doc.append_event(&crew, done_at, EventKind::Completed { photos: vec![hash] })
                .map_err(te)?;
            doc.add_note(&crew, done_at, "Patched and rolled. (demo)")
                .map_err(te)?;
            if k == 1 {
                let at = now - 20 * HOUR;
                let evidence =
                    photo(seed + 2, true, true, PhotoKind::Evidence, &citizen, at).await?;
                doc.add_photo(
                    &citizen,
                    PhotoRef {
                        taken_at: None,
                        taken_point: None,
                        ..evidence
                    },
                )
                .map_err(te)?;
                doc.append_event(
                    &citizen,
                    at,
                    EventKind::Reopened {
                        reason: "The patch already broke; the hole is back.".into(),
                    },
                )
                .map_err(te)?;
            }
            Ok::<(), DemoError>(())
        }
        .await;
        story?;
        let view = doc.view().map_err(|e| commit_err(id, &e))?;
        let scopes = TaskScopes.scopes_of(&view);
        let changes = doc
            .automerge()
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        db.commit(DocCommit {
            doc: task.clone(),
            base_seq: None,
            changes,
            snapshot: doc.save(),
            view,
            scopes,
            origin: server.device.clone(),
        })
        .await
        .map_err(|e| commit_err(id, &e))?;
        let shown = tracking::display(&code.code);
        let what = [
            "completed, with before/after photos",
            "reopened by its citizen",
            "merged into T-90001",
        ][k];
        tracing::info!("demo tracking code: {shown} → task {id} ({what}); page /track/{shown}");
        out.push((id.to_owned(), shown));
    }
    Ok(out)
}
