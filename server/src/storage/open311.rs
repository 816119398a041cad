//! What only Open311 knows, as stored (migration 0007), on either backend: API keys
//! (`open311_keys`, their SHA-256 only), service definitions (`open311_attributes`,
//! `open311_attribute_values`), what a filed request carries beside its task
//! (`open311_requests`), citizens' updates (`open311_updates`) and contact details
//! (`open311_contacts`); and the reads of the task projection behind `GET requests`
//! and `GET servicerequestupdates`. The same SQL runs on SQLite and PostgreSQL except
//! the distance filter of `GET requests`.

use crate::storage::citizens::{bbox, placeholders};
use crate::storage::outbox::NewContact;
use crate::storage::{Db, DbError, Tx, classify, on_pool, on_tx};

/// One row of `open311_keys`, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    /// The key's name.
    pub name: String,
    /// When issued.
    pub created_at: i64,
    /// When revoked.
    pub revoked_at: Option<i64>,
}

/// Stores a key's hash under `name`; false if the name (or the hash) is taken.
pub async fn insert_key(db: &Db, name: &str, key_hash: &[u8], at: i64) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => sqlx::query(
        "INSERT INTO open311_keys (name, key_hash, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .bind(key_hash)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(done == 1)
}

/// Revokes the live key named `name`; false if there is none.
pub async fn revoke_key(db: &Db, name: &str, at: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE open311_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(name)
    .execute(pool)
    .await?
    .rows_affected());
    // The cached key goes at once here; the other replicas hear the trigger (0048).
    db.catalogue_changed();
    Ok(n == 1)
}

/// Every key, by name.
pub async fn keys(db: &Db) -> Result<Vec<KeyRow>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT name, created_at, revoked_at FROM open311_keys ORDER BY name",
    )
    .fetch_all(pool)
    .await?))
}

/// The name of the live key with this hash, read from the database.
pub async fn live_key(db: &Db, key_hash: &[u8]) -> Result<Option<String>, DbError> {
    read_live_key(db, key_hash).await
}

/// [`live_key`] from the catalogue cache ([`super::catalogue`]): for filing a request,
/// whose transaction checks the key again ([`insert_request_tx`]), so a revocation not
/// yet heard of cannot slip through. Only live keys are kept; a hash that is no live key
/// is looked up every time.
pub async fn live_key_cached(db: &Db, key_hash: &[u8]) -> Result<Option<String>, DbError> {
    db.catalogue_cached(
        |s| s.keys.get(key_hash).map(|name| Some(name.clone())),
        read_live_key(db, key_hash),
        |s, name| {
            if let Some(name) = name {
                s.keys.insert(key_hash.to_vec(), name);
            }
        },
    )
    .await
}

async fn read_live_key(db: &Db, key_hash: &[u8]) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT name FROM open311_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?);
    Ok(row.map(|r| r.0))
}

/// An attribute's datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    /// A line of text.
    String,
    /// A number.
    Number,
    /// An ISO 8601 datetime.
    Datetime,
    /// Longer text.
    Text,
    /// One key of the listed values.
    SingleValueList,
    /// Any keys of the listed values.
    MultiValueList,
}

impl Datatype {
    /// The GeoReport name (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::SingleValueList => "singlevaluelist",
            Datatype::MultiValueList => "multivaluelist",
        }
    }

    /// A GeoReport name (as stored or typed by an admin).
    pub fn parse(s: &str) -> Result<Datatype, DbError> {
        Ok(match s {
            "string" => Datatype::String,
            "number" => Datatype::Number,
            "datetime" => Datatype::Datetime,
            "text" => Datatype::Text,
            "singlevaluelist" => Datatype::SingleValueList,
            "multivaluelist" => Datatype::MultiValueList,
            other => return Err(DbError::Corrupt(format!("attribute datatype {other:?}"))),
        })
    }
}

