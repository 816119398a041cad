//! Identity as stored: users and their roles, crews and their skills, devices, login
//! tokens (only their hashes), and the Open311 services crews are skilled in.
//!
//! [`IdentityStore`] is written here once, on [`Db`]: the SQL is the same on both
//! backends. Every write runs in a write transaction ([`Db::begin_write`]), which on SQLite
//! is what serialises writers.

use super::sessions::{self, CutKind};
use super::{Db, DbError, classify, on_pool, on_tx, seq_u64};
use crate::base::time::now_millis;
use serde::{Deserialize, Serialize};
use std::future::Future;
use sync_core::task::Priority;
use sync_core::{DeviceId, Millis, Role, ScopeId};

/// A user's role on the server. `Admin` exists only here: admins manage users, crews and
/// districts and do not edit task documents.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Administrator.
    Admin,
    /// Dispatcher of some districts.
    Dispatcher,
    /// Field crew member.
    Crew,
    /// Manager (reads).
    Manager,
    /// Call-centre operator.
    CallCentre,
    /// A contractor's representative: reads its own contractor's tasks and penalties,
    /// appeals; syncs nothing and edits no task.
    Contractor,
}

impl UserRole {
    /// Every role.
    pub const ALL: [UserRole; 6] = [
        UserRole::Admin,
        UserRole::Dispatcher,
        UserRole::Crew,
        UserRole::Manager,
        UserRole::CallCentre,
        UserRole::Contractor,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Dispatcher => "dispatcher",
            UserRole::Crew => "crew",
            UserRole::Manager => "manager",
            UserRole::CallCentre => "call_centre",
            UserRole::Contractor => "contractor",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<UserRole> {
        UserRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role the user's edits carry in task documents (none for admins and
    /// contractors' representatives, who edit no task).
    pub fn sync_role(self) -> Option<Role> {
        match self {
            UserRole::Admin | UserRole::Contractor => None,
            UserRole::Dispatcher => Some(Role::Dispatcher),
            UserRole::Crew => Some(Role::Crew),
            UserRole::Manager => Some(Role::Manager),
            UserRole::CallCentre => Some(Role::CallCentre),
        }
    }
}

impl std::fmt::Display for UserRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for UserRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        UserRole::parse(s).ok_or_else(|| {
            format!(
                "unknown role {s:?}; expected one of {}",
                UserRole::ALL.map(|r| r.as_str()).join(", ")
            )
        })
    }
}

/// A field crew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crew {
    /// Crew id (also used in `crew:<id>` scopes and `Assigned` events).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home district code.
    pub district: String,
    /// Open311 service codes the crew can handle.
    pub skills: Vec<String>,
    /// The contractor company, if not city staff.
    pub contractor: Option<String>,
    /// Whether the crew is on duty now.
    pub on_duty: bool,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Stable id (appears in documents as the actor).
    pub id: String,
    /// Login name.
    pub login: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// Crew, for crew members.
    pub crew: Option<String>,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
    /// The contractor, for contractors' representatives (and only them).
    pub contractor: Option<String>,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id.
    pub id: String,
    /// Login name.
    pub login: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// Crew, for crew members.
    pub crew: Option<String>,
    /// The crew's home district, for crew members.
    pub crew_district: Option<String>,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
    /// The contractor, for contractors' representatives.
    pub contractor: Option<String>,
    /// A disabled user cannot log in and its tokens stop working.
    pub disabled: bool,
}

/// A login token as stored (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The user the token belongs to.
    pub user: UserRecord,
    /// The device it was issued to.
    pub device: DeviceId,
    /// When it expires.
    pub expires_at: Millis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
}

/// An Open311 service (category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `service_code`.
    pub code: String,
    /// `service_name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `group`.
    pub group: String,
    /// Priority new requests get.
    pub default_priority: Priority,
    /// Minutes to acknowledge.
    pub ack_minutes: Option<i64>,
    /// Minutes to complete.
    pub complete_minutes: Option<i64>,
}

