//! The command line: `serve` (default), `migrate`, `import-districts`, `import-places`, `user`, `crew`,
//! `token`, `demo`, `integrity` (the investigators' tool), `open311 key`, `audit`, `district`,
//! `service list|create|edit|attributes|sla|retire`, `contractor list|terms`, `penalties sweep`,
//! `user list|add|disable|enable|password|access|revoke-tokens`, `crew list|add|retire`,
//! `district list|region|auto-assign`, `roster import FILE.csv|coverage`. Each subcommand is a thin call into the domain modules;
//! the administration ones go through `domain::admin`, as the admin page does, and write
//! the staff audit log.

use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::demo::{self, DemoError, DemoOptions};
use crate::domain::admin::{self, Admin};
use crate::domain::districts::{GeoError, PropertyNames};
use crate::domain::identity::UserRole;
use crate::domain::photo::Photos;
use crate::http::{self, StartError};
use crate::storage::{Db, DbError, Store};
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
    /// Crews' rosters.
    #[command(subcommand)]
    Roster(RosterCommand),
}

/// `roster` subcommands.
#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Import a roster CSV (`crew,start,end`, the city's wall-clock times): for each
    /// crew named, its shifts starting within the file's span are replaced. Nothing is
    /// stored unless every row is good; the problems are listed with their lines.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// List the coverage gaps of the next 7 days (every district, urgent-capable skills).
    Coverage,
}

/// `service` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List services (retired ones too): code, names, category, priority, terms.
    List,
    /// Create a service. Recorded in the audit log.
    Create(ServiceArgs),
    /// Change a service: the options given replace its values; `--attributes` replaces
    /// its attributes. Recorded in the audit log.
    Edit(ServiceArgs),
    /// Replace a service's Open311 attributes with those of a JSON file: an array of
    /// `{code, datatype, description, required?, variable?, datatype_description?,
    /// values?: [{key, name}]}` (datatype: string, number, datetime, text,
    /// singlevaluelist or multivaluelist). Recorded in the audit log.
    Attributes {
        /// Service code.
        #[arg(long)]
        service: String,
        /// The JSON file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Retire a service: no longer offered; refused while it has open tasks. Recorded
    /// in the audit log.
    Retire {
        /// Service code.
        #[arg(long)]
        service: String,
    },
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

/// `service create` / `service edit` options.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Service code.
    #[arg(long)]
    pub code: String,
    /// The name in Persian (required to create).
    #[arg(long)]
    pub name: Option<String>,
    /// The name in English.
    #[arg(long)]
    pub name_en: Option<String>,
    /// The category (Open311 group).
    #[arg(long)]
    pub group: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Priority of new requests: urgent, high, normal or low (default normal).
    #[arg(long)]
    pub priority: Option<String>,
    /// Acknowledge within this many minutes (every priority).
    #[arg(long, allow_negative_numbers = true)]
    pub ack_minutes: Option<i64>,
    /// Complete within this many minutes (every priority).
    #[arg(long, allow_negative_numbers = true)]
    pub complete_minutes: Option<i64>,
    /// Open311 attributes from a JSON file (as `service attributes`).
    #[arg(long)]
    pub attributes: Option<PathBuf>,
}

/// `contractor` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContractorCommand {
    /// List contractors (named by crews or schedules) with their crews and schedules.
    List,
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
    /// List districts: code, name, region, neighbours, auto-assignment.
    List,
    /// Set (or with no `--region`, clear) a district's region. Recorded in the audit log.
    Region {
        /// District code.
        #[arg(long)]
        district: String,
        /// The region.
        #[arg(long)]
        region: Option<String>,
    },
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
    /// Property holding each district's (local, Persian) name.
    #[arg(long)]
    pub name_property: String,
    /// Property holding each district's English name (a feature without it has none).
    #[arg(long)]
    pub name_en_property: Option<String>,
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
    /// List users: login, role, crew or contractor, districts, disabled.
    List,
    /// Disable a user: no login, every token revoked. Refused for the last enabled admin.
    Disable {
        /// Login name.
        #[arg(long)]
        login: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        #[arg(long)]
        login: String,
    },
    /// Set a new password, read from the first line of standard input; every token of
    /// the user is revoked.
    Password {
        /// Login name.
        #[arg(long)]
        login: String,
        /// Read the password from standard input (the only way to give it).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Change a user's role, crew, contractor and districts (all replaced); every token
    /// of the user is revoked. Refused if no enabled admin would be left.
    Access {
        /// Login name.
        #[arg(long)]
        login: String,
        /// The role.
        #[arg(long)]
        role: UserRole,
        /// The crew (crew members).
        #[arg(long)]
        crew: Option<String>,
        /// The contractor (contractors' representatives).
        #[arg(long)]
        contractor: Option<String>,
        /// A district (dispatchers, managers); repeat for several.
        #[arg(long = "district")]
        districts: Vec<String>,
    },
}

