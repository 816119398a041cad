//! Citizens' non-field messages as stored (`citizen_messages`, migration 0025), on either
//! backend: filing, one message, a department inbox, and the answer (written once); and
//! where a citizen's field report came from (`citizen_reports`).

use crate::storage::{Db, DbError, on_pool, on_tx};

/// One row of `citizen_messages`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRow {
    /// `M-` and 12 hex digits.
    pub id: String,
    /// `complaint`, `criticism`, `suggestion`, `idea` or `thanks`.
    pub kind: String,
    /// The citizen's words.
    pub body: String,
    /// `web`, `open311` or `call_centre`.
    pub channel: String,
    /// The language it was filed in (`fa`, `en`).
    pub lang: String,
    /// The department inbox: a district code or `city`.
    pub inbox: String,
    /// The district the message is about, if any.
    pub district: Option<String>,
    /// Latitude of the place, if one was given.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// The task (or tracking code) it is about, if any.
    pub about_task: Option<String>,
    /// The unit, crew or contractor it names, if any.
    pub about_unit: Option<String>,
    /// When it was filed (ms).
    pub created_at: i64,
    /// The staff's answer.
    pub answer: Option<String>,
    /// Who answered (user id).
    pub answered_by: Option<String>,
    /// When (ms).
    pub answered_at: Option<i64>,
}

const COLUMNS: &str = "id, kind, body, channel, lang, inbox, district, lat, lon, about_task, \
                       about_unit, created_at, answer, answered_by, answered_at";

/// Stores a new message with, in the same transaction, its tracking code, its citizen's
/// contact (if any) and that contact's receipt (the durable outbox), and the link of its
/// caller's hash (if any) to the code: the citizen is given the code only once all of
/// it is stored, and told it whatever happens next.
pub async fn insert(
    db: &Db,
    m: &MessageRow,
    code: &crate::storage::citizens::TrackingRow,
    contact: Option<&crate::storage::outbox::NewContact>,
    caller: Option<&str>,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    crate::storage::citizens::insert_tracking_code_tx(&mut tx, code).await?;
    if let Some(h) = caller {
        crate::storage::callcentre::link_tx(&mut tx, h, &code.code, &m.id, m.created_at).await?;
    }
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO citizen_messages (id, kind, body, channel, lang, inbox, district, lat, lon, \
         about_task, about_unit, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&m.id)
    .bind(&m.kind)
    .bind(&m.body)
    .bind(&m.channel)
    .bind(&m.lang)
    .bind(&m.inbox)
    .bind(&m.district)
    .bind(m.lat)
    .bind(m.lon)
    .bind(&m.about_task)
    .bind(&m.about_unit)
    .bind(m.created_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    if let Some(n) = contact {
        crate::storage::open311::insert_contact_tx(&mut tx, n, m.created_at).await?;
        // A message has no commits: its receipt's sequence number is always 0.
        let effects = [crate::storage::outbox::Effect::Notify("received")];
        crate::storage::outbox::write_effects(&mut tx, &m.id, 0, &effects, 0, m.created_at).await?;
    }
    tx.commit().await
}

/// The message `id`, if any.
pub async fn get(db: &Db, id: &str) -> Result<Option<MessageRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM citizen_messages WHERE id = $1");
    let row: Option<MessageRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    Ok(row)
}

/// The messages of the given inboxes (none: every inbox), unanswered first, then newest
/// first; at most `limit`.
pub async fn inbox(
    db: &Db,
    inboxes: Option<&[String]>,
    limit: i64,
) -> Result<Vec<MessageRow>, DbError> {
    let order = "ORDER BY (answered_at IS NOT NULL), created_at DESC, id LIMIT";
    let rows: Vec<MessageRow> = match inboxes {
        None => {
            let sql = format!("SELECT {COLUMNS} FROM citizen_messages {order} $1");
            on_pool!(db, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?)
        }
        Some([]) => Vec::new(),
        Some(list) => {
            let marks: Vec<String> = (2..list.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM citizen_messages WHERE inbox IN ({}) {order} $1",
                marks.join(", ")
            );
            on_pool!(db, pool => {
                let mut q = sqlx::query_as(&sql).bind(limit);
                for i in list {
                    q = q.bind(i);
                }
                q.fetch_all(pool).await?
            })
        }
    };
    Ok(rows)
}

/// Records the answer to `id` if it has none yet, and in the same transaction the
/// `answered` notification of each live contact of the message and channel it has (the
/// durable outbox, as a task's commit writes its own); false when it was already
/// answered (or there is no such message).
pub async fn answer(db: &Db, id: &str, text: &str, by: &str, at: i64) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE citizen_messages SET answer = $1, answered_by = $2, answered_at = $3 \
         WHERE id = $4 AND answered_at IS NULL",
    )
    .bind(text)
    .bind(by)
    .bind(at)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if n != 1 {
        // Dropped unfinished: rolled back.
        drop(tx);
        return Ok(false);
    }
    // A message is answered once: the key's sequence number is always 0.
    let effects = [crate::storage::outbox::Effect::Notify("answered")];
    crate::storage::outbox::write_effects(&mut tx, id, 0, &effects, 0, at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Records where a citizen's field report came from, inside its task's commit
/// ([`super::outbox::CommitExtra::origin`]).
pub(crate) async fn insert_report_origin_tx(
    tx: &mut super::Tx,
    task: &str,
    kind: &str,
    channel: &str,
    lang: &str,
    at: i64,
) -> Result<(), DbError> {
    on_tx!(tx, conn => sqlx::query(INSERT_ORIGIN)
        .bind(task)
        .bind(kind)
        .bind(channel)
        .bind(lang)
        .bind(at)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

const INSERT_ORIGIN: &str = "INSERT INTO citizen_reports (task, kind, channel, lang, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (task) DO NOTHING";

/// A field report's kind and language, if a citizen filed it (`citizen_reports`).
pub async fn report_origin(db: &Db, task: &str) -> Result<Option<(String, String)>, DbError> {
    let row: Option<(String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT kind, lang FROM citizen_reports WHERE task = $1",
    )
    .bind(task)
    .fetch_optional(pool)
    .await?);
    Ok(row)
}
