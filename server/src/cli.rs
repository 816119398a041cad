//! The command line: `serve` (default), `migrate`, `import-districts`, `import-places`, `user`, `crew`,
//! `token`, `demo`, `integrity` (the investigators' tool), `open311 key`, `audit`, `district`,
//! `service sla`, `contractor terms`, `penalties sweep`. Each subcommand is a thin call into the domain modules.

use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::demo::{self, DemoError, DemoOptions};
use crate::domain::districts::{self, GeoError, PropertyNames};
use crate::domain::identity::{UserRole, hash_password};
use crate::domain::photo::Photos;
use crate::http::{self, StartError};
use crate::storage::{Crew, Db, DbError, DistrictStore, IdentityStore, NewUser, Store};
use clap::{Args, Parser, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;

/// Tarmim's server and admin tool.
#[derive(Debug, Parser)]
#[command(name = "tarmim-server", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Import districts from a GeoJSON FeatureCollection of Polygon/MultiPolygon features.
    ImportDistricts(ImportDistricts),
    /// Import a street and place gazetteer for address search from a GeoJSON
    /// FeatureCollection (streamed: any size); prints what was imported and skipped.
    ImportPlaces(ImportPlaces),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage crews.
    #[command(subcommand)]
    Crew(CrewCommand),
    /// Seed the demo city (districts, services, crews, users, tasks).
    Demo(DemoArgs),
    /// The investigators' tool for the integrity channel (see docs/integrity.md).
    #[command(subcommand)]
    Integrity(IntegrityCommand),
    /// Open311: API keys for POSTs.
    #[command(subcommand)]
    Open311(Open311Command),
    /// The staff audit log: check its hash chain, list rows.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// District settings.
    #[command(subcommand)]
    District(DistrictCommand),
    /// Service settings.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Contractors' contracts.
    #[command(subcommand)]
    Contractor(ContractorCommand),
    /// Penalties.
    #[command(subcommand)]
    Penalties(PenaltiesCommand),
}

/// `service` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// A service's SLA terms: minutes to acknowledge and to complete, for every priority
    /// or (`--priority`) one priority's override. An omitted term is cleared. 1 minute
    /// to a year. Recorded in the audit log.
    Sla {
        /// Service code.
        #[arg(long)]
        service: String,
        /// urgent, high, normal or low (default: the service's terms for every priority).
        #[arg(long)]
        priority: Option<String>,
        /// Acknowledge within this many minutes.
        #[arg(long, allow_negative_numbers = true)]
        ack_minutes: Option<i64>,
        /// Complete within this many minutes.
        #[arg(long, allow_negative_numbers = true)]
        complete_minutes: Option<i64>,
    },
}

/// `contractor` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContractorCommand {
    /// A contractor's penalty schedule (replaces the previous one). Recorded in the
    /// audit log. Facts from before are proposed at the next start or `penalties sweep`.
    Terms {
        /// The contractor (as in `crew add --contractor`).
        #[arg(long)]
        contractor: String,
        /// rial or points.
        #[arg(long, default_value = "rial")]
        unit: String,
        /// Per started hour late (acknowledgement or completion).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        per_late_hour: i64,
        /// Per rejected completion.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        per_rejection: i64,
        /// Per citizen "not fixed" that reopened a task.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        per_not_fixed: i64,
        /// Per citizen complaint about a task, answered by staff.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        per_complaint: i64,
        /// The most one calendar month's statement charges (default: no cap).
        #[arg(long, allow_negative_numbers = true)]
        cap_per_month: Option<i64>,
    },
}

/// `penalties` subcommands.
#[derive(Debug, Subcommand)]
pub enum PenaltiesCommand {
    /// Propose penalties from every task's facts now (what each server does every
    /// minute); prints how many were new.
    Sweep,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exits non-zero at the first deleted or altered row
    /// (the last ones too). Prints the head to note outside the database.
    Verify {
        /// A head printed by an earlier `audit verify` and kept outside the database
        /// (`SEQ:HASH`; repeatable): the chain must still hold that row with that hash,
        /// which catches a chain rewritten with raw SQL, head and all (docs/audit.md).
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<crate::storage::audit::Anchor>,
    },
    /// Print rows (tab-separated), oldest first.
    List {
        /// Only rows after this number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Only this action (`login`, `verify`, `reject`, …).
        #[arg(long)]
        action: Option<String>,
    },
}

