//! The demo city: what an empty database is seeded with on first start (and what
//! `tarmim-server demo` adds on demand).
//!
//! - 12 synthetic districts, a 4 × 3 grid of cells around Tehran's centre (35.69 N,
//!   51.39 E), in 3 regions (one row each); `D12` is a MultiPolygon with a small exclave.
//!   They go through the same GeoJSON import as real districts.
//! - Open311-like services (pothole, garbage, streetlight, ...).
//! - A small gazetteer of its own streets and places, named in Persian and English, for
//!   address search (`data/places.geojson`, through the same import as a real one).
//! - 2–3 crews per district with skills, some on duty, some contractors, one member each.
//! - One user per role. **Demo passwords are public by design** (see [`DEMO_LOGINS`]);
//!   they are printed once when the city is seeded.
//! - A few hundred tasks in every state, built with the sync-core `TaskDoc` API and
//!   committed through the server's store like any other document.
//! - Work to verify: a completed task with a flagged after photo, and one rejected once
//!   and then verified (`verify`).
//! - Penalties (`penalties`): both contractors' schedules, a late contractor task,
//!   proposals from it and the history, some confirmed, reduced, waived, one appealed;
//!   a contractor's representative login.
//! - Rosters (`roster`, with the served city only): every crew's shifts for the week and
//!   one coverage gap (an urgent skill of one district, 3 hours, half a day ahead).

pub mod caller;
mod city;
pub mod exposure;
pub mod history;
pub mod integrity;
pub mod load;
pub mod penalties;
pub mod roster;
mod showcase;
mod tasks;
mod verify;

use city::{COLS, NAMES, ROWS};
pub use city::{demo_districts_geojson, demo_services};
pub use showcase::{SHOWCASE_TASKS, road_photo, seed_tracking_showcase};
use tasks::build_tasks;
pub use verify::{VERIFY_TASKS, seed_verification_showcase};

use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::domain::districts::{GeoError, PropertyNames, parse_geojson};
use crate::domain::identity::{UserRole, hash_password};
use crate::storage::{Crew, Db, DbError, DistrictStore, IdentityStore, NewUser};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sync_core::session::ServerStore;

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
    (
        penalties::DEMO_REP_LOGIN,
        "demo-contractor",
        "contractor (representative of Pars Asphalt Co.)",
    ),
];

/// The password of every demo crew member (`crew-d01-a`, `crew-d01-b`, ...).
pub const DEMO_CREW_PASSWORD: &str = "demo-crew";

/// How many crews the demo gives district number `d` (1-based): three in every third.
fn crews_in_district(d: usize) -> usize {
    if d.is_multiple_of(3) { 3 } else { 2 }
}

/// The id of the demo's `k`-th crew (0-based) of district number `d`: `C-D01-A`, ….
fn demo_crew_id(d: usize, k: usize) -> String {
    let letter = char::from(b'A' + (k % 26) as u8);
    format!("C-D{d:02}-{letter}")
}

/// The login of a demo crew's member: `crew-d01-a` for `C-D01-A`.
fn crew_login(crew_id: &str) -> String {
    format!("crew-{}", crew_id.to_lowercase().trim_start_matches("c-"))
}

/// Every demo crew member's login (each with [`DEMO_CREW_PASSWORD`]).
pub fn demo_crew_logins() -> Vec<String> {
    (1..=ROWS * COLS)
        .flat_map(|d| (0..crews_in_district(d)).map(move |k| crew_login(&demo_crew_id(d, k))))
        .collect()
}