/// `crew` subcommands.
#[derive(Debug, Subcommand)]
pub enum CrewCommand {
    /// List crews (retired ones too) with their members.
    List,
    /// Retire a crew: off duty, never dispatched again, its members disabled; refused
    /// while it holds open tasks.
    Retire {
        /// Crew id.
        #[arg(long)]
        id: String,
    },
    /// Add or replace a crew (its home district must be imported). Recorded in the
    /// audit log.
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
        /// Put the crew on duty now (otherwise a new crew is off duty and a known one
        /// keeps its duty).
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
    /// An admin change was refused.
    #[error(transparent)]
    Admin(#[from] crate::domain::admin::AdminError),
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
                name_en: args.name_en_property,
                region: args.region_property,
            };
            let db = crate::domain::open_store(&config).await?;
            let done = admin::districts::import(&db, &Admin::cli(), &text, &props).await;
            db.close().await;
            let out = done?;
            println!(
                "imported {} districts; {} adjacent pairs",
                out.districts, out.adjacent_pairs
            );
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
        Command::User(cmd) => user(cmd, &config).await?,
        Command::Crew(cmd) => crew(cmd, &config).await?,
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
        Command::District(cmd) => district(cmd, &config).await?,
        Command::Service(cmd) => service(cmd, &config).await?,
        Command::Contractor(cmd) => contractor(cmd, &config).await?,
        Command::Roster(cmd) => {
            let db = crate::domain::open_store(&config).await?;
            let tz = config.zone();
            let done = match cmd {
                RosterCommand::Import { file } => match std::fs::read_to_string(&file) {
                    Ok(text) => crate::domain::roster::import_csv(&db, &tz, None, &text)
                        .await
                        .map(|i| {
                            println!("roster: {} shifts of {} crews stored", i.shifts, i.crews)
                        }),
                    Err(e) => {
                        db.close().await;
                        return Err(CliError::Usage(format!(
                            "cannot read {}: {e}",
                            file.display()
                        )));
                    }
                },
                RosterCommand::Coverage => crate::domain::roster::all_gaps(&db, &tz, now_millis())
                    .await
                    .map(|(input, gaps)| {
                        for g in &gaps {
                            println!(
                                "{}\t{}\t{}\t{}\t{} h",
                                g.district,
                                g.skill,
                                crate::domain::roster::local(g.from, &tz),
                                crate::domain::roster::local(g.to, &tz),
                                g.hours
                            );
                        }
                        println!(
                            "coverage: {} gap(s) over {} districts × {} skills × {} hours",
                            gaps.len(),
                            input.districts.len(),
                            input.skills.len(),
                            input.hours
                        );
                    }),
            };
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
            let db = crate::domain::open_store(&config).await?;
            let by = Admin::cli();
            let done = match cmd {
                Open311KeyCommand::Create { name } => {
                    admin::contracts::issue_key(&db, &by, &name).await.map(|k| {
                        println!("{}", k.key);
                        eprintln!("Open311 key {name:?} created; it is shown only now");
                    })
                }
                Open311KeyCommand::Revoke { name } => admin::contracts::revoke_key(&db, &by, &name)
                    .await
                    .map(|()| println!("Open311 key {name:?} revoked")),
                Open311KeyCommand::List => admin::contracts::keys(&db).await.map(|all| {
                    for k in all {
                        let state = if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        };
                        println!("{}\t{state}\tcreated {}", k.name, k.created_at);
                    }
                }),
            };
            db.close().await;
            done?;
        }
    }
    Ok(())
}