/// `district` subcommands.
#[derive(Debug, Subcommand)]
pub enum DistrictCommand {
    /// Whether normal (and high, low) tasks of a district are auto-assigned too (urgent
    /// ones always are). Recorded in the audit log.
    AutoAssign {
        /// District code.
        #[arg(long)]
        district: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        setting: String,
    },
}

/// `open311` subcommands.
#[derive(Debug, Subcommand)]
pub enum Open311Command {
    /// Manage API keys.
    #[command(subcommand)]
    Key(Open311KeyCommand),
}

/// `open311 key` subcommands.
#[derive(Debug, Subcommand)]
pub enum Open311KeyCommand {
    /// Issue a key for an app or a FixMyStreet installation; it is printed once (only
    /// its hash is stored).
    Create {
        /// A name for the key's holder (no spaces).
        name: String,
    },
    /// Revoke a key: POSTs with it get 403 from now on.
    Revoke {
        /// The key's name.
        name: String,
    },
    /// List the keys (names, when issued, whether revoked).
    List,
}

/// `integrity` subcommands. The private key is read from `--identity` (or
/// `TARMIM_INTEGRITY_IDENTITY`) and never leaves this process.
#[derive(Debug, Subcommand)]
pub enum IntegrityCommand {
    /// Make a key pair: the private key goes to FILE (mode 0600), the public key is printed
    /// for the server's `[integrity]` configuration.
    Keygen {
        /// Where to write the private key (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// List the cases this key can read.
    List {
        /// The investigator's private key file.
        #[arg(long, env = "TARMIM_INTEGRITY_IDENTITY")]
        identity: PathBuf,
    },
    /// Read a case; exits with an error if any stored item fails its integrity check.
    Read {
        /// Case id (C-…).
        case: String,
        /// The investigator's private key file.
        #[arg(long, env = "TARMIM_INTEGRITY_IDENTITY")]
        identity: PathBuf,
        /// Decrypt the attachments into this folder.
        #[arg(long)]
        save_attachments: Option<PathBuf>,
    },
    /// Reply to the reporter; the text is read from standard input.
    Reply {
        /// Case id (C-…).
        case: String,
        /// The investigator's private key file.
        #[arg(long, env = "TARMIM_INTEGRITY_IDENTITY")]
        identity: PathBuf,
    },
    /// Set the case's status (the reporter sees it), with an optional note.
    Status {
        /// Case id (C-…).
        case: String,
        /// The new status.
        status: crate::domain::integrity::seal::CaseStatus,
        /// The investigator's private key file.
        #[arg(long, env = "TARMIM_INTEGRITY_IDENTITY")]
        identity: PathBuf,
        /// A note to the reporter.
        #[arg(long)]
        note: Option<String>,
    },
}

/// `import-districts` arguments.
#[derive(Debug, Args)]
pub struct ImportDistricts {
    /// The GeoJSON file.
    pub file: PathBuf,
    /// Property holding each district's unique code.
    #[arg(long)]
    pub code_property: String,
    /// Property holding each district's name.
    #[arg(long)]
    pub name_property: String,
    /// Property holding each district's region.
    #[arg(long)]
    pub region_property: Option<String>,
}

/// `import-places` arguments.
#[derive(Debug, Args)]
pub struct ImportPlaces {
    /// The GeoJSON file (a FeatureCollection of Point, LineString, Polygon… features).
    pub file: PathBuf,
    /// Property holding each place's local (Persian) name.
    #[arg(long)]
    pub name_property: String,
    /// Property holding each place's English name.
    #[arg(long)]
    pub name_en_property: Option<String>,
    /// Property holding each place's kind (default: `place`, `street` or `area` by its
    /// geometry).
    #[arg(long)]
    pub kind_property: Option<String>,
    /// Delete every stored place first.
    #[arg(long)]
    pub replace: bool,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from the first line of standard input.
    Add {
        /// Login name.
        #[arg(long)]
        login: String,
        /// Read the password from standard input (the only way to give it).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// admin, dispatcher, crew, manager, call_centre or contractor (a contractor's
        /// representative).
        #[arg(long)]
        role: UserRole,
        /// The crew (required for crew members).
        #[arg(long)]
        crew: Option<String>,
        /// The contractor (required for contractors' representatives, who see only its
        /// tasks and penalties).
        #[arg(long)]
        contractor: Option<String>,
        /// A district the user works on (dispatchers, managers); repeat for several.
        #[arg(long = "district")]
        districts: Vec<String>,
    },
    /// Revoke every token of a user (all devices are logged out).
    RevokeTokens {
        /// Login name.
        #[arg(long)]
        login: String,
    },
}

/// `crew` subcommands.
#[derive(Debug, Subcommand)]
pub enum CrewCommand {
    /// Add or replace a crew.
    Add {
        /// Crew id (e.g. C-D07-A).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Home district code.
        #[arg(long)]
        district: String,
        /// A service code the crew handles; repeat for several.
        #[arg(long = "skill")]
        skills: Vec<String>,
        /// Contractor company, if not city staff.
        #[arg(long)]
        contractor: Option<String>,
        /// Whether the crew is on duty now.
        #[arg(long)]
        on_duty: bool,
    },
}

/// `demo` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    /// Something other than the demo city.
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    /// How many tasks.
    #[arg(long, default_value_t = 300)]
    pub tasks: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7261)]
    pub seed: u64,
}

