-- Live sessions cut (issue 16, points 7 and 8).
--
-- `session_cuts`: one row per revocation or scope change of a user's sessions, written in
-- the transaction of the change (a logout, `user revoke-tokens`, disabling a user, new
-- districts, a crew move). Every replica's registry of live sync sockets and console
-- streams follows it by `seq` (SQLite: polled; PostgreSQL: `NOTIFY tarmim_sessions` and a
-- read after every gap) and closes the sockets and streams it names. `token_hash` NULL:
-- every session of the user. Rows older than a day are pruned on insert.
CREATE TABLE session_cuts (
    seq        BIGSERIAL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    token_hash BYTEA,
    kind       TEXT NOT NULL CHECK (kind IN ('revoked', 'rescoped')),
    at         BIGINT NOT NULL
);
CREATE INDEX session_cuts_at ON session_cuts (at);

-- A user's unfinished uploads, for the per-user quota (a fresh device id per login must
-- not buy a fresh quota).
CREATE INDEX photo_uploads_user ON photo_uploads (user_id);
