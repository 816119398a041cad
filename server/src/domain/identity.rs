//! Identity: who is calling, and which documents their device may sync.
//!
//! - Users have a role ([`UserRole`]), an argon2 password hash, a crew (crew members) and a
//!   district list (dispatchers, managers). Devices are registered at login.
//! - `POST /api/v1/login` issues a bearer token: 256 random bits, shown once, stored only
//!   as its SHA-256, with an expiry; `POST /api/v1/logout` or the admin CLI revokes it.
//! - [`Identity`] is an axum extractor: it authenticates the bearer token on every request.
//! - [`device_scopes`] computes the sync scopes of a device from its user.
//! - [`sign_in`], [`sign_out`] and [`me`] are what `POST /api/v1/login`,
//!   `POST /api/v1/logout` and `GET /api/v1/me` do.
//! - A device id belongs to the user who registered it: another user's login with it is
//!   refused ([`AuthError::DeviceTaken`], `409 device_taken`).
//! - [`revoke_user_sessions`] (and [`disable_user`], [`set_user_districts`],
//!   [`set_user_crew`]) end or narrow a user's authority and cut their live sync sockets
//!   and console streams on every replica (`domain::sessions`).
//!
//! Wrong password and unknown user fail the same way (same body, same argon2 work). A
//! disabled user's login fails that way too unless the password is right: only then is it
//! refused as [`AuthError::AccountDisabled`] (`403 account_disabled`), so the refusal tells
//! a guesser nothing. A disabled user's token is refused as [`AuthError::DisabledToken`]
//! (`401 account_disabled`): whoever holds it was that user. A phone told either drops what
//! it holds of the user's tasks (issue 20 §3).

use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::domain::sessions::LiveSessions;
use crate::domain::throttle::{LoginThrottle, Throttled};
pub use crate::storage::identity::UserRole;
use crate::storage::sessions;
pub use crate::storage::sessions::CutKind;
use crate::storage::{Db, DbError, IdentityStore, UserRecord};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::OnceLock;
use sync_core::session::TaskScopes;
use sync_core::{Actor, DeviceId, Millis, ScopeId};

/// Authentication failures.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown login or wrong password (deliberately not told apart).
    #[error("invalid login or password")]
    InvalidCredentials,
    /// No `Authorization` header.
    #[error("missing bearer token")]
    MissingToken,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("malformed Authorization header")]
    MalformedHeader,
    /// Unknown, expired or revoked token.
    #[error("invalid, expired or revoked token")]
    InvalidToken,
    /// The right password of a disabled user.
    #[error("this account is disabled; ask an administrator")]
    AccountDisabled,
    /// A token of a disabled user (revoked with the disabling, or not).
    #[error("this token's account is disabled; ask an administrator")]
    DisabledToken,
    /// Bad input (e.g. a malformed device id).
    #[error("{0}")]
    InvalidInput(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Refused before the password was checked (too many attempts, or too many at once).
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The device id was registered by another user: a device belongs to the user who
    /// registered it first.
    #[error("device {0} is registered to another user; log in with a device id of your own")]
    DeviceTaken(DeviceId),
}

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against a PHC string; false for a malformed hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the login is unknown, so both failures cost the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("tarmim-no-such-user").unwrap_or_default())
}

/// The prefix of every token (helps secret scanners and humans recognise one).
pub const TOKEN_PREFIX: &str = "tmt_";

/// A newly issued token: the text given to the client once, and the hash stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// `tmt_` + 64 hex digits (256 random bits).
    pub token: String,
    /// SHA-256 of `token`.
    pub hash: [u8; 32],
}

/// Issues a fresh random token.
pub fn new_token() -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&token);
    IssuedToken { token, hash }
}

/// SHA-256 of a token's text.
pub fn token_hash(token: &str) -> [u8; 32] {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_slice());
    out
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// User id.
    pub user_id: String,
    /// Login name.
    pub login: String,
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
    /// The device the token was issued to.
    pub device: DeviceId,
    /// When the token expires.
    pub expires_at: Millis,
    /// SHA-256 of the token (to revoke it).
    #[serde(skip)]
    pub token_hash: [u8; 32],
}