/// `demo` subcommands.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Benchmarks only: many open tasks in a few districts of an already seeded city
    /// (real documents through the store's commit path; ids `L-00001`, …).
    #[command(hide = true)]
    SeedLoad {
        /// How many open tasks.
        #[arg(long, default_value_t = 20_000)]
        tasks: usize,
        /// Their districts, comma-separated (default: region R1's, `dispatcher-r1`'s).
        #[arg(long, value_delimiter = ',', default_value = "D01,D02,D03,D04")]
        districts: Vec<String>,
        /// Random seed.
        #[arg(long, default_value_t = 4242)]
        seed: u64,
    },
}

/// Failures of a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Starting or running the server failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Districts failed.
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// Importing places failed.
    #[error(transparent)]
    Places(#[from] crate::domain::places::import::ImportError),
    /// Demo seeding failed.
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// The public demo passwords on a reachable address.
    #[error(transparent)]
    Exposed(#[from] demo::exposure::ExposureError),
    /// The investigators' tool failed.
    #[error(transparent)]
    Integrity(#[from] crate::domain::integrity::investigator::InvestigatorError),
    /// Bad arguments or input.
    #[error("{0}")]
    Usage(String),
    /// Reading a file or stdin failed.
    #[error("{0}")]
    Io(String),
    /// The demo's integrity channel could not be switched on (its key file).
    #[error("the demo integrity channel: {0}")]
    DemoIntegrity(crate::domain::integrity::investigator::InvestigatorError),
    /// The audit log's hash chain is broken.
    #[error("audit log: {0}")]
    AuditBroken(String),
}

/// Opens the database for serving: migrations, the demo city if configured and the
/// database is empty, and the analytics facts of tasks committed before they existed.
pub async fn open_for_serving(config: &Config) -> Result<Db, CliError> {
    Photos::from_config(config).map_err(StartError::Photos)?;
    let db = crate::domain::open_store(config).await?;
    tracing::info!(backend = ?db.backend(), "database ready (migrations applied)");
    let by_hand = demo::exposure::demo_set_by_hand(|k| std::env::var(k).ok());
    demo::exposure::check(&db, config, by_hand).await?;
    if config.demo {
        demo::seed_if_empty(&db, config).await?;
    }
    crate::domain::analytics::facts::backfill(&db).await?;
    Ok(db)
}

/// Runs a command.
pub async fn run(cli: Cli, mut config: Config) -> Result<(), CliError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        // The investigators' CLI sees the demo categories the server reports into.
        demo::integrity::enable(&mut config, false, now_millis())
            .map_err(CliError::DemoIntegrity)?;
    }
    match command {
        Command::Serve => {
            let db = open_for_serving(&config).await?;
            let demo_channel = demo::integrity::enable(&mut config, true, now_millis())
                .map_err(CliError::DemoIntegrity)?;
            if let Some(channel) = demo_channel {
                print_demo_integrity(&config, &channel);
            }
            http::run(db, config).await?;
        }
        Command::Migrate => {
            let db = crate::domain::open_store(&config).await?;
            db.migrate().await?;
            println!("migrations applied ({:?})", db.backend());
            db.close().await;
        }
        Command::ImportDistricts(args) => {
            let text = std::fs::read_to_string(&args.file)
                .map_err(|e| CliError::Io(format!("{}: {e}", args.file.display())))?;
            let props = PropertyNames {
                code: args.code_property,
                name: args.name_property,
                region: args.region_property,
            };
            let districts = districts::parse_geojson(&text, &props)?;
            let db = crate::domain::open_store(&config).await?;
            let out = db.import_districts(&districts).await?;
            println!(
                "imported {} districts; {} adjacent pairs",
                out.districts, out.adjacent_pairs
            );
            db.close().await;
        }
        Command::ImportPlaces(args) => {
            use crate::domain::places::import::{self, ImportOptions};
            let file = std::fs::File::open(&args.file)
                .map_err(|e| CliError::Io(format!("{}: {e}", args.file.display())))?;
            let options = ImportOptions {
                name_property: args.name_property,
                name_en_property: args.name_en_property,
                kind_property: args.kind_property,
                replace: args.replace,
            };
            let db = crate::domain::open_store(&config).await?;
            let done = import::run(&db, std::io::BufReader::new(file), options).await;
            db.close().await;
            println!("{}", done?);
        }
        Command::User(UserCommand::Add {
            login,
            password_stdin: _,
            role,
            crew,
            contractor,
            districts,
        }) => {
            if (role == UserRole::Crew) != crew.is_some() {
                return Err(CliError::Usage(
                    "--crew is required for crew members and only for them".into(),
                ));
            }
            if (role == UserRole::Contractor) != contractor.is_some() {
                return Err(CliError::Usage(
                    "--contractor is required for contractors' representatives and only for them"
                        .into(),
                ));
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| CliError::Io(format!("reading the password: {e}")))?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            if password.len() < 8 {
                return Err(CliError::Usage(
                    "the password must have at least 8 characters".into(),
                ));
            }
            let hash = hash_password(&password).map_err(|e| CliError::Usage(e.to_string()))?;
            let db = crate::domain::open_store(&config).await?;
            let mut id = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
            db.create_user(&NewUser {
                id: format!("u-{}", hex::encode(id)),
                login: login.clone(),
                password_hash: hash,
                role,
                crew,
                districts,
                contractor,
            })
            .await?;
            println!("user {login} added ({role})");
            db.close().await;
        }
        Command::User(UserCommand::RevokeTokens { login }) => {
            let db = crate::domain::open_store(&config).await?;
            let user = db
                .user_by_login(&login)
                .await?
                .ok_or_else(|| CliError::Usage(format!("no user {login:?}")))?;
            let n = db.revoke_user_tokens(&user.id, now_millis()).await?;
            println!("revoked {n} token(s) of {login}");
            db.close().await;
        }
        Command::Crew(CrewCommand::Add {
            id,
            name,
            district,
            skills,
            contractor,
            on_duty,
        }) => {
            let db = crate::domain::open_store(&config).await?;
            db.upsert_crew(&Crew {
                id: id.clone(),
                name,
                district,
                skills,
                contractor,
                on_duty,
            })
            .await?;
            println!("crew {id} saved");
            db.close().await;
        }
        Command::Demo(DemoArgs {
            command:
                Some(DemoCommand::SeedLoad {
                    tasks,
                    districts,
                    seed,
                }),
            ..
        }) => {
            let db = crate::domain::open_store(&config).await?;
            let started = std::time::Instant::now();
            let n = demo::load::seed_load(&db, tasks, &districts, seed, now_millis()).await?;
            println!(
                "load: {n} open tasks in {} in {:.1} s",
                districts.join(", "),
                started.elapsed().as_secs_f64()
            );
            db.close().await;
        }
        Command::Demo(args) => {
            let db = crate::domain::open_store(&config).await?;
            let s = demo::seed(
                &db,
                DemoOptions {
                    tasks: args.tasks,
                    seed: args.seed,
                },
            )
            .await?;
            println!(
                "demo city: {} districts, {} services, {} crews, {} users, {} tasks",
                s.districts, s.services, s.crews, s.users, s.tasks
            );
            if let Some(why) = s.tasks_skipped {
                println!("tasks skipped: {why}");
            }
            db.close().await;
        }
        Command::Integrity(cmd) => integrity(cmd, config).await?,
        Command::Audit(cmd) => {
            use crate::domain::audit;
            let db = crate::domain::open_store(&config).await?;
            let done = match cmd {
                AuditCommand::Verify { anchors } => match audit::verify(&db, &anchors).await {
                    Ok(r) => match r.broken {
                        None => {
                            println!("audit log intact: {} rows", r.rows);
                            // What to keep outside the database for the next check.
                            println!("head: {}:{}", r.last.0, r.last.1);
                            Ok(())
                        }
                        Some(why) => Err(CliError::AuditBroken(why)),
                    },
                    Err(e) => Err(e.into()),
                },
                AuditCommand::List {
                    after,
                    limit,
                    action,
                } => crate::storage::audit::list(
                    &db,
                    after,
                    limit.clamp(1, 100_000),
                    action.as_deref(),
                )
                .await
                .map(|rows| {
                    for r in rows {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            r.seq,
                            crate::base::time::rfc3339_utc(r.at),
                            r.actor,
                            r.role,
                            r.device,
                            r.action,
                            r.target.unwrap_or_default(),
                            r.detail
                        );
                    }
                })
                .map_err(CliError::from),
            };
            db.close().await;
            done?;
        }
        Command::District(DistrictCommand::AutoAssign { district, setting }) => {
            use crate::domain::audit;
            let db = crate::domain::open_store(&config).await?;
            let on = setting == "on";
            let known = db.districts().await?.iter().any(|d| d.code == district);
            let done = if known {
                crate::storage::dispatch::set_auto_assign_normal(&db, &district, on)
                    .await
                    .map_err(CliError::from)
            } else {
                Err(CliError::Usage(format!("no district {district:?}")))
            };
            if done.is_ok() {
                audit::record(
                    &db,
                    &audit::Who::cli(),
                    "admin.district_auto_assign",
                    Some(&district),
                    serde_json::json!({"auto_assign_normal": on}),
                )
                .await;
                println!("district {district}: auto-assign of non-urgent tasks {setting}");
            }
            db.close().await;
            done?;
        }
        Command::Service(ServiceCommand::Sla {
            service,
            priority,
            ack_minutes,
            complete_minutes,
        }) => {
            use crate::domain::audit;
            let priority = match priority.as_deref() {
                None => None,
                Some(p) => Some(sync_core::task::Priority::parse(p).ok_or_else(|| {
                    CliError::Usage(format!(
                        "unknown priority {p:?}: urgent, high, normal or low"
                    ))
                })?),
            };
            let db = crate::domain::open_store(&config).await?;
            let done = crate::domain::penalties::sla::set(
                &db,
                &service,
                priority,
                ack_minutes,
                complete_minutes,
            )
            .await;
            if done.is_ok() {
                audit::record(
                    &db,
                    &audit::Who::cli(),
                    "admin.service_sla",
                    Some(&service),
                    serde_json::json!({"priority": priority.map(|p| p.as_str()),
                        "ack_minutes": ack_minutes, "complete_minutes": complete_minutes}),
                )
                .await;
                println!(
                    "service {service} ({}): acknowledge within {}, complete within {}",
                    priority.map_or("every priority", |p| p.as_str()),
                    ack_minutes.map_or("-".into(), |m| format!("{m} min")),
                    complete_minutes.map_or("-".into(), |m| format!("{m} min")),
                );
            }
            db.close().await;
            done.map_err(|e| CliError::Usage(e.to_string()))?;
        }
        Command::Contractor(ContractorCommand::Terms {
            contractor,
            unit,
            per_late_hour,
            per_rejection,
            per_not_fixed,
            per_complaint,
            cap_per_month,
        }) => {
            use crate::domain::audit;
            let terms = crate::storage::penalties::Terms {
                contractor: contractor.clone(),
                unit,
                per_late_hour,
                per_rejection,
                per_not_fixed,
                per_complaint,
                cap_per_month,
            };
            let db = crate::domain::open_store(&config).await?;
            let done = crate::domain::penalties::schedule::set(&db, &terms).await;
            if done.is_ok() {
                audit::record(
                    &db,
                    &audit::Who::cli(),
                    "admin.contractor_terms",
                    Some(&contractor),
                    serde_json::to_value(&terms).unwrap_or_default(),
                )
                .await;
                println!("contractor {contractor}: penalty schedule saved");
            }
            db.close().await;
            done.map_err(|e| CliError::Usage(e.to_string()))?;
        }
        Command::Penalties(PenaltiesCommand::Sweep) => {
            let db = crate::domain::open_store(&config).await?;
            let done = crate::domain::penalties::propose::sweep(&db, 0).await;
            db.close().await;
            let s = done.map_err(|e| CliError::Usage(e.to_string()))?;
            println!("penalties: {} facts read, {} proposed", s.read, s.proposed);
        }
        Command::Open311(Open311Command::Key(cmd)) => {
            use crate::domain::open311::keys;
            let db = crate::domain::open_store(&config).await?;
            let done = match cmd {
                Open311KeyCommand::Create { name } => keys::create(&db, &name).await.map(|key| {
                    println!("{key}");
                    eprintln!("Open311 key {name:?} created; it is shown only now");
                }),
                Open311KeyCommand::Revoke { name } => keys::revoke(&db, &name).await.map(|done| {
                    if done {
                        println!("Open311 key {name:?} revoked");
                    } else {
                        println!("no live Open311 key {name:?}");
                    }
                }),
                Open311KeyCommand::List => keys::list(&db).await.map(|all| {
                    for (name, created, revoked) in all {
                        let state = if revoked.is_some() { "revoked" } else { "live" };
                        println!("{name}\t{state}\tcreated {created}");
                    }
                }),
            };
            db.close().await;
            done?;
        }
    }
    Ok(())
}

