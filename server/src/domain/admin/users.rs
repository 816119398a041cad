//! Users as admins manage them: create, disable or enable, reset a password, change the
//! role, crew, contractor and districts. Disabling, a new password and a role or district
//! change revoke every token of the user ([`revoke`]): their devices must sign in again
//! and get the new scopes. A change that would leave no enabled admin is refused, inside
//! the change's transaction (`storage::admin::edit_user`).

use super::{Admin, AdminError, check_districts};
use crate::domain::identity::hash_password;
use crate::storage::admin::{self as store, UserChange, UserEdit};
use crate::storage::identity::{NewUser, UserRole, check_user};
use crate::storage::{Db, IdentityStore};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Shortest and longest password accepted.
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=1024;

/// A user as the admin page shows it (never a password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    /// Stable id.
    pub id: String,
    /// Login.
    pub login: String,
    /// Role.
    pub role: String,
    /// Crew (crew members).
    pub crew: Option<String>,
    /// Contractor (contractors' representatives).
    pub contractor: Option<String>,
    /// Districts (dispatchers, managers).
    pub districts: Vec<String>,
    /// Disabled: cannot sign in, tokens refused.
    pub disabled: bool,
}

/// What a user may do and where.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// `admin`, `dispatcher`, `crew`, `manager`, `call_centre` or `contractor`.
    pub role: String,
    /// The crew (crew members, and only they).
    #[serde(default)]
    pub crew: Option<String>,
    /// The contractor (contractors' representatives, and only they).
    #[serde(default)]
    pub contractor: Option<String>,
    /// Districts (dispatchers, managers).
    #[serde(default)]
    pub districts: Vec<String>,
}

/// A user to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Login (no spaces).
    pub login: String,
    /// Password (8 characters or more).
    pub password: String,
    /// `admin`, `dispatcher`, `crew`, `manager`, `call_centre` or `contractor`.
    pub role: String,
    /// The crew (crew members, and only they).
    #[serde(default)]
    pub crew: Option<String>,
    /// The contractor (contractors' representatives, and only they).
    #[serde(default)]
    pub contractor: Option<String>,
    /// Districts (dispatchers, managers).
    #[serde(default)]
    pub districts: Vec<String>,
}

impl UserInput {
    /// What the new user may do and where.
    pub fn access(&self) -> Access {
        Access {
            role: self.role.clone(),
            crew: self.crew.clone(),
            contractor: self.contractor.clone(),
            districts: self.districts.clone(),
        }
    }
}

/// A new password.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The password (8 characters or more).
    pub password: String,
}

/// Every user, by login.
pub async fn list(db: &Db) -> Result<Vec<AdminUser>, AdminError> {
    Ok(store::users(db)
        .await?
        .into_iter()
        .map(|u| AdminUser {
            id: u.id,
            login: u.login,
            role: u.role.as_str().to_owned(),
            crew: u.crew,
            contractor: u.contractor,
            districts: u.districts,
            disabled: u.disabled,
        })
        .collect())
}

async fn get(db: &Db, login: &str) -> Result<AdminUser, AdminError> {
    list(db)
        .await?
        .into_iter()
        .find(|u| u.login == login)
        .ok_or_else(|| AdminError::NotFound(format!("no user {login:?}")))
}