impl Identity {
    /// The actor the caller's document edits carry (none for admins).
    pub fn actor(&self) -> Option<Actor> {
        Some(Actor {
            user: self.user_id.clone(),
            role: self.role.sync_role()?,
            crew: self.crew.clone(),
            device: self.device.clone(),
        })
    }

    /// The device's sync scopes; see [`device_scopes`].
    pub fn scopes(&self, crew_sees_district_open: bool) -> Vec<ScopeId> {
        device_scopes(
            self.role,
            self.crew.as_deref(),
            self.crew_district.as_deref(),
            &self.districts,
            crew_sees_district_open,
        )
    }
}

/// The scopes a device syncs:
/// - crew members: `crew:<crew>`, plus `open:<crew's district>` if configured;
/// - dispatchers and managers: `district:<d>` for each of their districts;
/// - admins, call-centre operators and contractors' representatives: none (they use the
///   web console).
pub fn device_scopes(
    role: UserRole,
    crew: Option<&str>,
    crew_district: Option<&str>,
    districts: &[String],
    crew_sees_district_open: bool,
) -> Vec<ScopeId> {
    let mut out = Vec::new();
    match role {
        UserRole::Crew => {
            out.extend(crew.and_then(TaskScopes::crew));
            if crew_sees_district_open {
                out.extend(crew_district.and_then(TaskScopes::open));
            }
        }
        UserRole::Dispatcher | UserRole::Manager => {
            out.extend(districts.iter().filter_map(|d| TaskScopes::district(d)));
        }
        UserRole::Admin | UserRole::CallCentre | UserRole::Contractor => {}
    }
    out.sort();
    out.dedup();
    out
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The token, shown once.
    pub token: String,
    /// When it expires.
    pub expires_at: Millis,
    /// Who logged in.
    pub identity: Identity,
}

/// Checks a login and password, registers the device and issues a token (no throttle:
/// the admin CLI and tests; the HTTP route goes through [`sign_in`]).
pub async fn login<S: IdentityStore + Sync>(
    store: &S,
    login: &str,
    password: &str,
    device: &str,
    now: Millis,
    ttl_ms: Millis,
) -> Result<LoginOutcome, AuthError> {
    login_gated(store, None, login, password, device, now, ttl_ms).await
}

/// A login, counted and hashed through `gate` when there is one.
async fn login_gated<S: IdentityStore + Sync>(
    store: &S,
    gate: Option<(&LoginThrottle, Option<IpAddr>)>,
    login: &str,
    password: &str,
    device: &str,
    now: Millis,
    ttl_ms: Millis,
) -> Result<LoginOutcome, AuthError> {
    let device = DeviceId::new(device).map_err(|e| AuthError::InvalidInput(e.to_string()))?;
    // Counted before the store or the hash is touched, so a burst is counted as it comes.
    let attempt = match gate {
        Some((throttle, address)) => Some((throttle, throttle.admit(login, address)?)),
        None => None,
    };
    let user = store.user_by_login(login).await?;
    // A disabled user's own hash is checked too: a right password is then told that the
    // account is disabled, a wrong one fails as any wrong password does.
    let (phc, usable) = match &user {
        Some(u) => (u.password_hash.clone(), !u.disabled),
        None => (dummy_hash().to_owned(), false),
    };
    let pw = password.to_owned();
    let check = move || verify_password(&pw, &phc);
    let ok = match &attempt {
        Some((throttle, _)) => throttle.hash(check).await?,
        None => tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?,
    };
    if ok
        && usable
        && let Some((throttle, attempt)) = &attempt
    {
        throttle.succeeded(attempt);
    }
    let user = match user {
        Some(u) if ok && usable => u,
        Some(u) if ok && u.disabled => {
            tracing::info!(login, "login refused: the account is disabled");
            return Err(AuthError::AccountDisabled);
        }
        _ => {
            tracing::info!(login, "login refused");
            return Err(AuthError::InvalidCredentials);
        }
    };
    if !store.register_device(&device, &user.id, now).await? {
        tracing::info!(login, device = %device, "login refused: another user's device id");
        return Err(AuthError::DeviceTaken(device));
    }
    let issued = new_token();
    let expires_at = now.saturating_add(ttl_ms);
    store
        .insert_token(&issued.hash, &user.id, &device, now, expires_at)
        .await?;
    tracing::info!(login, user = %user.id, device = %device, "login");
    Ok(LoginOutcome {
        token: issued.token,
        expires_at,
        identity: identity_of(user, device, expires_at, issued.hash),
    })
}

