//! Server configuration: defaults, an optional TOML file (`TARMIM_CONFIG`), then environment
//! variables, in that order of precedence (the environment wins).
//!
//! | setting | env | default |
//! | --- | --- | --- |
//! | `data_dir` | `TARMIM_DATA_DIR` | `./data` |
//! | `database_url` | `DATABASE_URL` | none: SQLite file `tarmim.sqlite3` in `data_dir` |
//! | `listen` | `TARMIM_LISTEN` | `127.0.0.1:8137` |
//! | `public_url` | `TARMIM_PUBLIC_URL` (alias: `TARMIM_OPEN311_PUBLIC_URL`; in the file also `[open311]` `public_url`) | none: the request's `Host` (see `base::public_url`) |
//! | `trusted_proxy` | `TARMIM_TRUSTED_PROXY` (deprecated alias in the file: `[integrity]` `trust_forwarded_for`) | `false`: `X-Forwarded-Proto` and `X-Forwarded-For` are ignored; `true` only behind a reverse proxy that sets them (links follow the proto; every per-client limit — login, tracking lookups, the integrity channel — counts the last `X-Forwarded-For` address) |
//! | `metrics_token` | `TARMIM_METRICS_TOKEN` | none: `GET /metrics` on `listen` answers 404; set, it answers only `Authorization: Bearer <token>` (401 otherwise) |
//! | `metrics_listen` | `TARMIM_METRICS_LISTEN` | none; set (e.g. `127.0.0.1:9137`), `GET /metrics` is also served there, with no token (bind it to a private address) |
//! | `default_district` | `TARMIM_DEFAULT_DISTRICT` | none: a point outside every district is refused |
//! | `crew_sees_district_open` | `TARMIM_CREW_SEES_DISTRICT_OPEN` | `false` |
//! | `token_ttl_hours` | `TARMIM_TOKEN_TTL_HOURS` | `720` (30 days: crews work offline for long) |
//! | `demo` | `TARMIM_DEMO` | `true`: seed the demo city into an empty database |
//! | `log_format` | `TARMIM_LOG_FORMAT` | `pretty` (or `json`) |
//! | `sync_idle_timeout_secs` | `TARMIM_SYNC_IDLE_TIMEOUT_SECS` | `300`: a sync connection silent this long is closed |
//! | `sync_max_message_bytes` | `TARMIM_SYNC_MAX_MESSAGE_BYTES` | `16777216`: largest sync message / HTTP exchange body |
//! | `tile_url` | `TARMIM_TILE_URL` | none: the console's map draws districts and points on a blank background |
//! | `dispatch_ack_secs_urgent` | `TARMIM_DISPATCH_ACK_SECS_URGENT` | `900`: an assigned urgent job not acknowledged by then is escalated |
//! | `dispatch_ack_secs_other` | `TARMIM_DISPATCH_ACK_SECS_OTHER` | `14400`: the same for high, normal and low jobs |
//! | `dispatch_complete_secs` | `TARMIM_DISPATCH_COMPLETE_SECS` | none: the service's completion time |
//! | `dispatch_tick_ms` | `TARMIM_DISPATCH_TICK_MS` | `1000`: how often each replica looks for due escalation timers |
//! | `position_min_interval_ms` | `TARMIM_POSITION_MIN_INTERVAL_MS` | `5000`: a user's position reports (all its devices together) closer together are refused (429) |
//! | `photo_max_bytes` | `TARMIM_PHOTO_MAX_BYTES` | `33554432`: largest photo upload |
//! | `photo_max_pixels` | `TARMIM_PHOTO_MAX_PIXELS` | `50000000`: largest width × height decoded |
//! | `photo_device_quota_bytes` | `TARMIM_PHOTO_DEVICE_QUOTA_BYTES` | `268435456`: one device's unfinished uploads |
//! | `photo_max_distance_m` | `TARMIM_PHOTO_MAX_DISTANCE_M` | `200`: EXIF position farther from the task is flagged |
//! | `photo_clock_skew_secs` | `TARMIM_PHOTO_CLOCK_SKEW_SECS` | `600`: EXIF time earlier than task creation by more is flagged |
//! | `photo_workers` | `TARMIM_PHOTO_WORKERS` | `2`: photos decoded at once |
//! | `photo_upload_ttl_hours` | `TARMIM_PHOTO_UPLOAD_TTL_HOURS` | `168`: an unfinished upload untouched this long is discarded |
//! | `photo_s3_bucket` | `TARMIM_PHOTO_S3_BUCKET` | none: photos on disk in `data_dir/photos` |
//! | `photo_s3_endpoint` | `TARMIM_PHOTO_S3_ENDPOINT` | none (AWS); credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` |
//! | `photo_s3_region` | `TARMIM_PHOTO_S3_REGION` | `us-east-1` |
//! | `feedback_window_days` | `TARMIM_FEEDBACK_WINDOW_DAYS` | `14`: how long after completion a citizen may rate or say "not fixed" (stored in each new task) |
//! | `track_lookups_per_minute` | `TARMIM_TRACK_LOOKUPS_PER_MINUTE` | `60`: tracking-code requests per client address per minute (429 beyond) |
//! | `[open311]` `duplicate_radius_m`, `max_media_bytes` | `TARMIM_OPEN311_DUPLICATE_RADIUS_M`, `TARMIM_OPEN311_MAX_MEDIA_BYTES` | `50`, `10485760` |
//! | `[outbox]` `tick_ms`, `lease_secs`, `max_attempts`, `retry_secs`, `timeout_secs` | `TARMIM_OUTBOX_TICK_MS`, `TARMIM_OUTBOX_LEASE_SECS`, `TARMIM_OUTBOX_MAX_ATTEMPTS`, `TARMIM_OUTBOX_RETRY_SECS`, `TARMIM_NOTIFY_TIMEOUT_SECS` | `1000`, `60`, `8`, `30` (doubling, at most an hour), `20` |
//! | `[outbox]` `smtp_url`, `smtp_from`, `smtp_ca_file` | `TARMIM_SMTP_URL` (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`, `smtps://host:465`), `TARMIM_SMTP_FROM`, `TARMIM_SMTP_CA_FILE` (PEM roots trusted besides webpki's) | none (no e-mail), `Tarmim 137 <no-reply@tarmim.invalid>`, none |
//! | `[outbox]` `sms_url`, `sms_format`, `sms_token`, `sms_sender`, `sms_quiet_hours` | `TARMIM_SMS_URL`, `TARMIM_SMS_FORMAT` (`webhook` or `kavenegar`), `TARMIM_SMS_TOKEN`, `TARMIM_SMS_SENDER`, `TARMIM_SMS_QUIET_HOURS` | none (no SMS), `webhook`, none, none, `22:00-07:00` in `timezone` (`off`: none) |
//! | `[outbox]` `contact_retention_days` | `TARMIM_CONTACT_RETENTION_DAYS` | `90`: citizens' contacts are erased this long after their report closed or their message was answered, with the call centre's links to those reports and the callers' hashes of calls that old |
//! | `[push]` `coalesce_secs`, `timeout_secs`, `ttl_secs`, `max_token_bytes` | `TARMIM_PUSH_COALESCE_SECS`, `TARMIM_PUSH_TIMEOUT_SECS`, `TARMIM_PUSH_TTL_SECS`, `TARMIM_PUSH_MAX_TOKEN_BYTES` | `60` (at most one non-urgent wake-up per device per minute), `10`, `3600`, `4096` |
//! | `[push]` `fcm_service_account`, `fcm_token_uri`, `fcm_endpoint` | `TARMIM_FCM_SERVICE_ACCOUNT` (JSON file), `TARMIM_FCM_TOKEN_URI`, `TARMIM_FCM_ENDPOINT` | none (no FCM), the account's `token_uri`, `https://fcm.googleapis.com` |
//! | `[push]` `apns_key`, `apns_key_id`, `apns_team_id`, `apns_topic`, `apns_endpoint` | `TARMIM_APNS_KEY` (`.p8` file), `TARMIM_APNS_KEY_ID`, `TARMIM_APNS_TEAM_ID`, `TARMIM_APNS_TOPIC`, `TARMIM_APNS_ENDPOINT` | none (no APNs), …, `https://api.push.apple.com` |
//! | `[push]` `vapid_private_key`, `vapid_subject`, `allow_http_endpoints` | `TARMIM_VAPID_PRIVATE_KEY` (32 bytes base64url), `TARMIM_VAPID_SUBJECT`, `TARMIM_PUSH_ALLOW_HTTP` | none (no Web Push), `mailto:ops@tarmim.invalid`, `false` |
//! | `[push]` `citizen_push_hosts` | `TARMIM_WEBPUSH_HOSTS` (comma-separated) | the browsers' push services: `fcm.googleapis.com`, `updates.push.services.mozilla.com`, `notify.windows.com`, `push.apple.com` (a host equal to one or under it) |
//! | `timezone` | `TARMIM_TIMEZONE` | `Asia/Tehran`: the city's IANA zone; analytics count local days in it, Open311 datetimes carry its offset, EXIF times without an offset are read in it |
//! | `[analytics]` | `TARMIM_SCORECARD_WEIGHTS` (`sla=35,reopen=20,…`), `TARMIM_SCORECARD_THRESHOLD`, `TARMIM_SCORECARD_MIN_TASKS`, `TARMIM_SCORECARD_ACK_TARGET_MINUTES`, `TARMIM_ANALYTICS_IN_MEMORY` (`on`: measures from the in-memory mirror; `off`: SQL) | see `server/README.md`, "Analytics" |
//! | `[report]` `per_minute`, `pow_bits`, `inbox` | `TARMIM_REPORT_PER_MINUTE`, `TARMIM_REPORT_POW_BITS`, `TARMIM_MESSAGE_INBOX` | `5` reports per client address per minute, `16` proof-of-work bits, `district` (non-field messages go to their district's inbox, else the city's; `city`: always the city's) |
//! | `[desk]` `caller_key`, `call_timeout_secs` | `TARMIM_CALLER_KEY` (64 hex digits), `TARMIM_CALL_TIMEOUT_SECS` | none: a random key kept in `data_dir/caller.key` (replicas must share one: set it), `7200`: a call not ended by then is closed as abandoned |
//! | `[roster]` `gap_lead_secs`, `tick_ms` | `TARMIM_ROSTER_GAP_LEAD_SECS`, `TARMIM_ROSTER_TICK_MS` | `86400` (a coverage gap within a day raises a dispatcher alert), `60000` |
//! | `[limits]` | `TARMIM_LOGIN_*`, `TARMIM_HEADER_TIMEOUT_SECS`, `TARMIM_REQUEST_TIMEOUT_SECS`, `TARMIM_MAX_CONNECTIONS`, `TARMIM_SYNC_MAX_SOCKETS*`, `TARMIM_OPEN311_MAX_BODY_BYTES`, … | see `limits` and `docs/security.md` |
//! | `[integrity]` (file only) | — | no categories: the integrity channel refuses reports (see `docs/integrity.md`) |

