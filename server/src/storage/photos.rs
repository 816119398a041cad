//! The photo tables (`migrations/*/0003_photos.sql`) on either backend: `photos` (one row
//! per stored photo, with its EXIF facts and flags) and `photo_uploads` (unfinished
//! resumable uploads), and `photo_attachments` (`0037`: each task a photo was uploaded
//! for, by which device, with its flags against that task), and `photo_upload_chunks`
//! (`0051`: the bytes of unfinished uploads, shared by every replica). The same SQL runs
//! on SQLite and PostgreSQL.

use crate::storage::{Db, DbError, on_pool, on_tx};
use sync_core::Millis;

/// One stored photo.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PhotoRow {
    /// SHA-256, hex.
    pub hash: String,
    /// The task named by the upload.
    pub task: String,
    /// `before`, `after` or `evidence`, as the upload said.
    pub kind: Option<String>,
    /// Content type.
    pub mime: String,
    /// Size in bytes.
    pub bytes: i64,
    /// Width.
    pub width: i64,
    /// Height.
    pub height: i64,
    /// Device that uploaded it.
    pub uploaded_by: String,
    /// When it was stored.
    pub uploaded_at: Millis,
    /// EXIF time.
    pub exif_taken_at: Option<Millis>,
    /// EXIF latitude.
    pub exif_lat: Option<f64>,
    /// EXIF longitude.
    pub exif_lon: Option<f64>,
    /// Metres from the task's point.
    pub distance_m: Option<f64>,
    /// Flag: far from the task.
    pub far_from_task: bool,
    /// Flag: taken before the task existed.
    pub before_task: bool,
    /// ETag of the thumbnail.
    pub thumb_etag: String,
    /// ETag of the display image.
    pub display_etag: String,
}

/// One unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadRow {
    /// SHA-256, hex: the upload's address.
    pub hash: String,
    /// The task named.
    pub task: String,
    /// Photo kind, if given.
    pub kind: Option<String>,
    /// Declared content type.
    pub mime: String,
    /// Declared length.
    pub length: i64,
    /// Device that created it.
    pub device: String,
    /// Its user.
    pub user_id: String,
    /// When created.
    pub created_at: Millis,
}

/// A photo uploaded for one task: which device sent its bytes for it, and the place-and-
/// time flags against that task.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttachmentRow {
    /// The photo.
    pub hash: String,
    /// The task it was uploaded for.
    pub task: String,
    /// `before`, `after` or `evidence`, as the upload said.
    pub kind: Option<String>,
    /// The device that sent the bytes for this task.
    pub device: String,
    /// When.
    pub attached_at: Millis,
    /// Metres from the task's point, when EXIF has a position.
    pub distance_m: Option<f64>,
    /// Flag: far from the task.
    pub far_from_task: bool,
    /// Flag: taken before the task existed.
    pub before_task: bool,
}

impl AttachmentRow {
    /// The photo as seen from this attachment's task: the blob's facts with the task, kind,
    /// uploader and flags of the attachment.
    pub fn over(&self, photo: PhotoRow) -> PhotoRow {
        PhotoRow {
            task: self.task.clone(),
            kind: self.kind.clone(),
            uploaded_by: self.device.clone(),
            uploaded_at: self.attached_at,
            distance_m: self.distance_m,
            far_from_task: self.far_from_task,
            before_task: self.before_task,
            ..photo
        }
    }
}

const ATTACHMENT_COLUMNS: &str =
    "hash, task, kind, device, attached_at, distance_m, far_from_task, before_task";

