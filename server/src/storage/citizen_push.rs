//! Citizens' Web Push subscriptions, as stored (migration 0039): a column of the contact
//! row (`open311_contacts.webpush`) the tracking code holds, so that every rule of
//! contact details applies to it unchanged — erased with the row by "forget my contact"
//! and by the retention sweep, stopped by the unsubscribe link. A code that had no
//! contact gets a row holding only the subscription (and the language).

use super::{Db, DbError, on_pool};

/// Stores `subscription` (checked, re-serialised) on the contact `reference` (kind
/// `request` for a reporter — `reference` the task or message id — or `support` for a
/// supporter — `reference` their code) of `task`, replacing an earlier one; creates the
/// row if the code held no contact.
pub async fn subscribe(
    db: &Db,
    reference: &str,
    kind: &str,
    task: &str,
    subscription: &str,
    lang: &str,
    now: i64,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO open311_contacts (ref, kind, task, webpush, lang, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (ref) DO UPDATE SET webpush = excluded.webpush, \
             lang = COALESCE(open311_contacts.lang, excluded.lang)",
    )
    .bind(reference)
    .bind(kind)
    .bind(task)
    .bind(subscription)
    .bind(lang)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Drops the subscription of contact `reference`; true if it had one.
pub async fn clear(db: &Db, reference: &str) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE open311_contacts SET webpush = NULL WHERE ref = $1 AND webpush IS NOT NULL",
    )
    .bind(reference)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n > 0)
}

/// Drops the subscription of contact `reference` if it is still `subscription` (a push
/// service said it is gone; a newer one given meanwhile stays).
pub async fn clear_if(db: &Db, reference: &str, subscription: &str) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE open311_contacts SET webpush = NULL WHERE ref = $1 AND webpush = $2",
    )
    .bind(reference)
    .bind(subscription)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n > 0)
}

/// The subscription contact `reference` holds, if any.
pub async fn of(db: &Db, reference: &str) -> Result<Option<String>, DbError> {
    let row: Option<(Option<String>,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT webpush FROM open311_contacts WHERE ref = $1",
    )
    .bind(reference)
    .fetch_optional(pool)
    .await?);
    Ok(row.and_then(|r| r.0))
}
