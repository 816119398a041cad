//! The staff audit log: an append-only, hash-chained table (`audit_log`). Each row carries
//! the hash of the row before it and its own hash over its fields and that link, so a row
//! deleted or altered with raw SQL breaks the chain where it was ([`verify_chain`]).
//! Rows are numbered 1, 2, 3… without a gap: an append takes the table's write lock
//! (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock) before
//! reading the last row. The application has no statement that updates or deletes a row.
//!
//! The chain alone cannot show that its *last* rows were deleted: what is left still
//! links up. So each append also writes the chain's head (`audit_head`: the last row's
//! number and hash) in the same transaction, and [`verify_chain`] checks that the row the
//! head names is there with that hash. The head is in the same database, so someone who
//! can write raw SQL can still delete the last rows *and* set the head back, or rewrite
//! any rows and recompute every hash after them (SHA-256 has no key): that is caught
//! only by comparing with a head noted outside the database ([`Anchor`]; docs/audit.md).

use super::{Db, DbError, on_pool};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sync_core::Millis;

/// The first row's `prev_hash`.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// PostgreSQL advisory lock key of the audit chain (any constant unique to it).
const PG_LOCK: i64 = 0x7461_726d_6175_6474;

/// A staff action to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When.
    pub at: Millis,
    /// Who: user id, or the login typed for a failed login, or `cli` for the command line.
    pub actor: String,
    /// Their role (`dispatcher`, `admin`, …, `unknown`, `cli`).
    pub role: String,
    /// From which device (`cli` for the command line).
    pub device: String,
    /// What: `login`, `login_failed`, `assign`, `verify`, `reject`, `photo_original`,
    /// `export`, `admin.*`, …
    pub action: String,
    /// On what (a task id, a photo hash, a user), if anything.
    pub target: Option<String>,
    /// More, as JSON text.
    pub detail: String,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// 1, 2, 3… in the order written.
    pub seq: i64,
    /// When (ms since the epoch).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// From which device.
    pub device: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// More, as JSON text.
    pub detail: String,
    /// The previous row's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The hash of a row: SHA-256 (hex) over its fields and the previous row's hash, encoded
/// as one JSON array so no two different rows encode the same.
pub fn row_hash(seq: i64, e: &NewAuditEntry, prev_hash: &str) -> String {
    let canonical = serde_json::json!([
        seq, e.at, e.actor, e.role, e.device, e.action, e.target, e.detail, prev_hash
    ])
    .to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

impl AuditEntry {
    fn fields(&self) -> NewAuditEntry {
        NewAuditEntry {
            at: self.at,
            actor: self.actor.clone(),
            role: self.role.clone(),
            device: self.device.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            detail: self.detail.clone(),
        }
    }
}

type Tuple = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
);

fn from_tuple(t: Tuple) -> AuditEntry {
    AuditEntry {
        seq: t.0,
        at: t.1,
        actor: t.2,
        role: t.3,
        device: t.4,
        action: t.5,
        target: t.6,
        detail: t.7,
        prev_hash: t.8,
        hash: t.9,
    }
}

const COLUMNS: &str = "seq, at, actor, role, device, action, target, detail, prev_hash, hash";

/// Moves the head to the row being appended (same transaction as the row).
const HEAD_UPSERT: &str = "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash";

/// The chain's head as stored: the last row's number and hash (`0` and [`GENESIS`] for an
/// empty log), or `None` if the head row itself was deleted.
pub async fn head(db: &Db) -> Result<Option<(i64, String)>, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(pool)
        .await?),
    )
}

/// A row of the chain noted outside the database (its number and hash, as
/// `audit verify` printed them): the chain must still hold that row with that hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The row's number.
    pub seq: i64,
    /// Its hash (hex).
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// `SEQ:HASH`, e.g. `42:9f86d0…` (64 hex digits).
    fn from_str(s: &str) -> Result<Anchor, String> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("an anchor is SEQ:HASH, not {s:?}"))?;
        let seq: i64 = seq
            .trim()
            .parse()
            .map_err(|_| format!("an anchor's row number is a whole number, not {seq:?}"))?;
        let hash = hash.trim().to_ascii_lowercase();
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "an anchor is a row number from 1 and 64 hex digits, not {s:?}"
            ));
        }
        Ok(Anchor { seq, hash })
    }
}

/// Appends one row at the end of the chain. Returns it.
pub async fn append(db: &Db, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
    let last_sql = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
    let insert = format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    macro_rules! body {
        ($tx:ident) => {{
            let last: Option<(i64, String)> =
                sqlx::query_as(last_sql).fetch_optional(&mut *$tx).await?;
            let (seq, prev) = match last {
                Some((s, h)) => (s + 1, h),
                None => (1, GENESIS.to_owned()),
            };
            let hash = row_hash(seq, e, &prev);
            sqlx::query(HEAD_UPSERT)
                .bind(seq)
                .bind(&hash)
                .execute(&mut *$tx)
                .await?;
            sqlx::query(&insert)
                .bind(seq)
                .bind(e.at)
                .bind(&e.actor)
                .bind(&e.role)
                .bind(&e.device)
                .bind(&e.action)
                .bind(e.target.as_deref())
                .bind(&e.detail)
                .bind(&prev)
                .bind(&hash)
                .execute(&mut *$tx)
                .await?;
            $tx.commit().await?;
            Ok(AuditEntry {
                seq,
                at: e.at,
                actor: e.actor.clone(),
                role: e.role.clone(),
                device: e.device.clone(),
                action: e.action.clone(),
                target: e.target.clone(),
                detail: e.detail.clone(),
                prev_hash: prev,
                hash,
            })
        }};
    }
    match db {
        // SQLite: BEGIN IMMEDIATE holds the one write lock from the read of the last row.
        Db::Sqlite(s) => {
            let mut tx = s.pool().begin_with("BEGIN IMMEDIATE").await?;
            body!(tx)
        }
        Db::Postgres(s) => {
            let mut tx = s.pool().begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_LOCK)
                .execute(&mut *tx)
                .await?;
            body!(tx)
        }
    }
}

