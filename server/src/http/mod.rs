//! The application: shared state, the router, and running the HTTP server with graceful
//! shutdown.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod callcentre;
pub mod client;
pub mod console;
pub mod contacts;
pub mod crews;
pub mod desk;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod gis;
pub mod health;
pub mod integrity;
pub mod metrics;
pub mod open311;
pub mod openapi;
pub mod outbox;
pub mod pages;
pub mod penalties;
pub mod photos;
pub mod places;
pub mod push;
pub mod queue;
pub mod report;
pub mod roster;
pub mod serve;
pub mod sync;
pub mod track;
pub mod track_push;
pub mod verify;

use crate::base::config::Config;
use crate::base::telemetry;
use crate::domain::analytics::mirror::Mirror;
use crate::domain::citizen::Citizens;
use crate::domain::dispatch::Dispatch;
use crate::domain::hub::Hub;
use crate::domain::integrity::Integrity;
use crate::domain::photo::Photos;
use crate::domain::sync_admission::Handshakes;
use crate::domain::throttle::{LoginThrottle, SocketSlots};
use crate::storage::{Db, DbError, Store};
use axum::{Extension, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// State shared by every handler. Cheap to clone. It exists only in the HTTP layer:
/// handlers hand each domain function the narrow part it uses (the store, the dispatch
/// engine, the photo pipeline, a settings section), never this.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub db: Db,
    /// Settings.
    pub config: Arc<Config>,
    /// Prometheus metrics.
    pub metrics: PrometheusHandle,
    /// The task lifecycle on this replica: store, hub, server-side edits, timers.
    pub dispatch: Arc<Dispatch>,
    /// Photo storage, processing slots and partial uploads.
    pub photos: Photos,
    /// Login throttling: hashing slots, attempts per account and per client address.
    pub login: Arc<LoginThrottle>,
    /// Open sync WebSockets, capped on the replica and per user.
    pub sockets: Arc<SocketSlots>,
    /// Sync handshakes admitted in turns (the reconnect storm).
    pub handshakes: Arc<Handshakes>,
    /// The integrity channel (rate limits, proof-of-work stamps, receipt-code work).
    pub integrity: Arc<Integrity>,
    /// The city's time zone (`config.timezone`, looked up once).
    pub zone: jiff::tz::TimeZone,
    /// The in-memory mirror of the analytics facts (`None` when `analytics.in_memory`
    /// is off: measures are then computed with SQL).
    pub analytics: Option<Mirror>,
    /// The key of callers' phone hashes (the call centre's desk).
    pub caller_key: Arc<crate::domain::callcentre::callers::CallerKey>,
}

impl AppState {
    /// Wraps an opened database. Photo storage as configured; a misconfigured S3 store
    /// is reported at start (here photos fall back to the data folder).
    pub fn new(db: Db, config: Config) -> AppState {
        let photos = Photos::from_config(&config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "photo storage misconfigured; using the data folder");
            Photos::on_disk(&config)
        });
        let pg = match &db {
            Db::Postgres(p) => Some(p.pool().clone()),
            Db::Sqlite(_) => None,
        };
        let hub = Hub::new(pg);
        let caller_key = crate::domain::callcentre::callers::CallerKey::load(&config)
            .unwrap_or_else(|e| {
                // Lookups by phone then find only this process's callers; the log says why.
                tracing::error!(error = %e, "caller key not loaded; using a temporary one");
                crate::domain::callcentre::callers::CallerKey::random()
            });
        AppState {
            caller_key: Arc::new(caller_key),
            dispatch: Arc::new(Dispatch::new(db.clone(), hub, &config)),
            db,
            integrity: Arc::new(Integrity::new(&config.integrity)),
            login: Arc::new(LoginThrottle::new(&config.limits)),
            sockets: SocketSlots::new(&config.limits),
            handshakes: Arc::new(Handshakes::new(&config.limits)),
            zone: config.zone(),
            analytics: config.analytics.in_memory.then(Mirror::new),
            config: Arc::new(config),
            metrics: telemetry::metrics_handle(),
            photos,
        }
    }

    /// Live sync connections by scope; commit announcements.
    pub fn hub(&self) -> &Hub {
        &self.dispatch.hub
    }

    /// What the citizens' flows (tracking page, feedback, Open311) use.
    pub fn citizens(&self) -> Citizens<'_> {
        Citizens {
            dispatch: &self.dispatch,
            photos: &self.photos,
            open311: &self.config.open311,
            zone: &self.zone,
            tile_url: &self.config.tile_url,
            report: &self.config.report,
            caller_key: &self.caller_key,
        }
    }

    /// What the call centre's desk uses.
    pub fn desk(&self) -> crate::domain::callcentre::Desk<'_> {
        crate::domain::callcentre::Desk {
            citizens: self.citizens(),
            sms_configured: self.config.outbox.sms_url.is_some(),
            call_timeout_ms: i64::try_from(self.config.desk.call_timeout_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        }
    }
}