/// Reads the first line of standard input: a password.
fn read_password() -> Result<String, CliError> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| CliError::Io(format!("reading the password: {e}")))?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs a `user` subcommand through `domain::admin::users`.
async fn user(cmd: UserCommand, config: &Config) -> Result<(), CliError> {
    use admin::users::{self, Access, UserInput};
    let access = |role: UserRole, crew, contractor, districts| Access {
        role: role.as_str().to_owned(),
        crew,
        contractor,
        districts,
    };
    // Read before opening the store: a typing operator is not holding a connection.
    let password = match &cmd {
        UserCommand::Add { .. } | UserCommand::Password { .. } => Some(read_password()?),
        _ => None,
    };
    let db = crate::domain::open_store(config).await?;
    let by = Admin::cli();
    let done: Result<(), admin::AdminError> = async {
        match cmd {
            UserCommand::Add {
                login,
                role,
                crew,
                contractor,
                districts,
                ..
            } => {
                users::create(
                    &db,
                    &by,
                    &UserInput {
                        login: login.clone(),
                        password: password.unwrap_or_default(),
                        role: role.as_str().to_owned(),
                        crew,
                        contractor,
                        districts,
                    },
                )
                .await?;
                println!("user {login} added ({role})");
            }
            UserCommand::RevokeTokens { login } => {
                let n = users::revoke_tokens(&db, &by, &login).await?;
                println!("revoked {n} token(s) of {login}");
            }
            UserCommand::List => {
                for u in users::list(&db).await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        u.login,
                        u.role,
                        u.crew.or(u.contractor).unwrap_or_default(),
                        u.districts.join(","),
                        if u.disabled { "disabled" } else { "enabled" }
                    );
                }
            }
            UserCommand::Disable { login } => {
                users::set_disabled(&db, &by, &login, true).await?;
                println!("user {login} disabled; its tokens revoked");
            }
            UserCommand::Enable { login } => {
                users::set_disabled(&db, &by, &login, false).await?;
                println!("user {login} enabled");
            }
            UserCommand::Password { login, .. } => {
                users::reset_password(&db, &by, &login, &password.unwrap_or_default()).await?;
                println!("password of {login} set; its tokens revoked");
            }
            UserCommand::Access {
                login,
                role,
                crew,
                contractor,
                districts,
            } => {
                users::set_access(&db, &by, &login, &access(role, crew, contractor, districts))
                    .await?;
                println!("user {login}: {role}; its tokens revoked");
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    Ok(done?)
}

/// Runs a `crew` subcommand through `domain::admin::crews`.
async fn crew(cmd: CrewCommand, config: &Config) -> Result<(), CliError> {
    use admin::crews::{self, CrewInput};
    let db = crate::domain::open_store(config).await?;
    let by = Admin::cli();
    let done: Result<(), admin::AdminError> = async {
        match cmd {
            CrewCommand::Add {
                id,
                name,
                district,
                skills,
                contractor,
                on_duty,
            } => {
                let input = CrewInput {
                    id: id.clone(),
                    name,
                    district,
                    skills,
                    contractor,
                };
                crews::save(&db, &by, &input, on_duty.then_some(true)).await?;
                println!("crew {id} saved");
            }
            CrewCommand::List => {
                for c in crews::list(&db).await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        c.id,
                        c.name,
                        c.district,
                        c.skills.join(","),
                        c.contractor.unwrap_or_default(),
                        c.members.join(","),
                        if c.retired_at.is_some() {
                            "retired"
                        } else if c.on_duty {
                            "on duty"
                        } else {
                            "off duty"
                        }
                    );
                }
            }
            CrewCommand::Retire { id } => {
                let c = crews::retire(&db, &by, &id).await?;
                println!(
                    "crew {id} retired; members disabled: {}",
                    c.members.join(", ")
                );
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    Ok(done?)
}

/// Runs a `district` subcommand through `domain::admin::districts`.
async fn district(cmd: DistrictCommand, config: &Config) -> Result<(), CliError> {
    use admin::districts;
    let db = crate::domain::open_store(config).await?;
    let by = Admin::cli();
    let done: Result<(), admin::AdminError> = async {
        match cmd {
            DistrictCommand::List => {
                for d in districts::list(&db).await? {
                    println!(
                        "{}\t{}\t{}\t{}\tauto-assign {}",
                        d.code,
                        d.name,
                        d.region.unwrap_or_default(),
                        d.neighbours.join(","),
                        if d.auto_assign { "on" } else { "off" }
                    );
                }
            }
            DistrictCommand::Region { district, region } => {
                let d = districts::set_region(&db, &by, &district, region.as_deref()).await?;
                println!(
                    "district {district}: region {}",
                    d.region.as_deref().unwrap_or("-")
                );
            }
            DistrictCommand::AutoAssign { district, setting } => {
                districts::set_auto_assign(&db, &by, &district, setting == "on").await?;
                println!("district {district}: auto-assign of non-urgent tasks {setting}");
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    Ok(done?)
}

/// Reads a JSON array of attributes.
fn read_attributes(
    file: &std::path::Path,
) -> Result<Vec<admin::services::AttributeInput>, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Io(format!("{}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{}: not an attribute list: {e}", file.display())))
}

/// Runs a `service` subcommand through `domain::admin::services`.
async fn service(cmd: ServiceCommand, config: &Config) -> Result<(), CliError> {
    use admin::services::{self, AdminService, ServiceInput};
    let attrs = match &cmd {
        ServiceCommand::Create(a) | ServiceCommand::Edit(a) => {
            a.attributes.as_deref().map(read_attributes).transpose()?
        }
        ServiceCommand::Attributes { file, .. } => Some(read_attributes(file)?),
        _ => None,
    };
    let db = crate::domain::open_store(config).await?;
    let by = Admin::cli();
    let show = |s: &AdminService| {
        format!(
            "{}\t{}\t{}\t{}\t{}\tack {}\tcomplete {}\t{} attribute(s){}",
            s.code,
            s.name,
            s.name_en.as_deref().unwrap_or("-"),
            s.group,
            s.default_priority,
            s.ack_minutes.map_or("-".into(), |m| format!("{m} min")),
            s.complete_minutes
                .map_or("-".into(), |m| format!("{m} min")),
            s.attributes.len(),
            if s.retired_at.is_some() {
                "\tretired"
            } else {
                ""
            }
        )
    };
    let done: Result<(), admin::AdminError> = async {
        match cmd {
            ServiceCommand::List => {
                for s in services::list(&db).await? {
                    println!("{}", show(&s));
                }
            }
            ServiceCommand::Create(a) => {
                let input = ServiceInput {
                    code: a.code,
                    name: a.name.unwrap_or_default(),
                    name_en: a.name_en,
                    description: a.description.unwrap_or_default(),
                    group: a.group.unwrap_or_default(),
                    default_priority: a.priority.unwrap_or_else(|| "normal".into()),
                    ack_minutes: a.ack_minutes,
                    complete_minutes: a.complete_minutes,
                    sla: Vec::new(),
                    attributes: attrs.unwrap_or_default(),
                };
                println!(
                    "created: {}",
                    show(&services::create(&db, &by, &input).await?)
                );
            }
            ServiceCommand::Edit(a) => {
                let Some(cur) = services::list(&db)
                    .await?
                    .into_iter()
                    .find(|s| s.code == a.code)
                else {
                    return Err(admin::AdminError::NotFound(format!(
                        "no service {:?}",
                        a.code
                    )));
                };
                let input = ServiceInput {
                    code: a.code.clone(),
                    name: a.name.unwrap_or(cur.name),
                    name_en: a.name_en.or(cur.name_en),
                    description: a.description.unwrap_or(cur.description),
                    group: a.group.unwrap_or(cur.group),
                    default_priority: a.priority.unwrap_or(cur.default_priority),
                    ack_minutes: a.ack_minutes.or(cur.ack_minutes),
                    complete_minutes: a.complete_minutes.or(cur.complete_minutes),
                    sla: cur.sla,
                    attributes: attrs.unwrap_or(cur.attributes),
                };
                println!(
                    "saved: {}",
                    show(&services::edit(&db, &by, &a.code, &input).await?)
                );
            }
            ServiceCommand::Attributes { service, .. } => {
                let s = services::set_attributes(&db, &by, &service, &attrs.unwrap_or_default())
                    .await?;
                println!("saved: {}", show(&s));
            }
            ServiceCommand::Retire { service } => {
                services::retire(&db, &by, &service).await?;
                println!("service {service} retired");
            }
            ServiceCommand::Sla {
                service,
                priority,
                ack_minutes,
                complete_minutes,
            } => {
                services::set_sla(
                    &db,
                    &by,
                    &service,
                    priority.as_deref(),
                    ack_minutes,
                    complete_minutes,
                )
                .await?;
                println!(
                    "service {service} ({}): acknowledge within {}, complete within {}",
                    priority.as_deref().unwrap_or("every priority"),
                    ack_minutes.map_or("-".into(), |m| format!("{m} min")),
                    complete_minutes.map_or("-".into(), |m| format!("{m} min")),
                );
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    Ok(done?)
}

/// Runs a `contractor` subcommand through `domain::admin::contracts`.
async fn contractor(cmd: ContractorCommand, config: &Config) -> Result<(), CliError> {
    use admin::contracts;
    let db = crate::domain::open_store(config).await?;
    let by = Admin::cli();
    let done: Result<(), admin::AdminError> = async {
        match cmd {
            ContractorCommand::List => {
                for c in contracts::contractors(&db).await? {
                    let terms = c.terms.map_or("no schedule".to_owned(), |t| {
                        format!(
                            "{} per late hour, {} per rejection, {} per not fixed, {} per \
                             complaint ({}), cap {}",
                            t.per_late_hour,
                            t.per_rejection,
                            t.per_not_fixed,
                            t.per_complaint,
                            t.unit,
                            t.cap_per_month.map_or("none".into(), |c| c.to_string())
                        )
                    });
                    println!("{}\t{}\t{terms}", c.name, c.crews.join(","));
                }
            }
            ContractorCommand::Terms {
                contractor,
                unit,
                per_late_hour,
                per_rejection,
                per_not_fixed,
                per_complaint,
                cap_per_month,
            } => {
                let terms = crate::storage::penalties::Terms {
                    contractor: contractor.clone(),
                    unit,
                    per_late_hour,
                    per_rejection,
                    per_not_fixed,
                    per_complaint,
                    cap_per_month,
                };
                contracts::set_terms(&db, &by, &terms).await?;
                println!("contractor {contractor}: penalty schedule saved");
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    Ok(done?)
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