/// Rows with `seq` after `after`, oldest first, at most `limit`; only `action` if given.
pub async fn list(
    db: &Db,
    after: i64,
    limit: i64,
    action: Option<&str>,
) -> Result<Vec<AuditEntry>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND ($2 IS NULL OR action = $2)
         ORDER BY seq LIMIT $3"
    );
    let rows: Vec<Tuple> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(after)
        .bind(action)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    Ok(rows.into_iter().map(from_tuple).collect())
}

/// The newest rows first, at most `limit`, skipping `offset`.
pub async fn newest(db: &Db, limit: i64, offset: i64) -> Result<Vec<AuditEntry>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1 OFFSET $2");
    let rows: Vec<Tuple> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?);
    Ok(rows.into_iter().map(from_tuple).collect())
}

/// How many rows the log holds.
pub async fn count(db: &Db) -> Result<i64, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(pool)
        .await?),
    )
}

/// What [`verify_chain`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Rows read.
    pub rows: i64,
    /// The last row read (number and hash; `0` and [`GENESIS`] for an empty log): what
    /// to note outside the database as the next [`Anchor`].
    pub last: (i64, String),
    /// The first break, in words, if any.
    pub broken: Option<String>,
}

/// Reads the whole chain in order and checks every link: numbering without a gap, each
/// row's `prev_hash` equal to the row before's `hash`, each `hash` recomputed; then that
/// the chain reaches the head stored beside it (rows deleted at the end), and each of
/// `anchors` (heads noted outside the database) is still in it with its hash.
///
/// The head is read before the rows, so rows appended while the check runs are checked
/// too but never taken for a break.
pub async fn verify_chain(db: &Db, anchors: &[Anchor]) -> Result<ChainReport, DbError> {
    const PAGE: i64 = 5_000;
    let head = head(db).await?;
    let mut after = 0;
    let mut prev = GENESIS.to_owned();
    let mut rows = 0;
    let fail = |rows, after: i64, prev: &str, why: String| ChainReport {
        rows,
        last: (after, prev.to_owned()),
        broken: Some(why),
    };
    loop {
        let page = list(db, after, PAGE, None).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            rows += 1;
            let broken = if r.seq != after + 1 {
                Some(format!(
                    "row {} is missing: the row after {after} is {}",
                    after + 1,
                    r.seq
                ))
            } else if r.prev_hash != prev {
                Some(format!(
                    "row {} does not link to row {after}: the chain was cut or rewritten there",
                    r.seq
                ))
            } else if row_hash(r.seq, &r.fields(), &r.prev_hash) != r.hash {
                Some(format!(
                    "row {} was altered: its hash does not match its fields",
                    r.seq
                ))
            } else {
                None
            };
            if let Some(why) = broken {
                return Ok(ChainReport {
                    rows,
                    last: (after, prev),
                    broken: Some(why),
                });
            }
            if let Some(a) = anchors.iter().find(|a| a.seq == r.seq && a.hash != r.hash) {
                return Ok(fail(
                    rows,
                    after,
                    &prev,
                    format!(
                        "row {} is not the row noted outside the database (its hash was {}…, it is {}…): the chain was rewritten up to there",
                        a.seq,
                        &a.hash[..12],
                        &r.hash[..12]
                    ),
                ));
            }
            after = r.seq;
            prev = r.hash.clone();
        }
    }
    let why = match head {
        None => Some("the chain's head (audit_head) is missing: it was deleted".to_owned()),
        Some((seq, _)) if seq > after => Some(format!(
            "row {} is missing at the end: the head says the last row is {seq}, the chain stops at {after}",
            after + 1
        )),
        Some((seq, hash)) if seq == after && hash != prev => Some(format!(
            "the last row ({seq}) is not the one the head recorded: the end of the chain was rewritten"
        )),
        // Behind the last row: rows appended since the head was read (checked above).
        Some(_) => None,
    };
    if let Some(why) = why {
        return Ok(fail(rows, after, &prev, why));
    }
    if let Some(a) = anchors.iter().find(|a| a.seq > after) {
        return Ok(fail(
            rows,
            after,
            &prev,
            format!(
                "row {} noted outside the database is gone: the chain stops at {after}",
                a.seq
            ),
        ));
    }
    Ok(ChainReport {
        rows,
        last: (after, prev),
        broken: None,
    })
}