/// Raw axum routes that are deliberately not in the OpenAPI document: static files under
/// a wildcard path, which OpenAPI cannot describe. Every other route is registered with
/// `utoipa_axum::routes!`, which puts it in the document; `server/tests/it/openapi.rs` fails
/// on any other plain `.route(` registration in `server/src`.
pub const UNDOCUMENTED_ROUTES: &[&str] = &[pages::ASSET_ROUTE];

/// Every route of the API with its OpenAPI entry (the integrity channel, nested outside
/// request tracing, is added by [`router`]). Each module contributes an
/// `OpenApiRouter<AppState>`: adding one is one `.merge(…)` line here, and its routes'
/// documentation joins the one document.
pub fn api_router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(openapi::openapi_json))
        .merge(health::router())
        .merge(auth::router())
        .merge(sync::router(state))
        .merge(crews::router())
        .merge(console::router())
        .merge(verify::router())
        .merge(queue::router())
        .merge(admin::router())
        .merge(penalties::router())
        .merge(roster::router())
        .merge(photos::router(state))
        .merge(gis::router())
        .merge(track::router())
        .merge(report::router(state))
        .merge(desk::router())
        .merge(places::router())
        .merge(callcentre::router())
        .merge(contacts::router())
        .merge(track_push::router())
        .merge(open311::router(state))
        .merge(analytics::router())
        .merge(outbox::router())
        .merge(push::router())
        .merge(pages::routes())
}

/// The router with every route and layer; `GET /api/openapi.json` serves the document of
/// all of them.
pub fn router(state: AppState) -> Router {
    let (integrity, integrity_doc) = integrity::router(state.clone());
    let (app, doc) = api_router(&state).split_for_parts();
    let doc = nest_integrity(doc, integrity_doc);
    app.fallback(fallback::no_route)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(Extension(openapi::Document::new(&doc)))
        // gzip for clients that ask (pages, scripts, JSON): the report page is meant for
        // cheap phones on slow links (BENCHMARKS.md). The default predicate leaves event
        // streams, images and tiny bodies alone.
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(crate::http::metrics::track_http))
        .layer(TraceLayer::new_for_http())
        // Nested after the layers above, so request tracing never sees these routes.
        .nest_service(integrity::PREFIX, integrity)
        .with_state(state)
}

/// Adds the integrity channel's entries under its prefix.
fn nest_integrity(
    doc: utoipa::openapi::OpenApi,
    integrity: utoipa::openapi::OpenApi,
) -> utoipa::openapi::OpenApi {
    doc.nest_with_path_composer(integrity::PREFIX, integrity, |prefix, p| {
        // The nested router's `/` is the prefix itself, as axum routes it.
        if p == "/" {
            prefix.to_owned()
        } else {
            format!("{prefix}{p}")
        }
    })
}

