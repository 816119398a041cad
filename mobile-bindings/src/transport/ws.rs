//! The sync WebSocket (`GET /api/v1/sync`): binary messages carry sync-core frames.

use super::{Endpoint, TransportError};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// How long opening a connection (TCP, TLS, upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// An open sync connection.
#[derive(Debug)]
pub struct SyncSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What arrived on the socket.
#[derive(Debug)]
pub enum Incoming {
    /// A sync frame.
    Frame(Vec<u8>),
    /// The server closed the connection (or it broke).
    Closed(String),
}

impl SyncSocket {
    /// Opens the WebSocket with the bearer `token`.
    pub async fn connect(endpoint: &Endpoint, token: &str) -> Result<SyncSocket, TransportError> {
        let mut req = endpoint
            .ws_url()
            .into_client_request()
            .map_err(|e| TransportError::Unreachable(format!("sync URL: {e}")))?;
        let auth = format!("Bearer {token}")
            .parse()
            .map_err(|_| TransportError::Unauthorized("the token is not a valid header".into()))?;
        req.headers_mut().insert("authorization", auth);
        let connector = Connector::Rustls(super::endpoint::tls_config()?);
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(req, None, true, Some(connector));
        let (ws, _) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Err(_) => {
                return Err(TransportError::Unreachable(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Ok(ok)) => ok,
            Ok(Err(WsError::Http(resp))) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                return Err(match TransportError::from_status(status, None, &body) {
                    e @ (TransportError::Unauthorized(_)
                    | TransportError::AccountDisabled(_)
                    | TransportError::Forbidden(_)
                    | TransportError::RateLimited { .. }
                    | TransportError::Unavailable(_)) => e,
                    // Anything else (404, 400, 426 from a proxy that strips the upgrade…):
                    // this network does not pass WebSockets.
                    other => TransportError::NoWebSocket(other.to_string()),
                });
            }
            Ok(Err(WsError::Io(e))) => return Err(TransportError::Unreachable(e.to_string())),
            Ok(Err(WsError::Tls(e))) => {
                return Err(TransportError::Unreachable(format!("TLS: {e}")));
            }
            Ok(Err(e @ (WsError::Protocol(_) | WsError::HttpFormat(_) | WsError::Url(_)))) => {
                return Err(TransportError::NoWebSocket(e.to_string()));
            }
            Ok(Err(e)) => return Err(TransportError::Broken(e.to_string())),
        };
        Ok(SyncSocket { ws })
    }

    /// Sends frames in order.
    pub async fn send(&mut self, frames: Vec<Vec<u8>>) -> Result<(), TransportError> {
        for f in frames {
            self.ws
                .feed(Message::Binary(f.into()))
                .await
                .map_err(|e| TransportError::Broken(e.to_string()))?;
        }
        self.ws
            .flush()
            .await
            .map_err(|e| TransportError::Broken(e.to_string()))
    }

    /// A WebSocket ping: keeps the server's idle timeout and NAT bindings from closing a
    /// quiet connection.
    pub async fn ping(&mut self) -> Result<(), TransportError> {
        self.ws
            .send(Message::Ping(Vec::new().into()))
            .await
            .map_err(|e| TransportError::Broken(e.to_string()))
    }

    /// The next frame (control messages are handled here).
    pub async fn next(&mut self) -> Incoming {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => return Incoming::Frame(b.to_vec()),
                Some(Ok(Message::Close(c))) => {
                    return Incoming::Closed(
                        c.map(|c| format!("closed by the server: {} {}", c.code, c.reason))
                            .unwrap_or_else(|| "closed by the server".into()),
                    );
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Incoming::Closed(e.to_string()),
                None => return Incoming::Closed("connection ended".into()),
            }
        }
    }

    /// Closes politely (best effort).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}
