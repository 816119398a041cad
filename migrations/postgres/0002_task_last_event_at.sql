-- The time of each task's latest event (its task-list row's `updated_at` on a phone), so
-- snapshots sent to devices carry their index row and a fresh phone need not parse every
-- document. NULL for rows written before this migration: those are sent without a row
-- (the device reads the document itself) until the task is next committed.
ALTER TABLE tasks ADD COLUMN last_event_at BIGINT;