/// One attribute of a service definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Its code (`attribute[<code>]`).
    pub code: String,
    /// False for an informational attribute that takes no answer.
    pub variable: bool,
    /// Its datatype.
    pub datatype: Datatype,
    /// Whether an answer is required.
    pub required: bool,
    /// How to answer.
    pub datatype_description: String,
    /// Display order.
    pub order: i64,
    /// The question.
    pub description: String,
    /// Allowed values for lists: (key, name).
    pub values: Vec<(String, String)>,
}

/// The attributes of `service`, in order. Cached ([`super::catalogue`]).
pub async fn attributes(db: &Db, service: &str) -> Result<Vec<Attribute>, DbError> {
    db.catalogue_cached(
        |s| s.attributes.get(service).cloned(),
        read_attributes(db, service),
        |s, v| {
            s.attributes.insert(service.to_owned(), v);
        },
    )
    .await
}

async fn read_attributes(db: &Db, service: &str) -> Result<Vec<Attribute>, DbError> {
    type Row = (String, bool, String, bool, String, i64, String);
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT code, variable, datatype, required, datatype_description, CAST(ord AS BIGINT), \
         description FROM open311_attributes WHERE service_code = $1 ORDER BY ord, code",
    )
    .bind(service)
    .fetch_all(pool)
    .await?);
    let values: Vec<(String, String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT attribute, key, name FROM open311_attribute_values WHERE service_code = $1 \
         ORDER BY attribute, ord, key",
    )
    .bind(service)
    .fetch_all(pool)
    .await?);
    rows.into_iter()
        .map(
            |(code, variable, datatype, required, dd, order, description)| {
                Ok(Attribute {
                    values: values
                        .iter()
                        .filter(|v| v.0 == code)
                        .map(|v| (v.1.clone(), v.2.clone()))
                        .collect(),
                    code,
                    variable,
                    datatype: Datatype::parse(&datatype)?,
                    required,
                    datatype_description: dd,
                    order,
                    description,
                })
            },
        )
        .collect()
}

/// Services that have at least one attribute, by code.
pub async fn services_with_attributes(db: &Db) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT DISTINCT service_code FROM open311_attributes ORDER BY service_code",
    )
    .fetch_all(pool)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Replaces the attributes of `service`, in one transaction.
pub async fn set_attributes(db: &Db, service: &str, attrs: &[Attribute]) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM open311_attribute_values WHERE service_code = $1")
            .bind(service)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM open311_attributes WHERE service_code = $1")
            .bind(service)
            .execute(&mut *tx)
            .await?;
        for a in attrs {
            sqlx::query(
                "INSERT INTO open311_attributes (service_code, code, variable, datatype, \
                 required, datatype_description, ord, description) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(service)
            .bind(&a.code)
            .bind(a.variable)
            .bind(a.datatype.as_str())
            .bind(a.required)
            .bind(&a.datatype_description)
            .bind(a.order as i32)
            .bind(&a.description)
            .execute(&mut *tx)
            .await?;
            for (i, (key, name)) in a.values.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO open311_attribute_values (service_code, attribute, key, name, \
                     ord) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(service)
                .bind(&a.code)
                .bind(key)
                .bind(name)
                .bind(i as i32)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
    });
    db.catalogue_changed();
    Ok(())
}

/// What a filed request carries beside its task (`open311_requests`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    /// The task.
    pub task: String,
    /// The request's token.
    pub token: String,
    /// The API key it came with (or the channel's name for a report filed another way).
    pub key_name: String,
    /// Whether `key_name` is an Open311 API key, which must still be live when the
    /// request is committed.
    pub live_key: bool,
    /// The attribute answers, as a JSON object.
    pub attributes: String,
    /// The `media_url` given.
    pub media_url: Option<String>,
    /// When filed.
    pub created_at: i64,
}

/// Stores a request's row.
pub async fn insert_request(db: &Db, r: &RequestRow) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    insert_request_tx(&mut tx, r).await?;
    tx.commit().await
}

