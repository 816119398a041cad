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
    registered_at BIGINT NOT NULL,
    UNIQUE (kind, token)
);
CREATE INDEX push_registrations_user ON push_registrations (user_id);

-- The outbox learns kind 'wake' (wake device `device`; `event` is 'urgent' or 'sync').
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('adopt', 'email', 'sms', 'wake'));
ALTER TABLE outbox ADD COLUMN device TEXT;
-- Coalescing looks up a device's latest wake-up.
CREATE INDEX outbox_wake ON outbox (device, due_at) WHERE kind = 'wake';
