-- The durable outbox (issue 17 §3, issue 16 §13): work that must happen because of a
-- commit, written in that commit's transaction so that it is never lost and never
-- invented. Every replica's loop claims due rows (`FOR UPDATE SKIP LOCKED`, a lease),
-- does the work, and marks them sent; a failure is retried with back-off and, after
-- the limit, kept as 'dead' for staff to see (`GET /api/v1/outbox/dead`). 'skipped': nothing
-- to do (no channel configured, the contact forgotten or unsubscribed).
--
-- kind 'adopt': route and dispatch a task a crew filed on its phone.
-- kind 'email' / 'sms': tell a citizen of a public status change (`event`), through the
-- contact `contact` (an `open311_contacts.ref`).
--
-- `key` is the row's idempotency key: a commit retried after a crash writes the same
-- key, and a message resent after a crash carries the same Message-ID.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('adopt', 'email', 'sms')),
    task          TEXT NOT NULL,
    contact       TEXT,
    event         TEXT,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'skipped', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    done_at       BIGINT
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (done_at) WHERE state = 'dead';
CREATE INDEX outbox_task ON outbox (task);

-- The language a citizen filed in (messages are written in it), and when they asked to
-- hear no more.
ALTER TABLE open311_contacts ADD COLUMN lang TEXT;
ALTER TABLE open311_contacts ADD COLUMN unsubscribed_at BIGINT;
