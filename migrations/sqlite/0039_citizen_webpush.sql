-- Web Push for citizens (issue 17 §3): a citizen who taps "notify me" on the tracking
-- page gives a Web Push subscription (`PushSubscription.toJSON()`, re-serialised), kept
-- with their other contact details in `open311_contacts` so that the same rules apply to
-- it: never logged, erased with the contact by "forget my contact" and by the retention
-- sweep, stopped by the unsubscribe link; a push service's 404/410 answer clears it.
ALTER TABLE open311_contacts ADD COLUMN webpush TEXT;

-- The outbox learns kind 'webpush' (tell a citizen through their subscription).
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt, rows kept.
CREATE TABLE outbox_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('adopt', 'email', 'sms', 'wake', 'webpush')),
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
                        claimed_by, claimed_until, last_error, created_at, done_at, device)
SELECT id, key, kind, task, contact, event, state, attempts, due_at,
       claimed_by, claimed_until, last_error, created_at, done_at, device
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (due_at) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (done_at) WHERE state = 'dead';
CREATE INDEX outbox_task ON outbox (task);
CREATE INDEX outbox_wake ON outbox (device, due_at) WHERE kind = 'wake';
