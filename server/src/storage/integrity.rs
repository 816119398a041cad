//! Case storage on either backend: cases (lookup, code verifier, reporter's public key,
//! hour-rounded times) and their sealed messages and attachments. Only ciphertext and
//! times go in; this module never sees a plaintext.

use crate::storage::sqlite::classify;
use crate::storage::{Db, DbError, on_pool};
use sqlx::Row;

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    /// Case id (`C-…`), what investigators refer to.
    pub id: String,
    /// Public half of the receipt code.
    pub lookup: String,
    /// Argon2 salt.
    pub code_salt: Vec<u8>,
    /// Argon2 parameters (`KdfParams::encode`).
    pub code_kdf: String,
    /// The stored verifier.
    pub code_verifier: Vec<u8>,
    /// The reporter's age public key (derived from the code).
    pub reporter_recipient: String,
    /// Created (hour).
    pub created_at: i64,
    /// The receipt code stops working after this.
    pub expires_at: i64,
}

/// A sealed message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Position in the case, from 1 (the report).
    pub seq: i64,
    /// The age ciphertext.
    pub ciphertext: Vec<u8>,
    /// Written (hour).
    pub created_at: i64,
}

/// A sealed attachment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// The message it belongs to.
    pub seq: i64,
    /// Index in that message.
    pub idx: i64,
    /// The age ciphertext.
    pub ciphertext: Vec<u8>,
}

/// Case summary for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    /// The case.
    pub case: CaseRow,
    /// Messages in it.
    pub messages: i64,
    /// Time of the newest one (hour).
    pub last_at: i64,
}

/// `$n` placeholders as the backend wants them (SQLite reads `?n`).
fn sql(db: &Db, text: &str) -> String {
    match db {
        Db::Sqlite(_) => text.replace('$', "?"),
        Db::Postgres(_) => text.to_owned(),
    }
}

macro_rules! case_from_row {
    ($r:expr) => {
        CaseRow {
            id: $r.try_get("id")?,
            lookup: $r.try_get("lookup")?,
            code_salt: $r.try_get("code_salt")?,
            code_kdf: $r.try_get("code_kdf")?,
            code_verifier: $r.try_get("code_verifier")?,
            reporter_recipient: $r.try_get("reporter_recipient")?,
            created_at: $r.try_get("created_at")?,
            expires_at: $r.try_get("expires_at")?,
        }
    };
}

const CASE_COLUMNS: &str =
    "id, lookup, code_salt, code_kdf, code_verifier, reporter_recipient, created_at, expires_at";