/// Stores a request's row in a write transaction (a task's commit: `Db::commit_with`).
pub(crate) async fn insert_request_tx(tx: &mut Tx, r: &RequestRow) -> Result<(), DbError> {
    // The key is checked again here, in the request's own transaction, for nothing (no
    // round trip of its own): a request filed with a key revoked an instant ago, before
    // this replica heard of it, is refused and stores nothing.
    let n = on_tx!(tx, c => sqlx::query(
        "INSERT INTO open311_requests (task, token, key_name, attributes, media_url, created_at) \
         SELECT $1, $2, $3, $4, $5, $6 \
         WHERE NOT $7 OR EXISTS (SELECT 1 FROM open311_keys WHERE name = $3 AND revoked_at IS NULL)",
    )
    .bind(&r.task)
    .bind(&r.token)
    .bind(&r.key_name)
    .bind(&r.attributes)
    .bind(&r.media_url)
    .bind(r.created_at)
    .bind(r.live_key)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| classify(e, "Open311 request"))?;
    if n == 0 {
        return Err(DbError::NotFound(REVOKED_KEY.into()));
    }
    Ok(())
}

/// What [`insert_request_tx`] answers when the request's key is no longer live.
pub const REVOKED_KEY: &str = "the Open311 key was revoked";

/// The task a request token stands for.
pub async fn task_of_token(db: &Db, token: &str) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT task FROM open311_requests WHERE token = $1",
    )
    .bind(token)
    .fetch_optional(pool)
    .await?);
    Ok(row.map(|r| r.0))
}

/// The attribute answers and `media_url` of a request.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestExtra {
    /// The task.
    pub task: String,
    /// The attribute answers, as a JSON object.
    pub attributes: String,
    /// The `media_url` given.
    pub media_url: Option<String>,
}

/// The requests' rows of those of `tasks` filed through Open311.
pub async fn request_extras(db: &Db, tasks: &[String]) -> Result<Vec<RequestExtra>, DbError> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT task, attributes, media_url FROM open311_requests WHERE task IN ({})",
        placeholders(1, tasks.len())
    );
    let rows: Vec<RequestExtra> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for t in tasks {
            q = q.bind(t);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// A citizen's contact details (private: only in `open311_contacts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Email.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// The app's device id.
    pub device_id: Option<String>,
    /// The app's account id.
    pub account_id: Option<String>,
    /// The language the citizen filed in (`fa`, `en`): messages are written in it.
    pub lang: Option<String>,
}

/// Stores contact details for `reference` (a task, a supporter code or an update id) of
/// `kind` (`request`, `support`, `update`); a second row for the same reference is
/// ignored.
pub async fn insert_contact(
    db: &Db,
    reference: &str,
    kind: &str,
    task: &str,
    c: &Contact,
    at: i64,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    let n = NewContact {
        reference: reference.to_owned(),
        kind: kind.to_owned(),
        task: task.to_owned(),
        contact: c.clone(),
    };
    insert_contact_tx(&mut tx, &n, at).await?;
    tx.commit().await
}

/// Stores a contact in a write transaction (a task's commit: `Db::commit_with`).
pub(crate) async fn insert_contact_tx(tx: &mut Tx, n: &NewContact, at: i64) -> Result<(), DbError> {
    let c = &n.contact;
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO open311_contacts (ref, kind, task, email, first_name, last_name, phone, \
         device_id, account_id, lang, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (ref) DO NOTHING",
    )
    .bind(&n.reference)
    .bind(&n.kind)
    .bind(&n.task)
    .bind(&c.email)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.phone)
    .bind(&c.device_id)
    .bind(&c.account_id)
    .bind(&c.lang)
    .bind(at)
    .execute(conn)
    .await
    .map(|_| ()))
    .map_err(|e| classify(e, "contact"))
}

/// A citizen's update to store (`open311_updates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpdate {
    /// Its id.
    pub id: String,
    /// Its task.
    pub task: String,
    /// The FixMyStreet status it named (recorded, never applied).
    pub status: Option<String>,
    /// What the citizen wrote.
    pub description: String,
    /// A `media_url`, as given.
    pub media_url: Option<String>,
    /// The sender's own id of the update.
    pub external_id: Option<String>,
    /// The API key it came with.
    pub key_name: String,
    /// When.
    pub created_at: i64,
}

