-- Push wake-ups for crews' phones (issue 20 §1): a phone whose app is in the background
-- has no socket, so a change that reaches its scope wakes it through its platform's push
-- service (FCM, APNs, Web Push), carrying nothing but "sync now".
--
-- push_registrations: one per device; a rotated token replaces the device's old one, a
-- token that moves to another device (a reinstall) leaves the old device, and a
-- provider's "unregistered" answer deletes the row.
CREATE TABLE push_registrations (
    device        TEXT PRIMARY KEY REFERENCES devices (id),
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('fcm', 'apns', 'webpush')),
    token         TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    UNIQUE (kind, token)
) STRICT;
CREATE INDEX push_registrations_user ON push_registrations (user_id);

-- The outbox learns kind 'wake' (wake device `device`; `event` is 'urgent' or 'sync').
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt, rows kept.
CREATE TABLE outbox_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('adopt', 'email', 'sms', 'wake')),
    task          TEXT NOT NULL,
    contact       TEXT,
    event         TEXT,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'skipped', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        INTEGER NOT NULL,
    claimed_by    TEXT,
    claimed_until INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    done_at       INTEGER,
    device        TEXT
) STRICT;
INSERT INTO outbox_new (id, key, kind, task, contact, event, state, attempts, due_at,
                        claimed_by, claimed_until, last_error, created_at, done_at)
SELECT id, key, kind, task, contact, event, state, attempts, due_at,
       claimed_by, claimed_until, last_error, created_at, done_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (due_at) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (done_at) WHERE state = 'dead';
CREATE INDEX outbox_task ON outbox (task);
-- Coalescing looks up a device's latest wake-up.
CREATE INDEX outbox_wake ON outbox (device, due_at) WHERE kind = 'wake';
