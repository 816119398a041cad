-- Analytics (issue 9): one row of facts per task, written from the task's view in the
-- same transaction as its projection on every commit, so that dashboard queries are
-- indexed scans and aggregates over plain columns, never automerge decoding.
-- Times are milliseconds since the Unix epoch (UTC); local days are computed at query
-- time from the configured city time zone (`TARMIM_TIMEZONE`), so changing the zone
-- needs no rewrite of this table.
CREATE TABLE task_facts (
    id             TEXT PRIMARY KEY REFERENCES docs (id) ON DELETE CASCADE,
    district       TEXT,
    -- The district's region when the task was last committed.
    region         TEXT,
    category       TEXT NOT NULL,
    priority       TEXT NOT NULL,
    status         TEXT NOT NULL,
    -- The crew the task is attributed to: the crew of the task's completion, else the
    -- crew holding it now; contractor = that crew's contractor (crews.contractor).
    crew           TEXT,
    contractor     TEXT,
    -- The crew that first acknowledged it (else `crew`), for acknowledgement measures.
    ack_crew       TEXT,
    ack_contractor TEXT,
    created_at     INTEGER NOT NULL,
    acknowledged_at INTEGER,
    completed_at   INTEGER,
    -- Completion, cancellation or duplicate marking; NULL while open (a reopened task
    -- is open again).
    closed_at      INTEGER,
    ack_due        INTEGER,
    complete_due   INTEGER,
    -- acknowledged_at - created_at and completed_at - created_at.
    ack_ms         INTEGER,
    complete_ms    INTEGER,
    reopen_count   INTEGER NOT NULL DEFAULT 0,
    rating         INTEGER CHECK (rating BETWEEN 1 AND 5),
    -- Hashes of the first before photo and of the completion's after photo.
    before_photo   TEXT,
    after_photo    TEXT,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX task_facts_created ON task_facts (created_at);
CREATE INDEX task_facts_completed ON task_facts (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX task_facts_closed ON task_facts (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX task_facts_open ON task_facts (created_at) WHERE closed_at IS NULL;
CREATE INDEX task_facts_district_created ON task_facts (district, created_at);
