//! Devices' push registrations (migration 0036): which push service wakes a device and
//! the token (or Web Push subscription) it wakes it through. One per device.

use super::{Db, DbError, classify, on_pool};
use sync_core::Millis;

/// A device's registration.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Registration {
    /// The device.
    pub device: String,
    /// `fcm`, `apns` or `webpush`.
    pub kind: String,
    /// The provider's token, or the Web Push subscription (JSON).
    pub token: String,
}

/// Registers `device`'s token: replaces the device's earlier one (a rotated token), and
/// takes the token from any other device that held it (the app reinstalled under a new
/// device id: the old device no longer receives through it).
pub async fn register(
    db: &Db,
    device: &str,
    user: &str,
    kind: &str,
    token: &str,
    now: Millis,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    super::on_tx!(&mut tx, c => sqlx::query(
        "DELETE FROM push_registrations WHERE kind = $1 AND token = $2 AND device <> $3",
    )
    .bind(kind)
    .bind(token)
    .bind(device)
    .execute(c)
    .await
    .map(|_| ()))?;
    super::on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO push_registrations (device, user_id, kind, token, registered_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (device) DO UPDATE SET user_id = excluded.user_id, kind = excluded.kind,
           token = excluded.token, registered_at = excluded.registered_at",
    )
    .bind(device)
    .bind(user)
    .bind(kind)
    .bind(token)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
    .map_err(|e| classify(e, "push registration"))?;
    tx.commit().await?;
    Ok(())
}

/// Removes `device`'s registration; true if there was one.
pub async fn unregister(db: &Db, device: &str) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM push_registrations WHERE device = $1")
        .bind(device)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n > 0)
}

/// Removes `device`'s registration if it still holds `token` (a provider said the token
/// is unregistered; a newer token registered meanwhile stays). True if removed.
pub async fn forget_token(db: &Db, device: &str, token: &str) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "DELETE FROM push_registrations WHERE device = $1 AND token = $2",
    )
    .bind(device)
    .bind(token)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n > 0)
}

/// `device`'s registration, if any.
pub async fn of_device(db: &Db, device: &str) -> Result<Option<Registration>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT device, kind, token FROM push_registrations WHERE device = $1",
    )
    .bind(device)
    .fetch_optional(pool)
    .await?))
}
