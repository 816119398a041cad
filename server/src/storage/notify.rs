//! Announcing commits (and session cuts) to the other replicas of one PostgreSQL
//! database: `NOTIFY` on a channel, and a connection that `LISTEN`s to it. SQLite has a single process and no
//! such thing. What is announced (comma-joined scope ids) and what is done on hearing it
//! is the sync hub's business; this module only carries the text.

use super::DbError;
use sqlx::postgres::{PgListener, PgPool};

/// The channel commits are announced on.
pub const CHANNEL: &str = "tarmim_scopes";

/// The channel a change to the catalogue (services, SLA terms, attribute definitions,
/// districts' auto-assignment, Open311 API keys, district boundaries) is announced on, by
/// the tables' triggers (migrations 0047, 0048):
/// every replica drops its cache ([`super::catalogue`]).
pub const CATALOGUE_CHANNEL: &str = "tarmim_catalogue";

/// The largest payload to send: PostgreSQL refuses payloads of 8000 bytes or more.
pub const MAX_PAYLOAD: usize = 7_900;

/// Sends each payload on [`CHANNEL`], in order. Each must be under [`MAX_PAYLOAD`].
pub async fn notify(pool: &PgPool, payloads: &[String]) -> Result<(), DbError> {
    for payload in payloads {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Scope ids as comma-joined payloads under [`MAX_PAYLOAD`].
pub fn payloads<S: AsRef<str>>(scopes: &[S]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for s in scopes {
        let s = s.as_ref();
        if !cur.is_empty() && cur.len() + 1 + s.len() > MAX_PAYLOAD {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(s);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What a [`Listener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Scopes committed to, on [`CHANNEL`] (the payload).
    Scopes(String),
    /// A session cut was written ([`super::sessions::CHANNEL`]): read the log.
    SessionCut,
    /// The catalogue changed ([`CATALOGUE_CHANNEL`]).
    Catalogue,
}

/// A connection of its own listening on [`CHANNEL`], on the session cuts' channel and on
/// [`CATALOGUE_CHANNEL`].
/// One connection for both, so that a cut and a commit after it are heard in that order
/// (a socket is closed before the commit's wake-up reaches it).
pub struct Listener(PgListener);

impl Listener {
    /// Connects with `pool`'s settings and starts listening.
    pub async fn connect(pool: &PgPool) -> Result<Listener, DbError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all([CHANNEL, super::sessions::CHANNEL, CATALOGUE_CHANNEL])
            .await?;
        Ok(Listener(listener))
    }

    /// The next notification; `None` when the connection was lost. The next call
    /// reconnects and listens again, but whatever was sent in between is not heard.
    pub async fn recv(&mut self) -> Result<Option<Heard>, DbError> {
        Ok(self.0.try_recv().await?.map(|n| {
            if n.channel() == super::sessions::CHANNEL {
                Heard::SessionCut
            } else if n.channel() == CATALOGUE_CHANNEL {
                Heard::Catalogue
            } else {
                Heard::Scopes(n.payload().to_owned())
            }
        }))
    }
}