/// What a login's answer depends on (from [`Config`]).
#[derive(Debug, Clone, Copy)]
pub struct LoginSettings {
    /// How long a token lives.
    pub token_ttl_ms: Millis,
    /// Whether crew members also sync their district's open tasks.
    pub crew_sees_district_open: bool,
}

impl LoginSettings {
    /// The login settings of the configuration.
    pub fn from_config(config: &Config) -> LoginSettings {
        LoginSettings {
            token_ttl_ms: config.token_ttl_ms(),
            crew_sees_district_open: config.crew_sees_district_open,
        }
    }
}

/// Who the caller is, and what its device syncs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// User id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Role.
    pub role: UserRole,
    /// Crew, for crew members.
    pub crew: Option<String>,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
    /// The contractor, for contractors' representatives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contractor: Option<String>,
    /// Device id.
    pub device_id: String,
    /// Sync scopes of this device.
    pub scopes: Vec<String>,
    /// Token expiry (ms since the epoch).
    #[schema(value_type = i64)]
    pub expires_at: Millis,
    /// The language the user chose for the pages (`fa` or `en`; none: not chosen yet),
    /// [`set_lang`].
    pub lang: Option<String>,
}

/// The languages the pages speak.
pub const LANGS: [&str; 2] = ["fa", "en"];

/// The user's chosen language, if any.
pub async fn lang(db: &Db, user_id: &str) -> Result<Option<String>, AuthError> {
    Ok(crate::storage::identity::user_lang(db, user_id)
        .await?
        .filter(|l| LANGS.contains(&l.as_str())))
}

/// Remembers the user's language for the pages (the language switch): `fa` or `en`.
pub async fn set_lang(db: &Db, who: &Identity, lang: &str) -> Result<(), AuthError> {
    if !LANGS.contains(&lang) {
        return Err(AuthError::InvalidInput(format!(
            "language {lang:?} is not one of fa, en"
        )));
    }
    crate::storage::identity::set_user_lang(db, &who.user_id, lang).await?;
    Ok(())
}

/// The caller as `GET /api/v1/me` describes it.
pub fn me(who: &Identity, crew_sees_district_open: bool) -> Me {
    Me {
        user_id: who.user_id.clone(),
        login: who.login.clone(),
        role: who.role,
        crew: who.crew.clone(),
        districts: who.districts.clone(),
        contractor: who.contractor.clone(),
        device_id: who.device.to_string(),
        scopes: who
            .scopes(crew_sees_district_open)
            .into_iter()
            .map(String::from)
            .collect(),
        expires_at: who.expires_at,
        lang: None,
    }
}

/// Login response body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Bearer token (shown once).
    pub token: String,
    /// `Bearer`.
    #[schema(value_type = String)]
    pub token_type: &'static str,
    /// Expiry (ms since the epoch).
    #[schema(value_type = i64)]
    pub expires_at: Millis,
    /// The caller.
    pub me: Me,
}

