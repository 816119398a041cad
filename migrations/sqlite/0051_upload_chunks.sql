-- Partial photo uploads in the database (issue 21 §6), as on PostgreSQL (see
-- migrations/postgres/0051_upload_chunks.sql): an upload's offset is the sum of its
-- chunks' lengths; each chunk is written in one write transaction (SQLite's one writer
-- is the lock) after checking that offset. `written_at`: when a chunk last arrived.
-- Uploads begun before this migration had their bytes in a folder on disk: they start
-- again from offset 0.
ALTER TABLE photo_uploads ADD COLUMN written_at INTEGER;

CREATE TABLE photo_upload_chunks (
    hash  TEXT NOT NULL REFERENCES photo_uploads (hash) ON DELETE CASCADE,
    at    INTEGER NOT NULL CHECK (at >= 0),
    bytes BLOB NOT NULL,
    PRIMARY KEY (hash, at)
) STRICT;
