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
    bytes         BIGINT NOT NULL CHECK (bytes > 0),
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    uploaded_by   TEXT NOT NULL,
    uploaded_at   BIGINT NOT NULL,
    exif_taken_at BIGINT,
    exif_lat      DOUBLE PRECISION CHECK (exif_lat BETWEEN -90 AND 90),
    exif_lon      DOUBLE PRECISION CHECK (exif_lon BETWEEN -180 AND 180),
    -- Metres from the task's point, when EXIF has a position.
    distance_m    DOUBLE PRECISION,
    far_from_task BOOLEAN NOT NULL,
    before_task   BOOLEAN NOT NULL,
    thumb_etag    TEXT NOT NULL,
    display_etag  TEXT NOT NULL
);
CREATE INDEX photos_task ON photos (task);
CREATE INDEX photos_flagged ON photos (task) WHERE far_from_task OR before_task;

CREATE TABLE photo_uploads (
    hash       TEXT PRIMARY KEY CHECK (length(hash) = 64),
    task       TEXT NOT NULL,
    kind       TEXT CHECK (kind IN ('before', 'after', 'evidence')),
    mime       TEXT NOT NULL,
    length     BIGINT NOT NULL CHECK (length > 0),
    device     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX photo_uploads_device ON photo_uploads (device);
