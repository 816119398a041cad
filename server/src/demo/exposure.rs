//! The demo's passwords are public, so a server reachable from other machines must not
//! run with them by accident. [`check`] refuses to start a server that listens on a
//! non-loopback address while the demo logins exist with their public passwords (or
//! would be seeded into an empty database), unless `TARMIM_DEMO=true` was set by hand —
//! the zero-setup default of the README (loopback) is unchanged.

use crate::base::config::Config;
use crate::domain::identity::verify_password;
use crate::storage::{Db, DbError, IdentityStore};

/// Why the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    /// Public demo passwords on a reachable address.
    #[error(
        "refusing to serve on {listen}: {why}, and their passwords are public (README). \
         Listen on 127.0.0.1, change those passwords, start with TARMIM_DEMO=false on an \
         empty database, or set TARMIM_DEMO=true by hand to run the public demo anyway"
    )]
    Exposed {
        /// The listen address.
        listen: std::net::SocketAddr,
        /// What was found.
        why: &'static str,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
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
            "the database is empty and TARMIM_DEMO (on by default) would seed the demo logins",
        ));
    }
    let (login, password, _) = super::DEMO_LOGINS[0];
    if let Some(user) = db.user_by_login(login).await? {
        let hash = user.password_hash.clone();
        let public = tokio::task::spawn_blocking(move || verify_password(password, &hash))
            .await
            .unwrap_or(false);
        if public && !user.disabled {
            return Err(exposed("the demo logins exist in the database"));
        }
    }
    Ok(())
}