/// Failures while seeding.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The generated districts did not import.
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// The demo gazetteer did not import.
    #[error(transparent)]
    Places(#[from] crate::domain::places::import::ImportError),
    /// Hashing a password failed.
    #[error("{0}")]
    Auth(String),
    /// The benchmark load cannot be seeded (no such district, no services).
    #[error("{0}")]
    Load(String),
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
    /// Places of the gazetteer imported (none when places were already there).
    pub places: usize,
    /// Crews created.
    pub crews: usize,
    /// Users created.
    pub users: usize,
    /// Tasks committed.
    pub tasks: usize,
    /// Why tasks could not be built, if they could not.
    pub tasks_skipped: Option<String>,
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
            // Work to verify (a flagged after photo) and a verification after a rejection.
            if let Err(e) = seed_verification_showcase(db, &photos, config).await {
                tracing::warn!(error = %e, "demo verification showcase not seeded");
            }
        }
        Err(e) => tracing::warn!(error = %e, "demo tracking showcase not seeded: photo storage"),
    }
    // Crews' rosters for the week, with one coverage gap for the console to show.
    match roster::seed(db, now_millis()).await {
        Ok(n) => tracing::info!(shifts = n, "demo rosters seeded"),
        Err(e) => tracing::warn!(error = %e, "demo rosters not seeded"),
    }
    // The desk's demo caller: two earlier reports to find by phone.
    match caller::seed_demo_caller(db, config).await {
        Ok(codes) => tracing::info!(
            "demo caller (the desk): {} / codes {}",
            caller::DEMO_CALLER,
            codes.join(", ")
        ),
        Err(e) => tracing::warn!(error = %e, "demo caller not seeded"),
    }
    // Past-dated, closed tasks over the last 60 days, so the managers' charts have a
    // history (analytics::generate).
    match crate::demo::history::seed_history(db, 400, 60, 7261, now_millis()).await {
        Ok(n) => tracing::info!(tasks = n, "demo history seeded"),
        Err(e) => tracing::warn!(error = %e, "demo history not seeded"),
    }
    // Penalties: schedules, a late task with photos, proposals from it and the history,
    // some decided and one appealed.
    match crate::domain::photo::Photos::from_config(config) {
        Ok(photos) => match penalties::seed_penalty_showcase(db, &photos, config).await {
            Ok(n) => tracing::info!(proposed = n, "demo penalties seeded"),
            Err(e) => tracing::warn!(error = %e, "demo penalties not seeded"),
        },
        Err(e) => tracing::warn!(error = %e, "demo penalties not seeded: photo storage"),
    }
    Ok(Some(summary))
}

/// The demo city's gazetteer: streets, squares, parks and landmarks inside its districts
/// (property `name` Persian, `name:en` English, `kind`).
pub const DEMO_PLACES_GEOJSON: &str = include_str!("data/places.geojson");

/// Imports the demo gazetteer unless places are already stored; how many were imported.
pub async fn seed_places(db: &Db) -> Result<usize, DemoError> {
    use crate::domain::places::import::{self, ImportOptions};
    if crate::storage::places::count(db).await? > 0 {
        return Ok(0);
    }
    let options = ImportOptions {
        name_property: "name".into(),
        name_en_property: Some("name:en".into()),
        kind_property: Some("kind".into()),
        replace: false,
    };
    let reader = std::io::Cursor::new(DEMO_PLACES_GEOJSON.as_bytes());
    Ok(import::run(db, reader, options).await?.imported)
}

/// Seeds the demo city (districts, services, crews, users, tasks).
pub async fn seed(db: &Db, opts: DemoOptions) -> Result<DemoSummary, DemoError> {
    let mut summary = DemoSummary::default();
    let props = PropertyNames {
        code: "code".into(),
        name: "name".into(),
        name_en: Some("name_en".into()),
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
    summary.places = seed_places(db).await?;

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let contractors = ["Pars Asphalt Co.", "Green City Services"];
    let mut crews = Vec::new();
    for d in 1..=ROWS * COLS {
        for k in 0..crews_in_district(d) {
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
                id: demo_crew_id(d, k),
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
        .map(|c| (crew_login(&c.id), c.id.clone()))
        .collect();
    for (login, hash_, role, crew, districts) in users {
        db.create_user(&NewUser {
            id: format!("u-{login}"),
            login: login.to_owned(),
            password_hash: hash_,
            role,
            crew,
            districts,
            contractor: None,
        })
        .await?;
        summary.users += 1;
    }
    // A contractor's representative: sees its contractor's tasks and penalties.
    db.create_user(&NewUser {
        id: format!("u-{}", penalties::DEMO_REP_LOGIN),
        login: penalties::DEMO_REP_LOGIN.to_owned(),
        password_hash: hash("demo-contractor").await?,
        role: UserRole::Contractor,
        crew: None,
        districts: vec![],
        contractor: Some(penalties::DEMO_CONTRACTOR.to_owned()),
    })
    .await?;
    summary.users += 1;
    for (login, crew) in &crew_logins {
        db.create_user(&NewUser {
            id: format!("u-{login}"),
            login: login.clone(),
            password_hash: crew_hash.clone(),
            role: UserRole::Crew,
            crew: Some(crew.clone()),
            districts: vec![],
            contractor: None,
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

/// A demo assignment's reason: the dispatcher's choice (a structured reason the pages
/// word in their language), by the dispatcher's login.
fn choice(dispatcher: &sync_core::Actor) -> String {
    crate::domain::dispatch::reason::Reason::Dispatcher {
        by: dispatcher.user.trim_start_matches("u-").to_owned(),
        note: None,
    }
    .text()
}
