//! The log of cut sessions (`session_cuts`): one row per revocation or scope change of a
//! user's sessions, written in the transaction of the change itself, so that no change
//! commits without its row. Every replica's registry of live sync sockets and console
//! streams (`domain::sessions`) reads the rows after the last one it applied: on SQLite by
//! polling (the CLI is another process), on PostgreSQL woken by `NOTIFY tarmim_sessions`
//! (sent in the same transaction, so delivered at its commit, to every replica).
//!
//! The changes that cut sessions live here too, each with its row in one transaction:
//! disabling a user, a user's new districts, a user's new crew. (Revoking tokens and a
//! crew's new district write theirs in `storage::identity`.)

use super::{Db, DbError, Tx, on_pool, on_tx};
use sync_core::Millis;

/// The PostgreSQL channel a cut is announced on.
pub const CHANNEL: &str = "tarmim_sessions";

/// Cuts older than this are pruned when a new one is written: a replica that was away
/// longer than that had no live session to cut anyway.
const KEEP_MS: Millis = 24 * 3600 * 1000;

/// The advisory lock taken before a cut's `seq` is drawn (PostgreSQL): cuts then commit in
/// `seq` order, so a reader that saw `seq` n has seen every cut below n.
const SEQ_LOCK: i64 = 0x7461_726d_0016;

/// What a cut does to a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutKind {
    /// The session's token was revoked or its user disabled: close it for good.
    Revoked,
    /// The user's scopes changed (districts, crew, the crew's district, role): close it;
    /// a reconnect authenticates again and follows the new scopes.
    Rescoped,
}

impl CutKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CutKind::Revoked => "revoked",
            CutKind::Rescoped => "rescoped",
        }
    }

    fn parse(s: &str) -> Result<CutKind, DbError> {
        match s {
            "revoked" => Ok(CutKind::Revoked),
            "rescoped" => Ok(CutKind::Rescoped),
            other => Err(DbError::Corrupt(format!("unknown session cut {other:?}"))),
        }
    }
}

/// One cut, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Its place in the log.
    pub seq: i64,
    /// Whose sessions.
    pub user_id: String,
    /// Only the sessions of this token (a logout); `None`: every session of the user.
    pub token_hash: Option<Vec<u8>>,
    /// What happens to them.
    pub kind: CutKind,
}

#[derive(sqlx::FromRow)]
struct CutRow {
    seq: i64,
    user_id: String,
    token_hash: Option<Vec<u8>>,
    kind: String,
}

/// Writes a cut in `tx` (and, on PostgreSQL, its announcement, delivered at commit).
pub(crate) async fn record(
    tx: &mut Tx,
    user_id: &str,
    token_hash: Option<&[u8]>,
    kind: CutKind,
    at: Millis,
) -> Result<(), DbError> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SEQ_LOCK)
            .execute(&mut **t)
            .await?;
    }
    on_tx!(&mut *tx, conn => sqlx::query("DELETE FROM session_cuts WHERE at < $1")
        .bind(at.saturating_sub(KEEP_MS))
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    on_tx!(&mut *tx, conn => sqlx::query(
        "INSERT INTO session_cuts (user_id, token_hash, kind, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(kind.as_str())
    .bind(at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if let Tx::Postgres(t) = tx {
        // The payload is only a wake-up: listeners read the log from where they are.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// Writes a cut of its own (a scope change made elsewhere, e.g. an admin's role change).
pub async fn cut(
    db: &Db,
    user_id: &str,
    token_hash: Option<&[u8]>,
    kind: CutKind,
    at: Millis,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    record(&mut tx, user_id, token_hash, kind, at).await?;
    tx.commit().await
}

/// The last cut's `seq` (0 when there is none).
pub async fn last_seq(db: &Db) -> Result<i64, DbError> {
    let n: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT CAST(MAX(seq) AS BIGINT) FROM session_cuts",
    )
    .fetch_one(pool)
    .await)?;
    Ok(n.unwrap_or(0))
}

/// Up to `limit` cuts after `seq`, in order.
pub async fn after(db: &Db, seq: i64, limit: i64) -> Result<Vec<Cut>, DbError> {
    let rows: Vec<CutRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT seq, user_id, token_hash, kind FROM session_cuts WHERE seq > $1
         ORDER BY seq LIMIT $2",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(pool)
    .await)?;
    rows.into_iter()
        .map(|r| {
            Ok(Cut {
                seq: r.seq,
                user_id: r.user_id,
                token_hash: r.token_hash,
                kind: CutKind::parse(&r.kind)?,
            })
        })
        .collect()
}

/// Disables a user and revokes its tokens, with a cut. False when there is no such user.
pub async fn disable_user(db: &Db, user_id: &str, at: Millis) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query("UPDATE users SET disabled = TRUE WHERE id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Ok(false);
    }
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    record(&mut tx, user_id, None, CutKind::Revoked, at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Replaces a user's districts, with a cut. False when there is no such user.
pub async fn set_user_districts(
    db: &Db,
    user_id: &str,
    districts: &[String],
    at: Millis,
) -> Result<bool, DbError> {
    for d in districts {
        super::identity::check_code("district", d)?;
    }
    let mut tx = db.begin_write().await?;
    let exists: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await)?;
    if exists.is_none() {
        return Ok(false);
    }
    on_tx!(&mut tx, conn => sqlx::query("DELETE FROM user_districts WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    for d in districts {
        on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO user_districts (user_id, district) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(d)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| super::classify(e, "user district"))?;
    }
    record(&mut tx, user_id, None, CutKind::Rescoped, at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves a crew member to another crew, with a cut. False when there is no such crew
/// member; [`DbError::NotFound`] for an unknown crew.
pub async fn set_user_crew(
    db: &Db,
    user_id: &str,
    crew: &str,
    at: Millis,
) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE users SET crew = $1 WHERE id = $2 AND crew IS NOT NULL",
    )
    .bind(crew)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| super::classify(e, &format!("crew {crew}")))?;
    if n == 0 {
        return Ok(false);
    }
    record(&mut tx, user_id, None, CutKind::Rescoped, at).await?;
    tx.commit().await?;
    Ok(true)
}
