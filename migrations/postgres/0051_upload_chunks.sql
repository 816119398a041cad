-- Partial photo uploads live in the shared database (issue 21 §6), so a tus PATCH that
-- a load balancer sends to another replica, or that resumes after a replica died, finds
-- every byte the server acknowledged. An upload's offset is the sum of its chunks'
-- lengths; each chunk is written in one transaction that first locks the upload's row
-- (`written_at`, when a chunk last arrived, which the expiry sweep reads) and checks
-- that offset: that lock is what keeps two writers of one upload apart across replicas.
--
-- UNLOGGED: these bytes are transient (deleted as soon as the photo is in the photo
-- store) and would otherwise pass through the WAL, its archive and every standby once
-- more than the photo itself (docs/scaling.md). The price: after a crash of PostgreSQL
-- itself, or on a promoted standby, the table is empty, so unfinished uploads answer
-- offset 0 and phones send them again from the start (tus clients ask HEAD first).
--
-- Uploads begun before this migration had their bytes on a replica's disk: they too
-- start again from offset 0.
ALTER TABLE photo_uploads ADD COLUMN written_at BIGINT;

CREATE UNLOGGED TABLE photo_upload_chunks (
    hash  TEXT NOT NULL REFERENCES photo_uploads (hash) ON DELETE CASCADE,
    at    BIGINT NOT NULL CHECK (at >= 0),
    bytes BYTEA NOT NULL,
    PRIMARY KEY (hash, at)
);