pub mod analytics;
pub mod desk;
pub mod integrity;
pub mod limits;
pub mod open311;
pub mod outbox;
pub mod push;
pub mod report;
pub mod roster;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file does not parse.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The `[integrity]` settings are inconsistent.
    #[error("integrity settings: {0}")]
    Integrity(String),
    /// An environment variable has a value that does not parse.
    #[error("environment variable {var}={value:?} is invalid: {why}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        why: String,
    },
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database and photos live.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL + PostGIS; `sqlite://…` or none for SQLite.
    pub database_url: Option<String>,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The public base URL (`https://city.example`, no trailing `/`) absolute links start
    /// with; none: the request's `Host` ([`crate::base::public_url`]).
    pub public_url: Option<String>,
    /// A reverse proxy in front sets `X-Forwarded-Proto` and `X-Forwarded-For`: links
    /// follow the first, every per-client limit counts the last address of the second
    /// ([`crate::http::client`]).
    pub trusted_proxy: bool,
    /// The bearer token `GET /metrics` on `listen` asks for; none: not served there.
    /// Metrics time every request, so they are never public (docs/security.md).
    pub metrics_token: Option<String>,
    /// A second address serving only `GET /metrics`, without a token (a private
    /// interface the scraper reaches); none: no second listener.
    pub metrics_listen: Option<SocketAddr>,
    /// District given to a point outside every district; none refuses such points.
    pub default_district: Option<String>,
    /// Whether crew members also sync their district's open tasks (`open:<district>`).
    pub crew_sees_district_open: bool,
    /// Lifetime of a login token, in hours.
    pub token_ttl_hours: u64,
    /// Seed the demo city when the database is empty.
    pub demo: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// A sync connection that receives nothing (no frame, no ping) for this many seconds
    /// is closed.
    pub sync_idle_timeout_secs: u64,
    /// Largest WebSocket message, and largest `POST /api/v1/sync/exchange` body, in bytes.
    pub sync_max_message_bytes: usize,
    /// The console map's tile URL template (`https://…/{z}/{x}/{y}.png`); none draws no tiles.
    pub tile_url: Option<String>,
    /// Seconds an assigned urgent job may wait for its acknowledgement before escalation.
    pub dispatch_ack_secs_urgent: u64,
    /// The same for high, normal and low jobs.
    pub dispatch_ack_secs_other: u64,
    /// Seconds from creation to the completion deadline, overriding the service's.
    pub dispatch_complete_secs: Option<u64>,
    /// How often each replica looks for due escalation timers, in milliseconds.
    pub dispatch_tick_ms: u64,
    /// Smallest interval between two accepted position reports of one user, whichever device (ms).
    pub position_min_interval_ms: u64,
    /// Largest photo upload, bytes.
    pub photo_max_bytes: u64,
    /// Largest photo width × height.
    pub photo_max_pixels: u64,
    /// Largest total of one device's unfinished photo uploads, bytes.
    pub photo_device_quota_bytes: u64,
    /// A photo whose EXIF position is farther than this from its task is flagged.
    pub photo_max_distance_m: f64,
    /// A photo whose EXIF time is earlier than its task's creation by more is flagged.
    pub photo_clock_skew_secs: u64,
    /// Photos decoded at once.
    pub photo_workers: usize,
    /// Hours after which an unfinished upload is discarded (its bytes and its quota).
    pub photo_upload_ttl_hours: u64,
    /// S3 bucket for photos; none keeps them on disk.
    pub photo_s3_bucket: Option<String>,
    /// S3 endpoint URL (none: AWS).
    pub photo_s3_endpoint: Option<String>,
    /// S3 region.
    pub photo_s3_region: String,
    /// The integrity channel (`[integrity]`: categories, investigators' public keys, limits).
    pub integrity: integrity::IntegrityConfig,
    /// Days after completion during which a citizen may rate or say "not fixed" (each new
    /// task stores it as its reopen window).
    pub feedback_window_days: u64,
    /// Tracking-code requests accepted per client address per minute.
    pub track_lookups_per_minute: u32,
    /// Open311 (`[open311]`: duplicate radius, media limits, public URL).
    pub open311: open311::Open311Config,
    /// The outbox and the citizens' notification channels (`[outbox]`).
    pub outbox: outbox::OutboxConfig,
    /// Crews' push wake-ups (`[push]`: services, credentials, coalescing).
    pub push: push::PushConfig,
    /// The city's IANA time zone: analytics count days in it, Open311 datetimes carry
    /// its offset, EXIF times without an offset are read in it (`crate::base::time`).
    pub timezone: String,
    /// Analytics (`[analytics]`: scorecard weights, threshold, minimum tasks, ack target).
    pub analytics: analytics::AnalyticsConfig,
    /// The citizens' report page (`[report]`: rate limit, proof of work, message inboxes).
    pub report: report::ReportConfig,
    /// Limits against hostile clients (`[limits]`: login throttling, timeouts, caps).
    pub limits: limits::LimitsConfig,
    /// The call centre's desk (`[desk]`: the caller key, the call timeout).
    pub desk: desk::DeskConfig,
    /// Crews' rosters (`[roster]`: the coverage gap alert's lead, the check's interval).
    pub roster: roster::RosterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8137)),
            public_url: None,
            trusted_proxy: false,
            metrics_token: None,
            metrics_listen: None,
            default_district: None,
            crew_sees_district_open: false,
            token_ttl_hours: 24 * 30,
            demo: true,
            log_format: LogFormat::Pretty,
            sync_idle_timeout_secs: 300,
            sync_max_message_bytes: 16 * 1024 * 1024,
            tile_url: None,
            dispatch_ack_secs_urgent: 15 * 60,
            dispatch_ack_secs_other: 4 * 60 * 60,
            dispatch_complete_secs: None,
            dispatch_tick_ms: 1000,
            position_min_interval_ms: 5000,
            photo_max_bytes: 32 * 1024 * 1024,
            photo_max_pixels: 50_000_000,
            photo_device_quota_bytes: 256 * 1024 * 1024,
            photo_max_distance_m: 200.0,
            photo_clock_skew_secs: 600,
            photo_workers: 2,
            photo_upload_ttl_hours: 168,
            photo_s3_bucket: None,
            photo_s3_endpoint: None,
            photo_s3_region: "us-east-1".into(),
            integrity: integrity::IntegrityConfig::default(),
            feedback_window_days: 14,
            track_lookups_per_minute: 60,
            open311: open311::Open311Config::default(),
            outbox: outbox::OutboxConfig::default(),
            push: push::PushConfig::default(),
            timezone: "Asia/Tehran".into(),
            analytics: analytics::AnalyticsConfig::default(),
            report: report::ReportConfig::default(),
            limits: limits::LimitsConfig::default(),
            desk: desk::DeskConfig::default(),
            roster: roster::RosterConfig::default(),
        }
    }
}

