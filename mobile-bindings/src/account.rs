//! Who the client acts as: the server's answer at login, kept in the store so that the
//! client opens (and edits) offline afterwards, and the device id chosen at the first open.

use crate::error::TarmimError;
use crate::model::{Account, ClientConfig};
use crate::transport::TransportError;
use crate::transport::http::{HttpApi, Me};
use sync_core::store::{Store, WriteBatch};
use sync_core::{Actor, DeviceId, Role};

const ACCOUNT_KEY: &str = "mobile-bindings:account";

/// The account saved in `store`, if any.
pub(crate) fn load(store: &Store) -> Result<Option<Me>, TarmimError> {
    match store.meta(ACCOUNT_KEY)? {
        None => Ok(None),
        Some(bytes) if bytes.is_empty() => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| TarmimError::storage(format!("the saved account is unreadable: {e}"))),
    }
}

/// Saves the account (durably).
pub(crate) fn save(store: &Store, me: &Me) -> Result<(), TarmimError> {
    let json = serde_json::to_vec(me)
        .map_err(|e| TarmimError::storage(format!("account not saved: {e}")))?;
    let mut batch = WriteBatch::default();
    batch.meta.push((ACCOUNT_KEY.into(), json));
    store.write(batch)?;
    Ok(())
}

/// The account as saved (the server's `me`).
pub(crate) type Saved = Me;

/// Logs in, or, when the server cannot be reached, falls back to the account saved in the
/// store by an earlier login. Returns the account and the token (none when offline).
pub(crate) async fn sign_in(
    api: &HttpApi,
    store: &Store,
    config: &ClientConfig,
) -> Result<(Me, Option<String>), TarmimError> {
    let saved = load(store)?;
    if let Some(s) = &saved
        && s.login != config.login
    {
        return Err(TarmimError::invalid(format!(
            "this data folder belongs to login {:?}; use one folder per account",
            s.login
        )));
    }
    let device_id = saved
        .as_ref()
        .map(|s| s.device_id.clone())
        .unwrap_or_else(new_device_id);
    match api.login(&config.login, &config.password, &device_id).await {
        Ok(login) => {
            if let Some(s) = &saved
                && s.user_id != login.me.user_id
            {
                return Err(TarmimError::invalid(format!(
                    "this data folder belongs to user {:?}, not {:?}",
                    s.user_id, login.me.user_id
                )));
            }
            let me = Me {
                device_id,
                ..login.me
            };
            if saved.as_ref() != Some(&me) {
                save(store, &me)?;
            }
            Ok((me, Some(login.token)))
        }
        Err(
            e @ (TransportError::Unreachable(_)
            | TransportError::Broken(_)
            | TransportError::Unavailable(_)
            | TransportError::RateLimited { .. }),
        ) => match saved {
            Some(s) => Ok((s, None)),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// A fresh device id for a new installation: `phone-` and 64 random bits.
pub(crate) fn new_device_id() -> String {
    format!("phone-{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The actor this phone's edits are made as.
pub(crate) fn actor_of(me: &Me) -> Result<Actor, TarmimError> {
    let role = match Role::parse(&me.role) {
        Some(r @ (Role::Crew | Role::Dispatcher | Role::Manager)) => r,
        _ => {
            return Err(TarmimError::invalid(format!(
                "a {} account has no tasks to sync on a phone",
                me.role
            )));
        }
    };
    Ok(Actor {
        user: me.user_id.clone(),
        role,
        crew: me.crew.clone(),
        device: DeviceId::new(me.device_id.clone())?,
    })
}

impl From<&Me> for Account {
    fn from(me: &Me) -> Self {
        Account {
            user_id: me.user_id.clone(),
            login: me.login.clone(),
            role: me.role.clone(),
            crew: me.crew.clone(),
            device_id: me.device_id.clone(),
        }
    }
}
