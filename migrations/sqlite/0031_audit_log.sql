-- The staff audit log (issue 18): logins and failures, assignments, verifications,
-- rejections, views of original photos, exports, admin changes — who, when, from which
-- device, what. Append-only and hash-chained: each row's hash covers its fields and the
-- previous row's hash (server/src/storage/audit.rs), so `tarmim-server audit verify`
-- finds a row deleted or altered outside the application. Integrity reports are never
-- written here.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY CHECK (seq > 0),
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    role      TEXT NOT NULL,
    device    TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash      TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX audit_log_action ON audit_log (action, seq);
