-- Photos (issue 4): one row per stored photo blob (content-addressed by SHA-256), with
-- what verification found and the EXIF place-and-time flags, so analytics can count
-- flagged photos and completions with before and after photos; and the unfinished
-- resumable uploads (their bytes are in the upload folder, `<hash>.part`).

CREATE TABLE photos (
    hash          TEXT PRIMARY KEY CHECK (length(hash) = 64),
    -- The task named by the upload; the task documents' photo references are the
    -- authority on which tasks show the photo.
    task          TEXT NOT NULL,
    kind          TEXT CHECK (kind IN ('before', 'after', 'evidence')),
    mime          TEXT NOT NULL,
    bytes         INTEGER NOT NULL CHECK (bytes > 0),
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    uploaded_by   TEXT NOT NULL,
    uploaded_at   INTEGER NOT NULL,
    exif_taken_at INTEGER,
    exif_lat      REAL CHECK (exif_lat BETWEEN -90 AND 90),
    exif_lon      REAL CHECK (exif_lon BETWEEN -180 AND 180),
    -- Metres from the task's point, when EXIF has a position.
    distance_m    REAL,
    far_from_task INTEGER NOT NULL CHECK (far_from_task IN (0, 1)),
    before_task   INTEGER NOT NULL CHECK (before_task IN (0, 1)),
    thumb_etag    TEXT NOT NULL,
    display_etag  TEXT NOT NULL
) STRICT;
CREATE INDEX photos_task ON photos (task);
CREATE INDEX photos_flagged ON photos (task) WHERE far_from_task = 1 OR before_task = 1;

CREATE TABLE photo_uploads (
    hash       TEXT PRIMARY KEY CHECK (length(hash) = 64),
    task       TEXT NOT NULL,
    kind       TEXT CHECK (kind IN ('before', 'after', 'evidence')),
    mime       TEXT NOT NULL,
    length     INTEGER NOT NULL CHECK (length > 0),
    device     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX photo_uploads_device ON photo_uploads (device);
