-- Web Push for citizens (issue 17 §3): a citizen who taps "notify me" on the tracking
-- page gives a Web Push subscription (`PushSubscription.toJSON()`, re-serialised), kept
-- with their other contact details in `open311_contacts` so that the same rules apply to
-- it: never logged, erased with the contact by "forget my contact" and by the retention
-- sweep, stopped by the unsubscribe link; a push service's 404/410 answer clears it.
ALTER TABLE open311_contacts ADD COLUMN webpush TEXT;

-- The outbox learns kind 'webpush' (tell a citizen through their subscription).
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('adopt', 'email', 'sms', 'wake', 'webpush'));