/// Logs, at every start of the demo, where its integrity reports go and the exact
/// commands that read and answer them.
fn print_demo_integrity(config: &Config, channel: &demo::integrity::DemoIntegrity) {
    let exe = std::env::args()
        .next()
        .unwrap_or_else(|| "tarmim-server".to_owned());
    tracing::info!(
        "demo integrity channel on (/integrity): categories {}; demo investigator key {}{}",
        demo::integrity::CATEGORIES
            .iter()
            .map(|(code, _)| *code)
            .collect::<Vec<_>>()
            .join(", "),
        channel.identity.display(),
        if channel.created {
            " (created now)"
        } else {
            ""
        }
    );
    let [list, read, reply] = demo::integrity::commands(&exe, config, &channel.identity);
    tracing::info!("demo integrity, list the reports: {list}");
    tracing::info!("demo integrity, read one: {read}");
    tracing::info!("demo integrity, reply to it: {reply}");
}

/// Runs an `integrity` subcommand (the logic is in `integrity::investigator`).
async fn integrity(cmd: IntegrityCommand, config: Config) -> Result<(), CliError> {
    use crate::domain::integrity::investigator as inv;
    if let IntegrityCommand::Keygen { out } = &cmd {
        let public = inv::keygen(out, now_millis())?;
        println!("{public}");
        eprintln!(
            "private key written to {}; add the public key above to the server's [integrity] \
             categories",
            out.display()
        );
        return Ok(());
    }
    let db = crate::domain::open_store(&config).await?;
    let result = async {
        match cmd {
            IntegrityCommand::Keygen { .. } => Ok(()),
            IntegrityCommand::List { identity } => {
                let id = inv::load_identity(&identity)?;
                print!("{}", inv::render_list(&inv::list(&db, &id).await?));
                Ok(())
            }
            IntegrityCommand::Read {
                case,
                identity,
                save_attachments,
            } => {
                let id = inv::load_identity(&identity)?;
                let view = inv::read(&db, &id, &case, save_attachments.as_deref()).await?;
                print!("{}", inv::render_case(&view));
                match view.failures() {
                    0 => Ok(()),
                    n => Err(inv::InvestigatorError::Tampered(n).into()),
                }
            }
            IntegrityCommand::Reply { case, identity } => {
                let id = inv::load_identity(&identity)?;
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
                    .map_err(|e| CliError::Io(format!("reading the reply: {e}")))?;
                let seq =
                    inv::reply(&db, &config.integrity, &id, &case, &text, now_millis()).await?;
                println!("reply added to {case} as message #{seq}");
                Ok(())
            }
            IntegrityCommand::Status {
                case,
                status,
                identity,
                note,
            } => {
                let id = inv::load_identity(&identity)?;
                let seq = inv::set_status(
                    &db,
                    &config.integrity,
                    &id,
                    &case,
                    status,
                    note,
                    now_millis(),
                )
                .await?;
                println!(
                    "status of {case} set to {} (message #{seq})",
                    status.as_str()
                );
                Ok(())
            }
        }
    }
    .await;
    db.close().await;
    result
}