impl Config {
    /// The citizens' feedback window in milliseconds (the reopen window of new tasks).
    pub fn feedback_window_ms(&self) -> i64 {
        i64::try_from(self.feedback_window_days)
            .unwrap_or(i64::MAX)
            .saturating_mul(24 * 60 * 60 * 1000)
    }

    /// Loads the configuration from the process environment (and `TARMIM_CONFIG`'s file).
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::load(|k| std::env::var(k).ok())
    }

    /// Loads the configuration, reading variables through `env` (for tests).
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut cfg = match env("TARMIM_CONFIG").filter(|s| !s.is_empty()) {
            Some(path) => Self::from_file(Path::new(&path))?,
            None => Config::default(),
        };
        // The integrity channel's old key is an alias of the shared setting; the
        // environment below still overrides it.
        if cfg.integrity.trust_forwarded_for {
            cfg.trusted_proxy = true;
        }
        let get = |k: &str| env(k).filter(|s| !s.is_empty());
        if let Some(v) = get("TARMIM_DATA_DIR") {
            cfg.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("DATABASE_URL") {
            cfg.database_url = Some(v);
        }
        if let Some(v) = get("TARMIM_LISTEN") {
            cfg.listen = v
                .parse()
                .map_err(|e: std::net::AddrParseError| ConfigError::Env {
                    var: "TARMIM_LISTEN",
                    value: v.clone(),
                    why: e.to_string(),
                })?;
        }
        if let Some(v) = get("TARMIM_PUBLIC_URL").or_else(|| get("TARMIM_OPEN311_PUBLIC_URL")) {
            cfg.public_url = Some(v);
        }
        if let Some(v) = get("TARMIM_TRUSTED_PROXY") {
            cfg.trusted_proxy = parse_bool("TARMIM_TRUSTED_PROXY", &v)?;
        }
        if let Some(v) = get("TARMIM_METRICS_TOKEN") {
            cfg.metrics_token = Some(v);
        }
        if let Some(v) = get("TARMIM_METRICS_LISTEN") {
            cfg.metrics_listen =
                Some(
                    v.parse()
                        .map_err(|e: std::net::AddrParseError| ConfigError::Env {
                            var: "TARMIM_METRICS_LISTEN",
                            value: v.clone(),
                            why: e.to_string(),
                        })?,
                );
        }
        if let Some(url) = &mut cfg.public_url {
            url.truncate(url.trim_end_matches('/').len());
        }
        if let Some(v) = get("TARMIM_DEFAULT_DISTRICT") {
            cfg.default_district = Some(v);
        }
        if let Some(v) = get("TARMIM_CREW_SEES_DISTRICT_OPEN") {
            cfg.crew_sees_district_open = parse_bool("TARMIM_CREW_SEES_DISTRICT_OPEN", &v)?;
        }
        if let Some(v) = get("TARMIM_DEMO") {
            cfg.demo = parse_bool("TARMIM_DEMO", &v)?;
        }
        if let Some(v) = get("TARMIM_TOKEN_TTL_HOURS") {
            cfg.token_ttl_hours =
                v.parse()
                    .map_err(|e: std::num::ParseIntError| ConfigError::Env {
                        var: "TARMIM_TOKEN_TTL_HOURS",
                        value: v.clone(),
                        why: e.to_string(),
                    })?;
        }
        if let Some(v) = get("TARMIM_SYNC_IDLE_TIMEOUT_SECS") {
            cfg.sync_idle_timeout_secs = parse_num("TARMIM_SYNC_IDLE_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = get("TARMIM_SYNC_MAX_MESSAGE_BYTES") {
            cfg.sync_max_message_bytes = parse_num("TARMIM_SYNC_MAX_MESSAGE_BYTES", &v)?;
        }
        if let Some(v) = get("TARMIM_TILE_URL") {
            cfg.tile_url = Some(v);
        }
        if let Some(v) = get("TARMIM_DISPATCH_ACK_SECS_URGENT") {
            cfg.dispatch_ack_secs_urgent = parse_num("TARMIM_DISPATCH_ACK_SECS_URGENT", &v)?;
        }
        if let Some(v) = get("TARMIM_DISPATCH_ACK_SECS_OTHER") {
            cfg.dispatch_ack_secs_other = parse_num("TARMIM_DISPATCH_ACK_SECS_OTHER", &v)?;
        }
        if let Some(v) = get("TARMIM_DISPATCH_COMPLETE_SECS") {
            cfg.dispatch_complete_secs = Some(parse_num("TARMIM_DISPATCH_COMPLETE_SECS", &v)?);
        }
        if let Some(v) = get("TARMIM_DISPATCH_TICK_MS") {
            cfg.dispatch_tick_ms = parse_num("TARMIM_DISPATCH_TICK_MS", &v)?;
        }
        if let Some(v) = get("TARMIM_POSITION_MIN_INTERVAL_MS") {
            cfg.position_min_interval_ms = parse_num("TARMIM_POSITION_MIN_INTERVAL_MS", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_MAX_BYTES") {
            cfg.photo_max_bytes = parse_num("TARMIM_PHOTO_MAX_BYTES", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_MAX_PIXELS") {
            cfg.photo_max_pixels = parse_num("TARMIM_PHOTO_MAX_PIXELS", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_DEVICE_QUOTA_BYTES") {
            cfg.photo_device_quota_bytes = parse_num("TARMIM_PHOTO_DEVICE_QUOTA_BYTES", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_MAX_DISTANCE_M") {
            cfg.photo_max_distance_m = parse_num("TARMIM_PHOTO_MAX_DISTANCE_M", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_CLOCK_SKEW_SECS") {
            cfg.photo_clock_skew_secs = parse_num("TARMIM_PHOTO_CLOCK_SKEW_SECS", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_UTC_OFFSET_MINUTES") {
            // A fixed offset cannot follow daylight saving; the zone replaced it.
            return Err(ConfigError::Env {
                var: "TARMIM_PHOTO_UTC_OFFSET_MINUTES",
                value: v,
                why: "no longer read: EXIF times without an offset are local time in \
                      TARMIM_TIMEZONE (an IANA zone such as Asia/Tehran)"
                    .into(),
            });
        }
        if let Some(v) = get("TARMIM_PHOTO_WORKERS") {
            cfg.photo_workers = parse_num("TARMIM_PHOTO_WORKERS", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_UPLOAD_TTL_HOURS") {
            cfg.photo_upload_ttl_hours = parse_num("TARMIM_PHOTO_UPLOAD_TTL_HOURS", &v)?;
        }
        if let Some(v) = get("TARMIM_PHOTO_S3_BUCKET") {
            cfg.photo_s3_bucket = Some(v);
        }
        if let Some(v) = get("TARMIM_PHOTO_S3_ENDPOINT") {
            cfg.photo_s3_endpoint = Some(v);
        }
        if let Some(v) = get("TARMIM_PHOTO_S3_REGION") {
            cfg.photo_s3_region = v;
        }
        if let Some(v) = get("TARMIM_FEEDBACK_WINDOW_DAYS") {
            cfg.feedback_window_days = parse_num("TARMIM_FEEDBACK_WINDOW_DAYS", &v)?;
        }
        if let Some(v) = get("TARMIM_TRACK_LOOKUPS_PER_MINUTE") {
            cfg.track_lookups_per_minute = parse_num("TARMIM_TRACK_LOOKUPS_PER_MINUTE", &v)?;
        }
        if let Some(v) = get("TARMIM_LOG_FORMAT") {
            cfg.log_format = match v.as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Env {
                        var: "TARMIM_LOG_FORMAT",
                        value: v,
                        why: "expected `pretty` or `json`".into(),
                    });
                }
            };
        }
        cfg.limits
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        cfg.open311
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        cfg.report
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        cfg.desk
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        cfg.roster
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        cfg.outbox
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        cfg.push
            .apply_env(get)
            .map_err(|(var, value, why)| ConfigError::Env { var, value, why })?;
        if let Some(v) = get("TARMIM_TIMEZONE") {
            cfg.timezone = v;
        }
        crate::base::time::zone(&cfg.timezone).map_err(|why| ConfigError::Env {
            var: "TARMIM_TIMEZONE",
            value: cfg.timezone.clone(),
            why,
        })?;
        if let Some(v) = get("TARMIM_SCORECARD_WEIGHTS") {
            cfg.analytics.weights =
                cfg.analytics
                    .weights
                    .parse_over(&v)
                    .map_err(|why| ConfigError::Env {
                        var: "TARMIM_SCORECARD_WEIGHTS",
                        value: v.clone(),
                        why,
                    })?;
        }
        if let Some(v) = get("TARMIM_SCORECARD_THRESHOLD") {
            cfg.analytics.threshold = parse_num("TARMIM_SCORECARD_THRESHOLD", &v)?;
        }
        if let Some(v) = get("TARMIM_SCORECARD_MIN_TASKS") {
            cfg.analytics.min_tasks = parse_num("TARMIM_SCORECARD_MIN_TASKS", &v)?;
        }
        if let Some(v) = get("TARMIM_SCORECARD_ACK_TARGET_MINUTES") {
            cfg.analytics.ack_target_minutes =
                parse_num("TARMIM_SCORECARD_ACK_TARGET_MINUTES", &v)?;
        }
        if let Some(v) = get("TARMIM_ANALYTICS_IN_MEMORY") {
            cfg.analytics.in_memory = match v.as_str() {
                "1" | "true" | "on" => true,
                "0" | "false" | "off" => false,
                _ => {
                    return Err(ConfigError::Env {
                        var: "TARMIM_ANALYTICS_IN_MEMORY",
                        value: v.clone(),
                        why: "expected on or off (true/false, 1/0)".into(),
                    });
                }
            };
        }
        cfg.integrity.check().map_err(ConfigError::Integrity)?;
        if let Some(k) = &cfg.desk.caller_key {
            desk::parse_key(k).map_err(|why| ConfigError::Env {
                var: "TARMIM_CALLER_KEY",
                value: "<hidden>".into(),
                why,
            })?;
        }
        Ok(cfg)
    }

    /// Deprecated settings this configuration uses, each with what to write instead:
    /// the server logs them at start.
    pub fn deprecations(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.integrity.trust_forwarded_for {
            out.push(
                "[integrity] trust_forwarded_for is deprecated: it now turns on the \
                 server-wide trusted_proxy (every per-client limit counts the last \
                 X-Forwarded-For address; links follow X-Forwarded-Proto); write \
                 trusted_proxy = true (TARMIM_TRUSTED_PROXY=true) instead",
            );
        }
        out
    }

    /// Reads a TOML file with the same settings (unknown keys are refused).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // `[open311] public_url`, from before the setting was the whole server's.
        if let Some(url) = cfg.open311.public_url.take() {
            cfg.public_url.get_or_insert(url);
        }
        Ok(cfg)
    }

    /// The city's zone. Checked when the settings are read; a zone that does not exist
    /// (settings built in code) is UTC, with an error in the log.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        crate::base::time::zone(&self.timezone).unwrap_or_else(|why| {
            tracing::error!(%why, "using UTC");
            jiff::tz::TimeZone::UTC
        })
    }

    /// Whether the configured database is PostgreSQL.
    pub fn uses_postgres(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    /// The SQLite database file used when no PostgreSQL URL is configured.
    pub fn sqlite_path(&self) -> PathBuf {
        match self.database_url.as_deref() {
            Some(url) if url.starts_with("sqlite://") => {
                PathBuf::from(url.trim_start_matches("sqlite://"))
            }
            Some(url) if url.starts_with("sqlite:") => {
                PathBuf::from(url.trim_start_matches("sqlite:"))
            }
            _ => self.data_dir.join("tarmim.sqlite3"),
        }
    }

    /// How long a silent sync connection is kept.
    pub fn sync_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.sync_idle_timeout_secs.max(1))
    }

    /// Token lifetime in milliseconds.
    pub fn token_ttl_ms(&self) -> i64 {
        i64::try_from(self.token_ttl_hours)
            .unwrap_or(i64::MAX / 3_600_000)
            .saturating_mul(3_600_000)
    }
}