/// Failures while starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Photo storage is misconfigured.
    #[error(transparent)]
    Photos(crate::domain::photo::storage::StorageError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Serves on `listener` until `shutdown` resolves; in-flight requests then finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let metrics = health::listen_metrics(&state).await?;
    let db = state.db.clone();
    let hub = state.hub().clone();
    // Live sessions follow the log of cuts from its end, before any session opens; on
    // SQLite by polling it (the CLI writes to it from another process), on PostgreSQL
    // through the hub's listener.
    if let Err(e) = hub.sessions().start(&db).await {
        tracing::error!(error = %e, "cannot read the session cuts; live sessions are not cut");
    }
    let listen = hub.listen_postgres(db.clone());
    let cuts = match &db {
        Db::Sqlite(_) => Some(
            hub.sessions()
                .poll(db.clone(), crate::domain::sessions::POLL),
        ),
        Db::Postgres(_) => None,
    };
    // Escalation timers: every replica runs the loop; claims keep them from running twice.
    let escalation = crate::domain::dispatch::escalate::spawn(Arc::clone(&state.dispatch));
    let expiry = crate::domain::photo::expire::spawn(db.clone(), state.photos.clone());
    // The outbox: every replica claims rows; the first tick sweeps up what a stopped
    // server left.
    let outbox = crate::domain::outbox::spawn(Arc::new(crate::domain::outbox::Outbox {
        dispatch: Arc::clone(&state.dispatch),
        channels: crate::domain::notify::Channels::from_config(
            &state.config.outbox,
            &state.config.push,
        ),
        pushers: crate::domain::push::Pushers::from_config(&state.config.push),
        settings: state.dispatch.settings.outbox.clone(),
        base_url: state
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", state.config.listen)),
        quiet: state.config.outbox.quiet_hours().ok().flatten(),
        retention_days: state.config.outbox.contact_retention_days,
        zone: state.zone.clone(),
    }));
    // Rosters: shift-start wake-ups and coverage gap alerts, written once whichever
    // replica sees them first.
    let rosters = crate::domain::roster::spawn(
        Arc::clone(&state.dispatch),
        state.zone.clone(),
        state.config.roster.clone(),
    );
    // Penalty proposals: every replica sweeps the facts (proposals are idempotent).
    let penalties = tokio::spawn(crate::domain::penalties::propose::run(
        db.clone(),
        crate::domain::penalties::propose::EVERY,
    ));
    // The analytics mirror loads in the background, so the first manager need not wait.
    let warm = state.analytics.clone().map(|mirror| {
        let db = db.clone();
        tokio::spawn(async move {
            match mirror.refresh(&db).await {
                Ok(n) => tracing::info!(tasks = n, "analytics mirror loaded"),
                Err(e) => tracing::warn!(error = %e, "analytics mirror not loaded yet"),
            }
        })
    });
    let stopping = hub.clone();
    let shutdown = async move {
        shutdown.await;
        // Sync connections finish the frame in hand and close.
        stopping.shutdown();
    };
    let limits = state.config.limits.clone();
    let served = serve_router_with(router(state), listener, &limits, shutdown).await;
    if !hub.drained(Duration::from_secs(10)).await {
        tracing::warn!(
            connections = hub.connections(),
            "sync connections still open at shutdown"
        );
    }
    for task in [listen, cuts].into_iter().flatten() {
        task.abort();
    }
    escalation.abort();
    expiry.abort();
    outbox.abort();
    penalties.abort();
    rosters.abort();
    for task in [warm, metrics].into_iter().flatten() {
        task.abort();
    }
    served.map_err(StartError::Serve)?;
    db.close().await;
    tracing::info!("server stopped");
    Ok(())
}

pub use serve::{serve_router, serve_router_with};

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(db: Db, config: Config) -> Result<(), StartError> {
    let state = AppState::new(db, config);
    let addr = state.config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "listening");
    serve(state, listener, shutdown_signal()).await
}

/// A running server (tests, embedding): its address and a handle to stop it.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl RunningServer {
    /// Binds `addr` (port 0 for any free port) and serves in a background task.
    pub async fn start(state: AppState, addr: SocketAddr) -> Result<RunningServer, StartError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(state, listener, async move {
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Asks the server to stop, and waits until in-flight requests have finished.
    pub async fn shutdown(mut self) -> Result<(), StartError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(StartError::Serve(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