/// Records an attachment (a second one for the same photo and task keeps the first).
pub async fn insert_attachment(db: &Db, a: &AttachmentRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO photo_attachments ({ATTACHMENT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash, task) DO NOTHING"
    );
    on_pool!(db, pool => sqlx::query(&sql)
        .bind(&a.hash)
        .bind(&a.task)
        .bind(&a.kind)
        .bind(&a.device)
        .bind(a.attached_at)
        .bind(a.distance_m)
        .bind(a.far_from_task)
        .bind(a.before_task)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}

/// Photo `hash`'s attachment to `task`, if it was uploaded for it.
pub async fn attachment(db: &Db, hash: &str, task: &str) -> Result<Option<AttachmentRow>, DbError> {
    let sql =
        format!("SELECT {ATTACHMENT_COLUMNS} FROM photo_attachments WHERE hash = $1 AND task = $2");
    let row: Option<AttachmentRow> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(hash)
        .bind(task)
        .fetch_optional(pool)
        .await?);
    Ok(row)
}

/// Every task photo `hash` was uploaded for (oldest first).
pub async fn attachments_of(db: &Db, hash: &str) -> Result<Vec<AttachmentRow>, DbError> {
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM photo_attachments WHERE hash = $1 \
         ORDER BY attached_at, task"
    );
    let rows: Vec<AttachmentRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(hash).fetch_all(pool).await?);
    Ok(rows)
}

/// Photo `hash` as uploaded for `task` (none if it was not uploaded for that task).
pub async fn photo_for_task(db: &Db, hash: &str, task: &str) -> Result<Option<PhotoRow>, DbError> {
    let Some(a) = attachment(db, hash, task).await? else {
        return Ok(None);
    };
    Ok(photo(db, hash).await?.map(|p| a.over(p)))
}

const PHOTO_COLUMNS: &str = "hash, task, kind, mime, bytes, width, height, uploaded_by, \
     uploaded_at, exif_taken_at, exif_lat, exif_lon, distance_m, far_from_task, before_task, \
     thumb_etag, display_etag";

/// A stored photo.
pub async fn photo(db: &Db, hash: &str) -> Result<Option<PhotoRow>, DbError> {
    let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE hash = $1");
    let row: Option<PhotoRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(hash).fetch_optional(pool).await?);
    Ok(row)
}

/// Records a stored photo (a second insert of the same hash keeps the first).
pub async fn insert_photo(db: &Db, p: &PhotoRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO photos ({PHOTO_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (hash) DO NOTHING"
    );
    on_pool!(db, pool => sqlx::query(&sql)
        .bind(&p.hash)
        .bind(&p.task)
        .bind(&p.kind)
        .bind(&p.mime)
        .bind(p.bytes)
        .bind(p.width)
        .bind(p.height)
        .bind(&p.uploaded_by)
        .bind(p.uploaded_at)
        .bind(p.exif_taken_at)
        .bind(p.exif_lat)
        .bind(p.exif_lon)
        .bind(p.distance_m)
        .bind(p.far_from_task)
        .bind(p.before_task)
        .bind(&p.thumb_etag)
        .bind(&p.display_etag)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}

/// Every stored photo of a task, by hash.
pub async fn photos_of_task(db: &Db, task: &str) -> Result<Vec<PhotoRow>, DbError> {
    let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE task = $1 ORDER BY hash");
    let rows: Vec<PhotoRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(task).fetch_all(pool).await?);
    Ok(rows)
}

/// An unfinished upload.
pub async fn upload(db: &Db, hash: &str) -> Result<Option<UploadRow>, DbError> {
    let sql = "SELECT hash, task, kind, mime, length, device, user_id, created_at \
               FROM photo_uploads WHERE hash = $1";
    let row: Option<UploadRow> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(hash).fetch_optional(pool).await?);
    Ok(row)
}

