//! The demo's passwords are public, so a server reachable from other machines must not
//! run with them by accident. [`check`] refuses to start a server that listens on a
//! non-loopback address while any demo login — the admin, the dispatchers, the manager,
//! the call centre, the contractor's representative, every crew member — exists, enabled,
//! with its public password (or the demo would be seeded into an empty database), unless
//! `TARMIM_DEMO=true` was set by hand; the zero-setup default of the README (loopback) is
//! unchanged.

use crate::base::config::Config;
use crate::domain::identity::verify_password;
use crate::storage::{Db, DbError, IdentityStore};
use std::collections::HashSet;

/// Why the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    /// Public demo passwords on a reachable address.
    #[error(
        "refusing to serve on {listen}: {why}; the demo passwords are public (README). \
         Listen on 127.0.0.1, change those passwords, start with TARMIM_DEMO=false on an \
         empty database, or set TARMIM_DEMO=true by hand to run the public demo anyway"
    )]
    Exposed {
        /// The listen address.
        listen: std::net::SocketAddr,
        /// What was found.
        why: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Every demo login with its public password.
fn demo_credentials() -> Vec<(String, &'static str)> {
    let fixed = super::DEMO_LOGINS
        .iter()
        .map(|(login, password, _)| ((*login).to_owned(), *password));
    let crews = super::demo_crew_logins()
        .into_iter()
        .map(|login| (login, super::DEMO_CREW_PASSWORD));
    fixed.chain(crews).collect()
}

/// Whether `TARMIM_DEMO` was set to true by hand in `env`.
pub fn demo_set_by_hand(env: impl Fn(&str) -> Option<String>) -> bool {
    env("TARMIM_DEMO").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Refuses a non-loopback server with the public demo passwords (see the module).
pub async fn check(db: &Db, config: &Config, by_hand: bool) -> Result<(), ExposureError> {
    if config.listen.ip().is_loopback() || by_hand {
        return Ok(());
    }
    let exposed = |why| ExposureError::Exposed {
        listen: config.listen,
        why,
    };
    if config.demo && db.count_users().await? == 0 {
        return Err(exposed(
            "the database is empty and TARMIM_DEMO (on by default) would seed the demo logins"
                .to_owned(),
        ));
    }
    // The demo gives every crew member one hash, every dispatcher another: each
    // (password, hash) pair is verified once (argon2 is slow on purpose). A pair in
    // `differs` was verified and did not match (a match returns at once).
    let mut differs: HashSet<(&'static str, String)> = HashSet::new();
    for (login, password) in demo_credentials() {
        let Some(user) = db.user_by_login(&login).await? else {
            continue;
        };
        if user.disabled || !differs.insert((password, user.password_hash.clone())) {
            continue;
        }
        let hash = user.password_hash;
        let public = tokio::task::spawn_blocking(move || verify_password(password, &hash))
            .await
            .unwrap_or(false);
        if public {
            return Err(exposed(format!(
                "the demo login {login:?} exists with its public password"
            )));
        }
    }
    Ok(())
}