fn parse_num<T: std::str::FromStr>(var: &'static str, v: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e: T::Err| ConfigError::Env {
        var,
        value: v.to_owned(),
        why: e.to_string(),
    })
}

fn parse_bool(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Env {
            var,
            value: v.to_owned(),
            why: "expected true or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn public_url_and_its_old_names() {
        let url = |pairs: &[(&str, &str)]| Config::load(env(pairs)).unwrap().public_url;
        assert_eq!(url(&[]), None);
        let old = ("TARMIM_OPEN311_PUBLIC_URL", "https://old.example/");
        assert_eq!(url(&[old]).as_deref(), Some("https://old.example"));
        let new = ("TARMIM_PUBLIC_URL", "https://city.example");
        assert_eq!(url(&[old, new]).as_deref(), Some("https://city.example"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[open311]\npublic_url = \"https://file.example\"\n").unwrap();
        let path = file.to_str().unwrap();
        let c = Config::load(env(&[("TARMIM_CONFIG", path)])).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://file.example"));
        assert_eq!(c.open311.public_url, None);
        let c = Config::load(env(&[("TARMIM_CONFIG", path), new])).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://city.example"));
        assert!(!Config::default().trusted_proxy);
        assert!(
            Config::load(env(&[("TARMIM_TRUSTED_PROXY", "on")]))
                .unwrap()
                .trusted_proxy
        );
        assert!(Config::load(env(&[("TARMIM_TRUSTED_PROXY", "maybe")])).is_err());
        assert!(Config::default().deprecations().is_empty());
    }

    /// Issue 16 §17: the integrity channel's old `trust_forwarded_for` is an alias of
    /// the shared `trusted_proxy`, warned about; the environment still overrides it.
    #[test]
    fn integrity_trust_forwarded_for_is_an_alias_of_trusted_proxy() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[integrity]\ntrust_forwarded_for = true\n").unwrap();
        let path = file.to_str().unwrap();
        let c = Config::load(env(&[("TARMIM_CONFIG", path)])).unwrap();
        assert!(c.trusted_proxy);
        assert_eq!(c.deprecations().len(), 1);
        let off = ("TARMIM_TRUSTED_PROXY", "false");
        assert!(
            !Config::load(env(&[("TARMIM_CONFIG", path), off]))
                .unwrap()
                .trusted_proxy
        );
    }

    #[test]
    fn defaults_without_environment() {
        let c = Config::load(env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert!(!c.uses_postgres());
        assert_eq!(c.sqlite_path(), PathBuf::from("./data/tarmim.sqlite3"));
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tarmim.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndefault_district = \"D01\"\ncrew_sees_district_open = true\n",
        )
        .unwrap();
        let c = Config::load(env(&[
            ("TARMIM_CONFIG", file.to_str().unwrap()),
            ("DATABASE_URL", "postgres://x@h/db"),
            ("TARMIM_LISTEN", "127.0.0.1:1"),
        ]))
        .unwrap();
        assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 1)));
        assert_eq!(c.default_district.as_deref(), Some("D01"));
        assert!(c.crew_sees_district_open);
        assert!(c.uses_postgres());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Config::load(env(&[("TARMIM_LISTEN", "nowhere")])).is_err());
        assert!(Config::load(env(&[("TARMIM_DEMO", "maybe")])).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "no_such_setting = 1\n").unwrap();
        assert!(Config::load(env(&[("TARMIM_CONFIG", file.to_str().unwrap())])).is_err());
    }

    #[test]
    fn analytics_settings() {
        let c = Config::load(env(&[
            ("TARMIM_TIMEZONE", "Europe/Berlin"),
            ("TARMIM_SCORECARD_WEIGHTS", "sla=50, ack=0"),
            ("TARMIM_SCORECARD_THRESHOLD", "70"),
        ]))
        .unwrap();
        assert_eq!(c.timezone, "Europe/Berlin");
        assert_eq!(c.analytics.weights.sla, 50.0);
        assert_eq!(c.analytics.weights.ack, 0.0);
        assert_eq!(c.analytics.weights.reopen, 20.0);
        assert_eq!(c.analytics.threshold, 70.0);
        assert!(c.analytics.in_memory);
        assert_eq!(c.zone(), jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        let off = Config::load(env(&[("TARMIM_ANALYTICS_IN_MEMORY", "off")])).unwrap();
        assert!(!off.analytics.in_memory);
        for (k, v) in [
            ("TARMIM_TIMEZONE", "Mars/Olympus"),
            ("TARMIM_SCORECARD_WEIGHTS", "sla=-1"),
            ("TARMIM_SCORECARD_WEIGHTS", "speed=3"),
            ("TARMIM_SCORECARD_MIN_TASKS", "few"),
            ("TARMIM_ANALYTICS_IN_MEMORY", "maybe"),
            // Replaced by the zone: refused rather than silently ignored.
            ("TARMIM_PHOTO_UTC_OFFSET_MINUTES", "210"),
        ] {
            assert!(Config::load(env(&[(k, v)])).is_err(), "{k}={v}");
        }
    }
}
