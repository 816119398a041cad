//! The accept loop: HTTP/1.1 over each TCP connection, with the limits a public server
//! needs against slow and piled-up clients (`[limits]`):
//!
//! - a header-read timeout (hyper's): a client that has not sent a request's headers in
//!   time is disconnected; it also ends an idle keep-alive connection waiting for its
//!   next request — slowloris costs a socket for seconds, not forever;
//! - a request timeout: a handler (its body reading included) that has not answered in
//!   time gets 408; an upgraded WebSocket or an answered event stream is not counted;
//! - a global connection cap: connections beyond it are closed as they are accepted,
//!   before a byte is read, so a flood costs no memory per connection beyond the kernel's.
//!   A connection's slot is freed when it closes or is upgraded (sync sockets have their
//!   own caps, [`crate::domain::throttle::SocketSlots`]).
//!
//! Graceful shutdown as before: stop accepting, let requests in flight finish.

use crate::base::config::limits::LimitsConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Serves `app` on `listener` with the default limits until `shutdown` resolves.
pub async fn serve_router(
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router_with(app, listener, &LimitsConfig::default(), shutdown).await
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves: the listener
/// stops accepting, idle connections close, and requests in flight run to completion
/// before this returns.
pub async fn serve_router_with(
    app: Router,
    listener: TcpListener,
    limits: &LimitsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_secs(limits.header_timeout_secs.max(1));
    let request_timeout = Duration::from_secs(limits.request_timeout_secs.max(1));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Dropping `stop_rx` tells every connection to shut down gracefully; every
    // connection holds a `done_rx`, so `done_tx.closed()` resolves when all have ended.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics::counter!("tarmim_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            // The peer address, for per-client limits (`http::client`); nothing logs it.
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let answer = tokio::time::timeout(request_timeout, app.oneshot(req.map(Body::new)));
                Ok::<Response, std::convert::Infallible>(match answer.await {
                    Ok(Ok(r)) => r,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        metrics::counter!("tarmim_requests_timed_out_total").increment(1);
                        (StatusCode::REQUEST_TIMEOUT, "request timeout").into_response()
                    }
                })
            }
        });
        let stop = stop_tx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let mut conn = pin!(conn);
            let mut stopping = pin!(stop.closed());
            let mut stopped = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = &mut stopping, if !stopped => {
                        stopped = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(slot);
            drop(done);
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}