/// Stores a citizen's update.
pub async fn insert_update(db: &Db, u: &NewUpdate) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO open311_updates (id, task, status, description, media_url, external_id, \
         key_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&u.id)
    .bind(&u.task)
    .bind(&u.status)
    .bind(&u.description)
    .bind(&u.media_url)
    .bind(&u.external_id)
    .bind(&u.key_name)
    .bind(u.created_at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// A citizen's update as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CitizenUpdate {
    /// Its id.
    pub id: String,
    /// Its task.
    pub task: String,
    /// What the citizen wrote.
    pub description: String,
    /// When.
    #[sqlx(rename = "created_at")]
    pub at: i64,
}

/// The citizens' updates on `tasks`, oldest first.
pub async fn citizen_updates(db: &Db, tasks: &[String]) -> Result<Vec<CitizenUpdate>, DbError> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, task, description, created_at FROM open311_updates WHERE task IN ({}) \
         ORDER BY created_at, id",
        placeholders(1, tasks.len())
    );
    let rows: Vec<CitizenUpdate> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for t in tasks {
            q = q.bind(t);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// Which tasks `GET requests` lists: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    /// Service codes (none: any).
    pub services: Vec<String>,
    /// Statuses by wire name (`None`: any).
    pub statuses: Option<Vec<&'static str>>,
    /// Created at or after.
    pub created_from: Option<i64>,
    /// Created at or before.
    pub created_to: Option<i64>,
    /// Updated at or after.
    pub updated_from: Option<i64>,
    /// Updated at or before.
    pub updated_to: Option<i64>,
    /// Within a radius: (lat, lon, metres).
    pub near: Option<(f64, f64, f64)>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

enum Bind {
    Text(String),
    Int(i64),
    Num(f64),
}

/// The ids of the tasks `f` selects, newest first (created time, then id).
pub async fn find_requests(db: &Db, f: &RequestFilter) -> Result<Vec<String>, DbError> {
    let mut wh: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let arg = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if !f.services.is_empty() {
        let ph: Vec<String> = f
            .services
            .iter()
            .map(|s| arg(Bind::Text(s.clone()), &mut binds))
            .collect();
        wh.push(format!("category IN ({})", ph.join(", ")));
    }
    if let Some(statuses) = &f.statuses {
        let ph: Vec<String> = statuses
            .iter()
            .map(|s| arg(Bind::Text((*s).to_owned()), &mut binds))
            .collect();
        wh.push(format!("status IN ({})", ph.join(", ")));
    }
    for (col, op, v) in [
        ("created_at", ">=", f.created_from),
        ("created_at", "<=", f.created_to),
        ("updated_at", ">=", f.updated_from),
        ("updated_at", "<=", f.updated_to),
    ] {
        if let Some(v) = v {
            let a = arg(Bind::Int(v), &mut binds);
            wh.push(format!("{col} {op} {a}"));
        }
    }
    if let Some((lat, lon, r)) = f.near {
        match db {
            Db::Postgres(_) => {
                let (a, b, c) = (
                    arg(Bind::Num(lon), &mut binds),
                    arg(Bind::Num(lat), &mut binds),
                    arg(Bind::Num(r), &mut binds),
                );
                wh.push(format!(
                    "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint({a}, {b}), 4326)::geography, {c})"
                ));
            }
            Db::Sqlite(_) => {
                // The bounding box uses the (lat, lon) index; then an equirectangular
                // distance (arithmetic only: SQLite may lack trigonometry), within a
                // fraction of a percent of the haversine at these radii.
                let (a, b, c, d) = bbox(lat, lon, r);
                let ph: Vec<String> = [a, b, c, d, lat, lon]
                    .into_iter()
                    .map(|x| arg(Bind::Num(x), &mut binds))
                    .collect();
                let ky = 111_195.0;
                let kx = ky * lat.to_radians().cos();
                let r2 = arg(Bind::Num(r * r), &mut binds);
                wh.push(format!(
                    "lat BETWEEN {} AND {} AND lon BETWEEN {} AND {} AND \
                     ((lat - {}) * {ky}) * ((lat - {}) * {ky}) + ((lon - {}) * {kx}) * ((lon - {}) * {kx}) <= {r2}",
                    ph[0], ph[1], ph[2], ph[3], ph[4], ph[4], ph[5], ph[5]
                ));
            }
        }
    }
    let limit = arg(Bind::Int(f.limit), &mut binds);
    let offset = arg(Bind::Int(f.offset), &mut binds);
    let sql = format!(
        "SELECT id FROM tasks {} ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}",
        if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        }
    );
    let rows: Vec<(String,)> = on_pool!(db, pool => {
        let mut query = sqlx::query_as(&sql);
        for b in &binds {
            query = match b {
                Bind::Text(s) => query.bind(s.clone()),
                Bind::Int(i) => query.bind(*i),
                Bind::Num(n) => query.bind(*n),
            };
        }
        query.fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The ids of tasks updated at or after `since`, oldest update first, at most `limit`.
pub async fn tasks_updated_since(db: &Db, since: i64, limit: i64) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id FROM tasks WHERE updated_at >= $1 ORDER BY updated_at LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await?);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Every district's name, by code.
pub async fn district_names(db: &Db) -> Result<Vec<(String, String)>, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query_as("SELECT code, name FROM districts")
        .fetch_all(pool)
        .await?),
    )
}