/// Logs in now ([`login`]), counts the outcome (`tarmim_logins_total`), and answers with
/// the token and who logged in.
pub async fn sign_in<S: IdentityStore + Sync>(
    store: &S,
    throttle: &LoginThrottle,
    address: Option<IpAddr>,
    login_name: &str,
    password: &str,
    device: &str,
    settings: &LoginSettings,
) -> Result<LoginResponse, AuthError> {
    let res = login_gated(
        store,
        Some((throttle, address)),
        login_name,
        password,
        device,
        now_millis(),
        settings.token_ttl_ms,
    )
    .await;
    let outcome = match &res {
        Ok(_) => "ok",
        Err(AuthError::Throttled(_)) => "throttled",
        Err(_) => "refused",
    };
    metrics::counter!("tarmim_logins_total", "outcome" => outcome).increment(1);
    let out = res?;
    Ok(LoginResponse {
        me: me(&out.identity, settings.crew_sees_district_open),
        token: out.token,
        token_type: "Bearer",
        expires_at: out.expires_at,
    })
}

/// Logs out: revokes the token the caller authenticated with; the sync sockets and
/// console streams it opened close, here at once and on other replicas within seconds.
pub async fn sign_out(db: &Db, live: &LiveSessions, who: &Identity) -> Result<(), AuthError> {
    db.revoke_token(&who.token_hash, now_millis()).await?;
    tracing::info!(user = %who.user_id, device = %who.device, "logout");
    cut_here(db, Some(live)).await;
    Ok(())
}

/// Applies the cuts just written to this replica's live sessions, at once (other replicas
/// hear of them through `NOTIFY` or their poll). A failure is only logged: the cut is
/// durable, and the poll or the next notification applies it.
async fn cut_here(db: &Db, live: Option<&LiveSessions>) {
    if let Some(live) = live
        && let Err(e) = live.catch_up(db).await
    {
        tracing::warn!(error = %e, "session cut written but not applied here yet");
    }
}

/// Cuts a user's live sessions (sync sockets, console event streams) on every replica:
/// - [`CutKind::Revoked`]: revokes every token of the user too (disabling a user, a
///   stolen phone); its sockets close with `4401` and cannot reconnect with those tokens.
///   Returns the tokens revoked.
/// - [`CutKind::Rescoped`]: the user's role, districts or crew changed (call it after
///   writing the change); its sockets close with `4409` and a reconnect follows the new
///   scopes. Tokens stay valid. Returns 0.
///
/// `live`: this replica's registry, to cut here at once (`None` from the CLI: the servers
/// apply the cut within seconds).
pub async fn revoke_user_sessions(
    db: &Db,
    live: Option<&LiveSessions>,
    user_id: &str,
    kind: CutKind,
) -> Result<u64, AuthError> {
    let now = now_millis();
    let n = match kind {
        // The cut is written in the revocation's transaction.
        CutKind::Revoked => db.revoke_user_tokens(user_id, now).await?,
        CutKind::Rescoped => {
            sessions::cut(db, user_id, None, CutKind::Rescoped, now).await?;
            0
        }
    };
    tracing::info!(user = %user_id, kind = kind.as_str(), tokens = n, "user's sessions cut");
    cut_here(db, live).await;
    Ok(n)
}

/// Disables a user: no login, every token revoked, every live session closed. False when
/// there is no such user.
pub async fn disable_user(
    db: &Db,
    live: Option<&LiveSessions>,
    user_id: &str,
) -> Result<bool, AuthError> {
    let done = sessions::disable_user(db, user_id, now_millis()).await?;
    cut_here(db, live).await;
    Ok(done)
}

/// Replaces a dispatcher's or manager's districts; their live sessions close and reconnect
/// to the new districts. False when there is no such user.
pub async fn set_user_districts(
    db: &Db,
    live: Option<&LiveSessions>,
    user_id: &str,
    districts: &[String],
) -> Result<bool, AuthError> {
    let done = sessions::set_user_districts(db, user_id, districts, now_millis()).await?;
    cut_here(db, live).await;
    Ok(done)
}

/// Moves a crew member to `crew`; their live sessions close and reconnect to the new
/// crew's scopes. False when the user is not a crew member.
pub async fn set_user_crew(
    db: &Db,
    live: Option<&LiveSessions>,
    user_id: &str,
    crew: &str,
) -> Result<bool, AuthError> {
    let done = sessions::set_user_crew(db, user_id, crew, now_millis()).await?;
    cut_here(db, live).await;
    Ok(done)
}