/// Users, crews, devices, tokens and services.
pub trait IdentityStore {
    /// Creates or replaces a crew.
    fn upsert_crew(&self, crew: &Crew) -> impl Future<Output = Result<(), DbError>> + Send;
    /// One crew.
    fn crew(&self, id: &str) -> impl Future<Output = Result<Option<Crew>, DbError>> + Send;
    /// All crews, by id.
    fn crews(&self) -> impl Future<Output = Result<Vec<Crew>, DbError>> + Send;
    /// Creates a user; [`DbError::Duplicate`] if the login is taken.
    fn create_user(&self, user: &NewUser) -> impl Future<Output = Result<(), DbError>> + Send;
    /// A user by login.
    fn user_by_login(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Option<UserRecord>, DbError>> + Send;
    /// How many users exist.
    fn count_users(&self) -> impl Future<Output = Result<u64, DbError>> + Send;
    /// Records that a device is used by a user (first registration or a new login).
    /// A device belongs to the user who registered it first: `false` (and nothing
    /// written) when it is another user's.
    fn register_device(
        &self,
        device: &DeviceId,
        user_id: &str,
        at: Millis,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// Stores a token's hash.
    fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        device: &DeviceId,
        created_at: Millis,
        expires_at: Millis,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// The token with this hash, with its user.
    fn token(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<TokenRecord>, DbError>> + Send;
    /// Revokes one token; false if there is no such live token.
    fn revoke_token(
        &self,
        token_hash: &[u8],
        at: Millis,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// Revokes every live token of a user; returns how many.
    fn revoke_user_tokens(
        &self,
        user_id: &str,
        at: Millis,
    ) -> impl Future<Output = Result<u64, DbError>> + Send;
    /// Creates or replaces a service.
    fn upsert_service(&self, service: &Service)
    -> impl Future<Output = Result<(), DbError>> + Send;
    /// The services in use (not retired), by code.
    fn services(&self) -> impl Future<Output = Result<Vec<Service>, DbError>> + Send;
}

/// Checks that a crew id or district code can name a sync scope (`crew:<id>`,
/// `district:<code>`): otherwise its tasks would silently fall out of every scope.
pub fn check_code(kind: &str, code: &str) -> Result<(), DbError> {
    if code.len() > 64 || ScopeId::new(format!("district:{code}")).is_err() {
        return Err(DbError::Invalid(format!(
            "{kind} {code:?} must be 1 to 64 ASCII letters, digits, - _ : or ."
        )));
    }
    Ok(())
}

/// Checks a contractor's name (free text, as in `crews.contractor`): 1 to 200
/// characters, not blank.
pub fn check_contractor(c: &str) -> Result<(), DbError> {
    if c.trim().is_empty() || c.chars().count() > 200 {
        return Err(DbError::Invalid(
            "a contractor's name is 1 to 200 characters".into(),
        ));
    }
    Ok(())
}

/// Checks a crew before it is stored.
pub(crate) fn check_crew(crew: &Crew) -> Result<(), DbError> {
    check_code("crew id", &crew.id)?;
    check_code("district code", &crew.district)?;
    if crew.name.trim().is_empty() {
        return Err(DbError::Invalid("a crew needs a name".into()));
    }
    Ok(())
}

/// Checks a user before it is stored.
pub(crate) fn check_user(user: &NewUser) -> Result<(), DbError> {
    if user.login.trim().is_empty()
        || user.login.len() > 128
        || user.login.chars().any(char::is_whitespace)
    {
        return Err(DbError::Invalid(
            "a login is 1 to 128 characters without spaces".into(),
        ));
    }
    if (user.role == UserRole::Crew) != user.crew.is_some() {
        return Err(DbError::Invalid(
            "crew members, and only they, belong to a crew".into(),
        ));
    }
    if (user.role == UserRole::Contractor) != user.contractor.is_some() {
        return Err(DbError::Invalid(
            "contractors' representatives, and only they, name a contractor".into(),
        ));
    }
    if let Some(c) = &user.contractor {
        check_contractor(c)?;
    }
    for d in &user.districts {
        check_code("district code", d)?;
    }
    Ok(())
}

/// A crew row joined with one of its skills (`None` for a crew without skills), ordered
/// by crew then skill.
type CrewSkillRow = (String, String, String, Option<String>, bool, Option<String>);

/// Folds [`CrewSkillRow`]s into crews.
fn crews_from_rows(rows: Vec<CrewSkillRow>) -> Vec<Crew> {
    let mut out: Vec<Crew> = Vec::new();
    for (id, name, district, contractor, on_duty, skill) in rows {
        let same = out.last().is_some_and(|c| c.id == id);
        if !same {
            out.push(Crew {
                id,
                name,
                district,
                skills: Vec::new(),
                contractor,
                on_duty,
            });
        }
        if let (Some(skill), Some(crew)) = (skill, out.last_mut()) {
            crew.skills.push(skill);
        }
    }
    out
}

/// The crews' columns with their skills, one row per skill; the caller adds the `WHERE`.
const CREW_SKILLS: &str = "SELECT c.id, c.name, c.district, c.contractor, c.on_duty, s.service_code
     FROM crews c LEFT JOIN crew_skills s ON s.crew = c.id";

/// One `users` row (with its crew's district) as read.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    login: String,
    password_hash: String,
    role: String,
    crew: Option<String>,
    disabled: bool,
    crew_district: Option<String>,
    contractor: Option<String>,
}

/// The user columns of [`UserRow`], from `users u` left-joined with its `crews c`.
const USER_COLUMNS: &str =
    "u.id, u.login, u.password_hash, u.role, u.crew, u.disabled, c.district AS crew_district,
     u.contractor";

/// One `auth_tokens` row with its user.
#[derive(sqlx::FromRow)]
struct TokenRow {
    device_id: String,
    expires_at: Millis,
    revoked_at: Option<Millis>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// One `services` row as read.
#[derive(sqlx::FromRow)]
struct ServiceRow {
    code: String,
    name: String,
    description: String,
    grp: String,
    default_priority: String,
    ack_minutes: Option<i64>,
    complete_minutes: Option<i64>,
}

impl TryFrom<ServiceRow> for Service {
    type Error = DbError;
    fn try_from(r: ServiceRow) -> Result<Service, DbError> {
        let p = r.default_priority;
        Ok(Service {
            default_priority: Priority::parse(&p)
                .ok_or_else(|| DbError::Corrupt(format!("unknown priority {p:?}")))?,
            code: r.code,
            name: r.name,
            description: r.description,
            group: r.grp,
            ack_minutes: r.ack_minutes,
            complete_minutes: r.complete_minutes,
        })
    }
}

impl Db {
    /// A user's districts, by code.
    async fn user_districts(&self, user_id: &str) -> Result<Vec<String>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT district FROM user_districts WHERE user_id = $1 ORDER BY district",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The user of a row, with its districts.
    async fn user_record(&self, row: UserRow) -> Result<UserRecord, DbError> {
        let role = UserRole::parse(&row.role)
            .ok_or_else(|| DbError::Corrupt(format!("unknown role {:?}", row.role)))?;
        Ok(UserRecord {
            districts: self.user_districts(&row.id).await?,
            id: row.id,
            login: row.login,
            password_hash: row.password_hash,
            role,
            crew: row.crew,
            crew_district: row.crew_district,
            contractor: row.contractor,
            disabled: row.disabled,
        })
    }
}

impl IdentityStore for Db {
    async fn upsert_crew(&self, crew: &Crew) -> Result<(), DbError> {
        check_crew(crew)?;
        let mut tx = self.begin_write().await?;
        let old_district: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
            "SELECT district FROM crews WHERE id = $1",
        )
        .bind(&crew.id)
        .fetch_optional(conn)
        .await)?;
        if old_district.as_ref().is_some_and(|d| *d != crew.district) {
            // The members' `open:<district>` scope moves with the crew: their live
            // sessions close and reconnect to the new one.
            let members: Vec<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
                "SELECT id FROM users WHERE crew = $1 ORDER BY id",
            )
            .bind(&crew.id)
            .fetch_all(conn)
            .await)?;
            let at = now_millis();
            for m in members {
                sessions::record(&mut tx, &m, None, CutKind::Rescoped, at).await?;
            }
        }
        on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO crews (id, name, district, contractor, on_duty) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, district = excluded.district,
               contractor = excluded.contractor, on_duty = excluded.on_duty",
        )
        .bind(&crew.id)
        .bind(&crew.name)
        .bind(&crew.district)
        .bind(crew.contractor.as_deref())
        .bind(crew.on_duty)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| classify(e, "crew"))?;
        on_tx!(&mut tx, conn => sqlx::query("DELETE FROM crew_skills WHERE crew = $1")
            .bind(&crew.id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        for skill in &crew.skills {
            on_tx!(&mut tx, conn => sqlx::query(
                "INSERT INTO crew_skills (crew, service_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&crew.id)
            .bind(skill)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        }
        tx.commit().await
    }

    async fn crew(&self, id: &str) -> Result<Option<Crew>, DbError> {
        let sql = format!("{CREW_SKILLS} WHERE c.id = $1 ORDER BY s.service_code");
        let rows: Vec<CrewSkillRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(id)
            .fetch_all(pool)
            .await)?;
        Ok(crews_from_rows(rows).pop())
    }

    async fn crews(&self) -> Result<Vec<Crew>, DbError> {
        let sql = format!("{CREW_SKILLS} ORDER BY c.id, s.service_code");
        let rows: Vec<CrewSkillRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        Ok(crews_from_rows(rows))
    }

    async fn create_user(&self, user: &NewUser) -> Result<(), DbError> {
        check_user(user)?;
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO users (id, login, password_hash, role, crew, created_at, contractor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.id)
        .bind(&user.login)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.crew.as_deref())
        .bind(now_millis())
        .bind(user.contractor.as_deref())
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| match classify(e, &format!("user {}", user.login)) {
            DbError::NotFound(_) => {
                DbError::NotFound(format!("crew {}", user.crew.as_deref().unwrap_or("")))
            }
            other => other,
        })?;
        for district in &user.districts {
            on_tx!(&mut tx, conn => sqlx::query(
                "INSERT INTO user_districts (user_id, district) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&user.id)
            .bind(district)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        }
        tx.commit().await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, DbError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u LEFT JOIN crews c ON c.id = u.crew
             WHERE u.login = $1"
        );
        let row: Option<UserRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(login)
            .fetch_optional(pool)
            .await)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(self.user_record(r).await?)),
        }
    }

    async fn count_users(&self) -> Result<u64, DbError> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await)?;
        seq_u64(n)
    }

    async fn register_device(
        &self,
        device: &DeviceId,
        user_id: &str,
        at: Millis,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        // Never `SET user_id`: a device id taken over at login would carry its owner's
        // uploads and positions to someone else (issue 16, point 8). Another user's device
        // updates no row.
        let n = on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO devices (id, user_id, registered_at, last_login_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET last_login_at = excluded.last_login_at
             WHERE devices.user_id = excluded.user_id",
        )
        .bind(device.as_str())
        .bind(user_id)
        .bind(at)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| classify(e, "device"))?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        device: &DeviceId,
        created_at: Millis,
        expires_at: Millis,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, device_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(device.as_str())
        .bind(created_at)
        .bind(expires_at)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| classify(e, "token"))?;
        tx.commit().await
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, DbError> {
        let sql = format!(
            "SELECT t.device_id, t.expires_at, t.revoked_at, {USER_COLUMNS}
             FROM auth_tokens t JOIN users u ON u.id = t.user_id
             LEFT JOIN crews c ON c.id = u.crew
             WHERE t.token_hash = $1"
        );
        let row: Option<TokenRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(token_hash)
            .fetch_optional(pool)
            .await)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(TokenRecord {
            device: DeviceId::new(r.device_id).map_err(|e| DbError::Corrupt(e.to_string()))?,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            user: self.user_record(r.user).await?,
        }))
    }

    async fn revoke_token(&self, token_hash: &[u8], at: Millis) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let user: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
            "SELECT user_id FROM auth_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(conn)
        .await)?;
        let Some(user) = user else {
            return Ok(false);
        };
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(token_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
        // The sockets and streams this token opened close on every replica.
        sessions::record(&mut tx, &user, Some(token_hash), CutKind::Revoked, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_user_tokens(&self, user_id: &str, at: Millis) -> Result<u64, DbError> {
        let mut tx = self.begin_write().await?;
        let n = on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
        // Even with no token left to revoke: a cut is what closes live sessions.
        sessions::record(&mut tx, user_id, None, CutKind::Revoked, at).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn upsert_service(&self, s: &Service) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO services (code, name, description, grp, default_priority, ack_minutes,
                                   complete_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name,
               description = excluded.description, grp = excluded.grp,
               default_priority = excluded.default_priority, ack_minutes = excluded.ack_minutes,
               complete_minutes = excluded.complete_minutes",
        )
        .bind(&s.code)
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.group)
        .bind(s.default_priority.as_str())
        .bind(s.ack_minutes)
        .bind(s.complete_minutes)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| classify(e, "service"))?;
        tx.commit().await?;
        self.catalogue_changed();
        Ok(())
    }

    /// Cached ([`super::catalogue`]).
    async fn services(&self) -> Result<Vec<Service>, DbError> {
        let load = async {
            let rows: Vec<ServiceRow> = on_pool!(self, pool => sqlx::query_as(
                "SELECT code, name, description, grp, default_priority, ack_minutes, complete_minutes
                 FROM services WHERE retired_at IS NULL ORDER BY code",
            )
            .fetch_all(pool)
            .await)?;
            rows.into_iter().map(Service::try_from).collect()
        };
        self.catalogue_cached(|s| s.services.clone(), load, |s, v| s.services = Some(v))
            .await
    }
}

/// A user's chosen language for the pages (`users.lang`), if any.
pub async fn user_lang(db: &Db, user_id: &str) -> Result<Option<String>, DbError> {
    let lang: Option<Option<String>> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT lang FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(lang.flatten())
}

/// Remembers a user's language for the pages.
pub async fn set_user_lang(db: &Db, user_id: &str, lang: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("UPDATE users SET lang = $2 WHERE id = $1")
        .bind(user_id)
        .bind(lang)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