/// Records a new upload; false if one with this hash already exists.
pub async fn insert_upload(db: &Db, u: &UploadRow) -> Result<bool, DbError> {
    let sql = "INSERT INTO photo_uploads (hash, task, kind, mime, length, device, user_id, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash) DO NOTHING";
    let done = on_pool!(db, pool => sqlx::query(sql)
        .bind(&u.hash)
        .bind(&u.task)
        .bind(&u.kind)
        .bind(&u.mime)
        .bind(u.length)
        .bind(&u.device)
        .bind(&u.user_id)
        .bind(u.created_at)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(done == 1)
}

/// Unfinished uploads created before `before` (oldest first, at most `limit`).
pub async fn uploads_created_before(
    db: &Db,
    before: Millis,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT hash FROM photo_uploads WHERE created_at < $1 ORDER BY created_at LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?);
    Ok(rows.into_iter().map(|(h,)| h).collect())
}

/// How many bytes the database holds of an unfinished upload (the sum of its chunks),
/// and when a chunk of it was last written (`None` if never); `None` if there is no such
/// upload.
pub async fn upload_received(
    db: &Db,
    hash: &str,
) -> Result<Option<(i64, Option<Millis>)>, DbError> {
    let row: Option<(i64, Option<i64>)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT CAST((SELECT COALESCE(SUM(length(c.bytes)), 0) FROM photo_upload_chunks c \
                      WHERE c.hash = u.hash) AS BIGINT), u.written_at \
         FROM photo_uploads u WHERE u.hash = $1",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?);
    Ok(row)
}

/// Appends one chunk at offset `at`, in one transaction that locks the upload's row
/// first (stamping `written_at`) and then checks that `at` is still its offset: false
/// (and nothing written) when another request, on any replica, appended first or the
/// upload is gone. The row lock is what keeps two writers of one upload apart across
/// replicas; on SQLite the one writer is.
pub async fn append_upload_chunk(
    db: &Db,
    hash: &str,
    at: i64,
    bytes: &[u8],
    now: Millis,
) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let locked = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE photo_uploads SET written_at = $1 WHERE hash = $2",
    )
    .bind(now)
    .bind(hash)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if locked != 1 {
        return Ok(false);
    }
    let offset: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(length(bytes)), 0) AS BIGINT) FROM photo_upload_chunks \
         WHERE hash = $1",
    )
    .bind(hash)
    .fetch_one(conn)
    .await)?;
    if offset != at {
        return Ok(false);
    }
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO photo_upload_chunks (hash, at, bytes) VALUES ($1, $2, $3)",
    )
    .bind(hash)
    .bind(at)
    .bind(bytes)
    .execute(conn)
    .await
    .map(|_| ()))?;
    tx.commit().await?;
    Ok(true)
}

/// The bytes of an unfinished upload, in order (empty if none).
pub async fn upload_bytes(db: &Db, hash: &str) -> Result<Vec<u8>, DbError> {
    let chunks: Vec<(Vec<u8>,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT bytes FROM photo_upload_chunks WHERE hash = $1 ORDER BY at",
    )
    .bind(hash)
    .fetch_all(pool)
    .await?);
    let mut out = Vec::with_capacity(chunks.iter().map(|(c,)| c.len()).sum());
    for (c,) in chunks {
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// Forgets an upload (finished or discarded), its chunks with it (`ON DELETE CASCADE`).
pub async fn delete_upload(db: &Db, hash: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("DELETE FROM photo_uploads WHERE hash = $1")
        .bind(hash)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}

/// The declared bytes of a user's unfinished uploads, from all its devices.
pub async fn user_pending_bytes(db: &Db, user_id: &str) -> Result<i64, DbError> {
    let sql =
        "SELECT CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM photo_uploads WHERE user_id = $1";
    let n: i64 = on_pool!(db, pool => sqlx::query_scalar(sql).bind(user_id).fetch_one(pool).await?);
    Ok(n)
}

/// The declared bytes of a device's unfinished uploads.
pub async fn device_pending_bytes(db: &Db, device: &str) -> Result<i64, DbError> {
    let sql =
        "SELECT CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM photo_uploads WHERE device = $1";
    let n: i64 = on_pool!(db, pool => sqlx::query_scalar(sql).bind(device).fetch_one(pool).await?);
    Ok(n)
}