fn identity_of(user: UserRecord, device: DeviceId, expires_at: Millis, hash: [u8; 32]) -> Identity {
    Identity {
        user_id: user.id,
        login: user.login,
        role: user.role,
        crew: user.crew,
        crew_district: user.crew_district,
        districts: user.districts,
        contractor: user.contractor,
        device,
        expires_at,
        token_hash: hash,
    }
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&str, AuthError> {
    let raw = header.ok_or(AuthError::MissingToken)?;
    let text = std::str::from_utf8(raw).map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = text
        .trim()
        .split_once(' ')
        .ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// Authenticates a bearer token: it must exist, be unexpired and unrevoked, and belong to
/// an enabled user.
pub async fn authenticate<S: IdentityStore + Sync>(
    store: &S,
    token: &str,
    now: Millis,
) -> Result<Identity, AuthError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 64 {
        return Err(AuthError::InvalidToken);
    }
    authenticate_hash(store, token_hash(token), now).await
}

/// [`authenticate`] again, by the token's hash: who the caller is *now*. A live socket or
/// stream reads it once more after registering its [`crate::domain::sessions::SessionGuard`],
/// so that a revocation or scope change committed between the first read and the
/// registration is not missed.
pub async fn reauthenticate<S: IdentityStore + Sync>(
    store: &S,
    who: &Identity,
    now: Millis,
) -> Result<Identity, AuthError> {
    authenticate_hash(store, who.token_hash, now).await
}

/// Whether the token hashed `token_hash` belongs to a disabled user: why a live socket's
/// session was revoked, asked once when it is cut.
pub async fn account_disabled<S: IdentityStore + Sync>(
    store: &S,
    token_hash: &[u8; 32],
) -> Result<bool, AuthError> {
    Ok(store
        .token(token_hash)
        .await?
        .is_some_and(|rec| rec.user.disabled))
}

async fn authenticate_hash<S: IdentityStore + Sync>(
    store: &S,
    hash: [u8; 32],
    now: Millis,
) -> Result<Identity, AuthError> {
    let rec = store.token(&hash).await?.ok_or(AuthError::InvalidToken)?;
    if rec.user.disabled {
        // Disabling revokes every token: told apart so that the phone drops the user's
        // tasks rather than try to log in again.
        tracing::debug!(user = %rec.user.id, "refused token: disabled user");
        return Err(AuthError::DisabledToken);
    }
    if rec.revoked_at.is_some() || rec.expires_at <= now {
        tracing::debug!(user = %rec.user.id, "refused token: revoked or expired");
        return Err(AuthError::InvalidToken);
    }
    Ok(identity_of(rec.user, rec.device, rec.expires_at, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", "not a phc string"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 4 + 64);
        assert_eq!(token_hash(&a.token), a.hash);
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(Some(b"Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some(b"bearer abc")).unwrap(), "abc");
        assert!(matches!(bearer_token(None), Err(AuthError::MissingToken)));
        for bad in [
            &b"Basic abc"[..],
            b"Bearer",
            b"Bearer ",
            b"abc",
            b"Bearer a b",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(bearer_token(Some(bad)), Err(AuthError::MalformedHeader)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn scopes_per_role() {
        let s = device_scopes(UserRole::Crew, Some("C1"), Some("D1"), &[], true);
        let names: Vec<&str> = s.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["crew:C1", "open:D1"]);
        let s = device_scopes(UserRole::Crew, Some("C1"), Some("D1"), &[], false);
        assert_eq!(s.len(), 1);
        let s = device_scopes(
            UserRole::Dispatcher,
            None,
            None,
            &["D2".into(), "D1".into()],
            true,
        );
        let names: Vec<&str> = s.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["district:D1", "district:D2"]);
        assert!(device_scopes(UserRole::Admin, None, None, &["D1".into()], true).is_empty());
    }

    #[test]
    fn roles_parse() {
        for r in UserRole::ALL {
            assert_eq!(UserRole::parse(r.as_str()), Some(r));
        }
        assert!("root".parse::<UserRole>().is_err());
    }
}