fn hash(password: &str) -> Result<String, AdminError> {
    if !PASSWORD_CHARS.contains(&password.chars().count()) {
        return Err(AdminError::Invalid(format!(
            "a password has {} to {} characters",
            PASSWORD_CHARS.start(),
            PASSWORD_CHARS.end()
        )));
    }
    hash_password(password).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Checks an access against the roles' rules and what exists.
async fn checked_access(db: &Db, login: &str, a: &Access) -> Result<NewUser, AdminError> {
    let role = UserRole::parse(a.role.trim()).ok_or_else(|| {
        AdminError::Invalid(format!(
            "unknown role {:?}: {}",
            a.role,
            UserRole::ALL.map(|r| r.as_str()).join(", ")
        ))
    })?;
    let blank = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut districts: Vec<String> = a.districts.iter().map(|d| d.trim().to_owned()).collect();
    districts.sort();
    districts.dedup();
    let user = NewUser {
        id: String::new(),
        login: login.trim().to_owned(),
        password_hash: String::new(),
        role,
        crew: blank(&a.crew),
        districts,
        contractor: blank(&a.contractor),
    };
    check_user(&user)?;
    if let Some(c) = &user.crew
        && db.crew(c).await?.is_none()
    {
        return Err(AdminError::Unknown(format!("unknown crew {c:?}")));
    }
    check_districts(db, &user.districts).await?;
    Ok(user)
}

/// Creates a user (`tarmim-server user add`, the admin page).
pub async fn create(db: &Db, by: &Admin, input: &UserInput) -> Result<AdminUser, AdminError> {
    let mut user = checked_access(db, &input.login, &input.access()).await?;
    user.password_hash = hash(&input.password)?;
    user.id = format!("u-{}", hex::encode(rand::random::<[u8; 8]>()));
    db.create_user(&user).await?;
    by.record(
        db,
        "user_create",
        &user.login,
        json!({"role": user.role.as_str(), "crew": user.crew, "contractor": user.contractor,
            "districts": user.districts}),
    )
    .await;
    get(db, &user.login).await
}

/// Revokes every token of a user: the one way administration logs a user out. Through
/// identity's revocation, so the user's live sync sockets and console streams close on
/// every replica too (`4401`; `domain::sessions`: through the log of cuts, within a
/// second on SQLite, at once through `NOTIFY` on PostgreSQL).
async fn revoke(db: &Db, user_id: &str) -> Result<u64, AdminError> {
    use crate::domain::identity::{self, AuthError, CutKind};
    identity::revoke_user_sessions(db, None, user_id, CutKind::Revoked)
        .await
        .map_err(|e| match e {
            AuthError::Db(d) => AdminError::from(d),
            other => AdminError::Db(crate::storage::DbError::Invalid(other.to_string())),
        })
}

/// Applies a change; refuses one that would leave no enabled admin.
async fn apply(db: &Db, login: &str, edit: &UserEdit) -> Result<AdminUser, AdminError> {
    match store::edit_user(db, login, edit).await? {
        UserChange::Done => get(db, login).await,
        UserChange::NoSuchUser => Err(AdminError::NotFound(format!("no user {login:?}"))),
        UserChange::LastAdmin => Err(AdminError::Conflict(format!(
            "refused: {login:?} is the last enabled admin; make another admin first"
        ))),
    }
}

/// Disables (true) or enables a user; disabling revokes their tokens.
pub async fn set_disabled(
    db: &Db,
    by: &Admin,
    login: &str,
    off: bool,
) -> Result<AdminUser, AdminError> {
    let u = apply(db, login, &UserEdit::Disabled(off)).await?;
    let revoked = if off { revoke(db, &u.id).await? } else { 0 };
    let what = if off { "user_disable" } else { "user_enable" };
    by.record(db, what, login, json!({"tokens_revoked": revoked}))
        .await;
    Ok(u)
}

/// Sets a new password and revokes the user's tokens.
pub async fn reset_password(
    db: &Db,
    by: &Admin,
    login: &str,
    password: &str,
) -> Result<AdminUser, AdminError> {
    let h = hash(password)?;
    let u = apply(db, login, &UserEdit::Password(h)).await?;
    let revoked = revoke(db, &u.id).await?;
    by.record(
        db,
        "user_password",
        login,
        json!({"tokens_revoked": revoked}),
    )
    .await;
    Ok(u)
}

/// Changes a user's role, crew, contractor and districts and revokes their tokens (their
/// sync scopes change with them).
pub async fn set_access(
    db: &Db,
    by: &Admin,
    login: &str,
    access: &Access,
) -> Result<AdminUser, AdminError> {
    get(db, login).await?;
    let a = checked_access(db, login, access).await?;
    let u = apply(
        db,
        login,
        &UserEdit::Access {
            role: a.role,
            crew: a.crew.clone(),
            contractor: a.contractor.clone(),
            districts: a.districts.clone(),
        },
    )
    .await?;
    let revoked = revoke(db, &u.id).await?;
    by.record(
        db,
        "user_access",
        login,
        json!({"role": a.role.as_str(), "crew": a.crew, "contractor": a.contractor,
            "districts": a.districts, "tokens_revoked": revoked}),
    )
    .await;
    Ok(u)
}

/// Revokes every token of a user (`tarmim-server user revoke-tokens`).
pub async fn revoke_tokens(db: &Db, by: &Admin, login: &str) -> Result<u64, AdminError> {
    let u = get(db, login).await?;
    let n = revoke(db, &u.id).await?;
    by.record(
        db,
        "user_revoke_tokens",
        login,
        json!({"tokens_revoked": n}),
    )
    .await;
    Ok(n)
}
