//! The statements only administration uses (`domain::admin`): services as admins see
//! them (retired ones and English names included), retirement of services and crews,
//! users' listing and changes (disable, password, role and districts), districts'
//! regions. A user change that would leave no enabled admin is refused inside its
//! transaction ([`UserChange::LastAdmin`]), so two admins demoting each other at once
//! cannot both succeed.

use crate::storage::identity::UserRole;
use crate::storage::{Db, DbError, Tx, classify, on_pool, on_tx};
use sync_core::Millis;

/// A service as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ServiceRow {
    /// Code.
    pub code: String,
    /// Persian name (`services.name`, what Open311 and the pages show by default).
    pub name: String,
    /// English name.
    pub name_en: Option<String>,
    /// Description.
    pub description: String,
    /// Category (Open311 `group`).
    pub grp: String,
    /// Default priority.
    pub default_priority: String,
    /// Minutes to acknowledge (every priority).
    pub ack_minutes: Option<i64>,
    /// Minutes to complete (every priority).
    pub complete_minutes: Option<i64>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

/// Every service, retired ones too, by code.
pub async fn services(db: &Db) -> Result<Vec<ServiceRow>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT code, name, name_en, description, grp, default_priority, ack_minutes,
                complete_minutes, retired_at
         FROM services ORDER BY code",
    )
    .fetch_all(pool)
    .await)?)
}

/// Per-priority SLA overrides: (service, priority, ack minutes, complete minutes).
pub async fn sla_overrides(
    db: &Db,
) -> Result<Vec<(String, String, Option<i64>, Option<i64>)>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT service_code, priority, ack_minutes, complete_minutes FROM service_sla
         ORDER BY service_code, priority",
    )
    .fetch_all(pool)
    .await)?)
}

/// Sets a service's English name.
pub async fn set_service_name_en(
    db: &Db,
    code: &str,
    name_en: Option<&str>,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("UPDATE services SET name_en = $2 WHERE code = $1")
        .bind(code)
        .bind(name_en)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    db.catalogue_changed();
    Ok(())
}

/// Open tasks of a service.
pub async fn open_tasks_of_service(db: &Db, code: &str) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM tasks WHERE category = $1 AND status IN
           ('new', 'queued', 'assigned', 'acknowledged', 'in_progress', 'paused', 'reopened')",
    )
    .bind(code)
    .fetch_one(pool)
    .await)?)
}

/// Retires a service; false if there is no such service in use.
pub async fn retire_service(db: &Db, code: &str, at: Millis) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE services SET retired_at = $2 WHERE code = $1 AND retired_at IS NULL",
    )
    .bind(code)
    .bind(at)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    db.catalogue_changed();
    Ok(n == 1)
}

/// Retired crews: (id, when).
pub async fn retired_crews(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT id, retired_at FROM crews WHERE retired_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await)?)
}

/// Open tasks a crew holds.
pub async fn open_tasks_of_crew(db: &Db, crew: &str) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM tasks WHERE assignee = $1 AND status IN
           ('assigned', 'acknowledged', 'in_progress', 'paused', 'reopened')",
    )
    .bind(crew)
    .fetch_one(pool)
    .await)?)
}

/// Retires a crew (off duty from now on); false if there is no such crew in use.
pub async fn retire_crew(db: &Db, crew: &str, at: Millis) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE crews SET retired_at = $2, on_duty = $3 WHERE id = $1 AND retired_at IS NULL",
    )
    .bind(crew)
    .bind(at)
    .bind(false)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Sets a district's names (local and English); false if there is no such district.
pub async fn set_district_names(
    db: &Db,
    code: &str,
    name: &str,
    name_en: Option<&str>,
) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE districts SET name = $2, name_en = $3 WHERE code = $1",
    )
    .bind(code)
    .bind(name)
    .bind(name_en)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Sets a district's region; false if there is no such district.
pub async fn set_district_region(
    db: &Db,
    code: &str,
    region: Option<&str>,
) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query("UPDATE districts SET region = $2 WHERE code = $1")
        .bind(code)
        .bind(region)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Districts whose non-urgent tasks are auto-assigned too.
pub async fn auto_assigned_districts(db: &Db) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String, bool)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT district, auto_assign_normal FROM district_dispatch ORDER BY district",
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().filter(|r| r.1).map(|r| r.0).collect())
}

