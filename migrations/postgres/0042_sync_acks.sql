-- What each device acknowledged holding (issue 16 §9): per device and scope, the highest
-- cursor its Hello confirmed (a device writes a batch and its cursor in one transaction,
-- so the cursor says it holds every entry of the scope up to `seq`). Never lowered. With
-- the document's scope entries it tells which state of a document the device knew, so a
-- push cannot claim not to have seen a change the device had confirmed receiving.
CREATE TABLE sync_acks (
    device TEXT NOT NULL,
    scope  TEXT NOT NULL,
    seq    BIGINT  NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (device, scope)
);

-- Each device's last Hello (issue 16 §10): work a device made before a contact would have
-- been pushed at that contact, so an event's time is vouched for no earlier than the
-- device's previous contact (sync_core::task::Receipt).
CREATE TABLE device_contacts (
    device TEXT PRIMARY KEY,
    at     BIGINT NOT NULL
);
