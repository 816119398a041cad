//! The staff audit log's rules: what is recorded (logins and their failures,
//! assignments, verifications and rejections, penalty decisions and appeals, views of
//! original photos, exports, admin changes from the admin page and the command line —
//! `domain::admin`), by whom it is read (admins), and the check of its
//! hash chain (`tarmim-server audit verify`). The table and the chain are
//! `storage::audit`. Integrity reports never come here: their anonymity rules stand.
//!
//! Recording never makes a staff action fail after the fact — the action is already
//! committed when it is recorded — so a failed write is logged as an error (and counted
//! by `tarmim_audit_write_failures_total`) instead.

use crate::base::time::now_millis;
use crate::domain::identity::{self, AuthError, Identity, LoginResponse, LoginSettings, UserRole};
use crate::storage::audit::{self as store, AuditEntry, ChainReport, NewAuditEntry};
use crate::storage::{Db, DbError};
use serde_json::{Value, json};

/// Who did it: a signed-in user, or the command line.
#[derive(Debug, Clone)]
pub struct Who {
    actor: String,
    role: String,
    device: String,
}

impl Who {
    /// A signed-in user.
    pub fn of(id: &Identity) -> Who {
        Who {
            actor: id.user_id.clone(),
            role: id.role.as_str().to_owned(),
            device: id.device.to_string(),
        }
    }

    /// Anyone named outright (the demo city's history).
    pub fn named(actor: &str, role: &str, device: &str) -> Who {
        Who {
            actor: actor.to_owned(),
            role: role.to_owned(),
            device: device.to_owned(),
        }
    }

    /// The command line (an operator on the server's machine).
    pub fn cli() -> Who {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Who {
            actor: format!("cli:{user}"),
            role: "cli".into(),
            device: "cli".into(),
        }
    }
}

/// Records `action` on `target` by `who`; see the module docs for failures.
pub async fn record(db: &Db, who: &Who, action: &str, target: Option<&str>, detail: Value) {
    let e = NewAuditEntry {
        at: now_millis(),
        actor: who.actor.clone(),
        role: who.role.clone(),
        device: who.device.clone(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        detail: detail.to_string(),
    };
    if let Err(err) = store::append(db, &e).await {
        metrics::counter!("tarmim_audit_write_failures_total").increment(1);
        tracing::error!(error = %err, action, "audit log write failed");
    }
}

/// Signs in ([`identity::sign_in`]) and records the login, or its failure with the login
/// name typed (never the password).
pub async fn sign_in(
    db: &Db,
    throttle: &crate::domain::throttle::LoginThrottle,
    address: Option<std::net::IpAddr>,
    login: &str,
    password: &str,
    device: &str,
    settings: &LoginSettings,
) -> Result<LoginResponse, AuthError> {
    let res = identity::sign_in(db, throttle, address, login, password, device, settings).await;
    match &res {
        Ok(r) => {
            let who = Who {
                actor: r.me.user_id.clone(),
                role: r.me.role.as_str().to_owned(),
                device: r.me.device_id.clone(),
            };
            record(db, &who, "login", None, json!({"login": r.me.login})).await;
        }
        Err(AuthError::InvalidCredentials) => {
            let who = Who {
                actor: login.chars().take(100).collect(),
                role: "unknown".into(),
                device: device.chars().take(100).collect(),
            };
            record(db, &who, "login_failed", None, json!({"login": who.actor})).await;
        }
        Err(AuthError::AccountDisabled) => {
            let who = Who {
                actor: login.chars().take(100).collect(),
                role: "unknown".into(),
                device: device.chars().take(100).collect(),
            };
            let detail = json!({"login": who.actor, "reason": "account_disabled"});
            record(db, &who, "login_failed", None, detail).await;
        }
        Err(AuthError::DeviceTaken(taken)) => {
            // Someone with a valid password tried another user's device id.
            let who = Who {
                actor: login.chars().take(100).collect(),
                role: "unknown".into(),
                device: taken.to_string(),
            };
            let login = who.actor.clone();
            record(
                db,
                &who,
                "login_device_taken",
                None,
                json!({"login": login}),
            )
            .await;
        }
        Err(_) => {}
    }
    res
}

/// Why the log cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Only admins read it.
    #[error("the audit log is for admins")]
    Forbidden,
    /// Bad paging.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The newest rows first, for an admin; reading it (as CSV: an export) is recorded too.
pub async fn read(
    db: &Db,
    who: &Identity,
    limit: i64,
    offset: i64,
    export: bool,
) -> Result<(Vec<AuditEntry>, i64), AuditError> {
    if who.role != UserRole::Admin {
        return Err(AuditError::Forbidden);
    }
    if !(1..=10_000).contains(&limit) || offset < 0 {
        return Err(AuditError::Invalid(
            "limit is 1 to 10000 and offset at least 0".into(),
        ));
    }
    if export {
        record(
            db,
            &Who::of(who),
            "export",
            Some("audit_log"),
            json!({"limit": limit, "offset": offset}),
        )
        .await;
    }
    let rows = store::newest(db, limit, offset).await?;
    Ok((rows, store::count(db).await?))
}

/// The rows as CSV (RFC 4180: every field quoted).
pub fn csv(rows: &[AuditEntry]) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("seq,at,actor,role,device,action,target,detail,prev_hash,hash\r\n");
    for r in rows {
        let fields = [
            r.seq.to_string(),
            crate::base::time::rfc3339_utc(r.at),
            r.actor.clone(),
            r.role.clone(),
            r.device.clone(),
            r.action.clone(),
            r.target.clone().unwrap_or_default(),
            r.detail.clone(),
            r.prev_hash.clone(),
            r.hash.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| q(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Checks the whole chain, its head, and the `anchors` noted outside the database.
pub async fn verify(db: &Db, anchors: &[store::Anchor]) -> Result<ChainReport, DbError> {
    store::verify_chain(db, anchors).await
}