/// A user as the admin page lists it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Stable id.
    pub id: String,
    /// Login.
    pub login: String,
    /// Role.
    pub role: UserRole,
    /// Crew (crew members).
    pub crew: Option<String>,
    /// Contractor (representatives).
    pub contractor: Option<String>,
    /// Districts.
    pub districts: Vec<String>,
    /// Disabled.
    pub disabled: bool,
}

type UserTuple = (String, String, String, Option<String>, Option<String>, bool);

/// Every user, by login.
pub async fn users(db: &Db) -> Result<Vec<UserRow>, DbError> {
    let rows: Vec<UserTuple> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, login, role, crew, contractor, disabled FROM users ORDER BY login",
    )
    .fetch_all(pool)
    .await)?;
    let districts: Vec<(String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT user_id, district FROM user_districts ORDER BY user_id, district",
    )
    .fetch_all(pool)
    .await)?;
    rows.into_iter()
        .map(|(id, login, role, crew, contractor, disabled)| {
            Ok(UserRow {
                role: UserRole::parse(&role)
                    .ok_or_else(|| DbError::Corrupt(format!("unknown role {role:?}")))?,
                districts: districts
                    .iter()
                    .filter(|d| d.0 == id)
                    .map(|d| d.1.clone())
                    .collect(),
                id,
                login,
                crew,
                contractor,
                disabled,
            })
        })
        .collect()
}

/// A change to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEdit {
    /// Disable (true) or enable (false).
    Disabled(bool),
    /// A new password hash.
    Password(String),
    /// Role, crew, contractor and districts (all replaced).
    Access {
        /// Role.
        role: UserRole,
        /// Crew (crew members only).
        crew: Option<String>,
        /// Contractor (representatives only).
        contractor: Option<String>,
        /// Districts.
        districts: Vec<String>,
    },
}

/// What a user change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Applied.
    Done,
    /// No such user.
    NoSuchUser,
    /// Refused: no enabled admin would be left.
    LastAdmin,
}

/// Applies `edit` to the user `login`, in one transaction that also checks that an
/// enabled admin remains (on PostgreSQL under a lock that serialises user changes, so
/// two concurrent edits cannot each count the other's admin).
pub async fn edit_user(db: &Db, login: &str, edit: &UserEdit) -> Result<UserChange, DbError> {
    let mut tx = db.begin_write().await?;
    if let Tx::Postgres(t) = &mut tx {
        // Blocks other writers of `users` (this same statement, logins' reads are not
        // blocked) until this transaction ends; SQLite's write lock does the same.
        sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **t)
            .await?;
    }
    let id: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT id FROM users WHERE login = $1",
    )
    .bind(login)
    .fetch_optional(conn)
    .await)?;
    let Some(id) = id else {
        return Ok(UserChange::NoSuchUser);
    };
    match edit {
        UserEdit::Disabled(off) => {
            on_tx!(&mut tx, conn => sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
                .bind(&id)
                .bind(*off)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()))?;
        }
        UserEdit::Password(hash) => {
            on_tx!(&mut tx, conn => sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(&id)
                .bind(hash)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()))?;
        }
        UserEdit::Access {
            role,
            crew,
            contractor,
            districts,
        } => {
            on_tx!(&mut tx, conn => sqlx::query(
                "UPDATE users SET role = $2, crew = $3, contractor = $4 WHERE id = $1",
            )
            .bind(&id)
            .bind(role.as_str())
            .bind(crew.as_deref())
            .bind(contractor.as_deref())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))
            .map_err(|e| classify(e, &format!("user {login}")))?;
            on_tx!(&mut tx, conn => sqlx::query("DELETE FROM user_districts WHERE user_id = $1")
                .bind(&id)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()))?;
            for d in districts {
                on_tx!(&mut tx, conn => sqlx::query(
                    "INSERT INTO user_districts (user_id, district) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(d)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()))?;
            }
        }
    }
    let admins: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = $1",
    )
    .bind(false)
    .fetch_one(conn)
    .await)?;
    if admins == 0 {
        // Dropping the transaction rolls it back.
        return Ok(UserChange::LastAdmin);
    }
    tx.commit().await?;
    Ok(UserChange::Done)
}