/// Creates a case with its report (message 1) and the report's attachments, atomically.
/// A taken id or lookup is [`DbError::Duplicate`] (the caller draws new ones).
pub async fn create_case(
    db: &Db,
    case: &CaseRow,
    report: &MessageRow,
    attachments: &[AttachmentRow],
) -> Result<(), DbError> {
    let insert_case = sql(
        db,
        &format!(
            "INSERT INTO integrity_cases ({CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ),
    );
    let insert_msg = sql(
        db,
        "INSERT INTO integrity_messages (case_id, seq, ciphertext, created_at) VALUES ($1, $2, $3, $4)",
    );
    let insert_att = sql(
        db,
        "INSERT INTO integrity_attachments (case_id, seq, idx, ciphertext) VALUES ($1, $2, $3, $4)",
    );
    macro_rules! body {
        ($tx:ident) => {{
            sqlx::query(&insert_case)
                .bind(&case.id)
                .bind(&case.lookup)
                .bind(&case.code_salt)
                .bind(&case.code_kdf)
                .bind(&case.code_verifier)
                .bind(&case.reporter_recipient)
                .bind(case.created_at)
                .bind(case.expires_at)
                .execute(&mut *$tx)
                .await
                .map_err(|e| classify(e, "integrity case"))?;
            sqlx::query(&insert_msg)
                .bind(&case.id)
                .bind(report.seq)
                .bind(&report.ciphertext)
                .bind(report.created_at)
                .execute(&mut *$tx)
                .await
                .map_err(|e| classify(e, "integrity message"))?;
            for a in attachments {
                sqlx::query(&insert_att)
                    .bind(&case.id)
                    .bind(a.seq)
                    .bind(a.idx)
                    .bind(&a.ciphertext)
                    .execute(&mut *$tx)
                    .await
                    .map_err(|e| classify(e, "integrity attachment"))?;
            }
            $tx.commit().await?;
            Ok(())
        }};
    }
    match db {
        Db::Sqlite(s) => {
            let mut tx = s.pool().begin_with("BEGIN IMMEDIATE").await?;
            body!(tx)
        }
        Db::Postgres(p) => {
            let mut tx = p.pool().begin().await?;
            body!(tx)
        }
    }
}

/// The case with this lookup.
pub async fn case_by_lookup(db: &Db, lookup: &str) -> Result<Option<CaseRow>, DbError> {
    let q = sql(
        db,
        &format!("SELECT {CASE_COLUMNS} FROM integrity_cases WHERE lookup = $1"),
    );
    on_pool!(db, pool => {
        let row = sqlx::query(&q).bind(lookup).fetch_optional(pool).await?;
        match row {
            Some(r) => Ok(Some(case_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// The case with this id.
pub async fn case_by_id(db: &Db, id: &str) -> Result<Option<CaseRow>, DbError> {
    let q = sql(
        db,
        &format!("SELECT {CASE_COLUMNS} FROM integrity_cases WHERE id = $1"),
    );
    on_pool!(db, pool => {
        let row = sqlx::query(&q).bind(id).fetch_optional(pool).await?;
        match row {
            Some(r) => Ok(Some(case_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// Every case, oldest first, with message counts.
pub async fn cases(db: &Db) -> Result<Vec<CaseSummary>, DbError> {
    let q = format!(
        "SELECT {cols}, (SELECT COUNT(*) FROM integrity_messages m WHERE m.case_id = c.id) AS n, \
         (SELECT MAX(m.created_at) FROM integrity_messages m WHERE m.case_id = c.id) AS last_at \
         FROM integrity_cases c ORDER BY c.created_at, c.id",
        cols = CASE_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    on_pool!(db, pool => {
        let rows = sqlx::query(&q).fetch_all(pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let case = case_from_row!(r);
            let last_at: Option<i64> = r.try_get("last_at")?;
            out.push(CaseSummary {
                messages: r.try_get("n")?,
                last_at: last_at.unwrap_or(case.created_at),
                case,
            });
        }
        Ok(out)
    })
}

/// A case's messages in order.
pub async fn messages(db: &Db, case_id: &str) -> Result<Vec<MessageRow>, DbError> {
    let q = sql(
        db,
        "SELECT seq, ciphertext, created_at FROM integrity_messages WHERE case_id = $1 ORDER BY seq",
    );
    on_pool!(db, pool => {
        let rows = sqlx::query(&q).bind(case_id).fetch_all(pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(MessageRow {
                seq: r.try_get("seq")?,
                ciphertext: r.try_get("ciphertext")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(out)
    })
}

/// A case's attachments, by message and index.
pub async fn attachments(db: &Db, case_id: &str) -> Result<Vec<AttachmentRow>, DbError> {
    let q = sql(
        db,
        "SELECT seq, idx, ciphertext FROM integrity_attachments WHERE case_id = $1 ORDER BY seq, idx",
    );
    on_pool!(db, pool => {
        let rows = sqlx::query(&q).bind(case_id).fetch_all(pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(AttachmentRow {
                seq: r.try_get("seq")?,
                idx: r.try_get("idx")?,
                ciphertext: r.try_get("ciphertext")?,
            });
        }
        Ok(out)
    })
}

/// Appends a message at the case's next free position and moves the receipt's expiry
/// to at least `expires_at`; returns the position. `seal` makes the row for a position
/// (the position is inside the ciphertext, so it must be known before sealing).
///
/// The case is locked for the append (its row `FOR UPDATE` on PostgreSQL, the write lock
/// of `BEGIN IMMEDIATE` on SQLite), so concurrent appends queue instead of racing for
/// one position: an optimistic retry could lose every round to its neighbours.
pub async fn append_message<E: From<DbError>>(
    db: &Db,
    case_id: &str,
    expires_at: i64,
    seal: impl FnOnce(i64) -> Result<MessageRow, E>,
) -> Result<i64, E> {
    let last = sql(
        db,
        "SELECT COALESCE(MAX(seq), 0) AS last FROM integrity_messages WHERE case_id = $1",
    );
    let insert = sql(
        db,
        "INSERT INTO integrity_messages (case_id, seq, ciphertext, created_at) VALUES ($1, $2, $3, $4)",
    );
    let extend = sql(
        db,
        "UPDATE integrity_cases SET expires_at = $2 WHERE id = $1 AND expires_at < $2",
    );
    macro_rules! body {
        ($tx:ident) => {{
            let row = sqlx::query(&last)
                .bind(case_id)
                .fetch_one(&mut *$tx)
                .await
                .map_err(DbError::from)?;
            let seq = row.try_get::<i64, _>("last").map_err(DbError::from)? + 1;
            let msg = seal(seq)?;
            sqlx::query(&insert)
                .bind(case_id)
                .bind(seq)
                .bind(&msg.ciphertext)
                .bind(msg.created_at)
                .execute(&mut *$tx)
                .await
                .map_err(|e| classify(e, "integrity message"))?;
            sqlx::query(&extend)
                .bind(case_id)
                .bind(expires_at)
                .execute(&mut *$tx)
                .await
                .map_err(DbError::from)?;
            $tx.commit().await.map_err(DbError::from)?;
            Ok(seq)
        }};
    }
    match db {
        // SQLite has no FOR UPDATE; BEGIN IMMEDIATE already holds the one write lock.
        Db::Sqlite(s) => {
            let mut tx = s
                .pool()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(DbError::from)?;
            body!(tx)
        }
        Db::Postgres(p) => {
            let mut tx = p.pool().begin().await.map_err(DbError::from)?;
            sqlx::query("SELECT id FROM integrity_cases WHERE id = $1 FOR UPDATE")
                .bind(case_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::from)?
                .ok_or_else(|| DbError::NotFound(format!("case {case_id}")))?;
            body!(tx)
        }
    }
}