/// The contact stored for `reference` (a task or message id, a supporter code, an update
/// id), if any.
pub async fn contact_of(db: &Db, reference: &str) -> Result<Option<Contact>, DbError> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT email, first_name, last_name, phone, device_id, account_id, lang \
         FROM open311_contacts WHERE ref = $1",
    )
    .bind(reference)
    .fetch_optional(pool)
    .await?);
    Ok(row.map(
        |(email, first_name, last_name, phone, device_id, account_id, lang)| Contact {
            email,
            first_name,
            last_name,
            phone,
            device_id,
            account_id,
            lang,
        },
    ))
}

/// Where a notification goes: a contact's addresses and language.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactTarget {
    /// `request` (its ref is the task id) or `support` (its ref is the supporter's code).
    pub kind: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// The language the citizen filed in.
    pub lang: Option<String>,
    /// When they unsubscribed.
    pub unsubscribed_at: Option<i64>,
    /// Their Web Push subscription's JSON (migration 0039).
    pub webpush: Option<String>,
}

/// The contact `reference`, if it is still stored.
pub async fn contact_target(db: &Db, reference: &str) -> Result<Option<ContactTarget>, DbError> {
    let row = on_pool!(db, pool => sqlx::query_as(
        "SELECT kind, email, phone, lang, unsubscribed_at, webpush FROM open311_contacts \
         WHERE ref = $1",
    )
    .bind(reference)
    .fetch_optional(pool)
    .await?);
    Ok(row)
}

/// Erases the contacts of tasks closed before `closed_before` (and still closed) and of
/// citizens' messages answered before it; returns how many were erased.
pub async fn erase_contacts_closed_before(db: &Db, closed_before: i64) -> Result<u64, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM open311_contacts WHERE task IN (
             SELECT id FROM task_facts WHERE closed_at IS NOT NULL AND closed_at < $1
             UNION ALL
             SELECT id FROM citizen_messages WHERE answered_at IS NOT NULL AND answered_at < $1)",
    )
    .bind(closed_before)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n)
}

/// Erases the contact a tracking code holds: the reporter's (`ref` = the task) or a
/// supporter's (`ref` = their code). Returns how many were erased.
pub async fn erase_contact(db: &Db, reference: &str) -> Result<u64, DbError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM open311_contacts WHERE ref = $1")
        .bind(reference)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n)
}

/// Marks the contact `reference` as wanting no more messages. Returns whether one was.
pub async fn unsubscribe_contact(db: &Db, reference: &str, at: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE open311_contacts SET unsubscribed_at = $2
         WHERE ref = $1 AND unsubscribed_at IS NULL",
    )
    .bind(reference)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n > 0)
}
