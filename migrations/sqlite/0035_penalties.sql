-- Penalties and their evidence (issue 18 point 3).
--
-- 1. A contractor's representative: a user of role 'contractor' who reads its own
--    contractor's tasks and penalties and appeals. SQLite cannot alter a CHECK, and a
--    rebuild of `users` inside the migration's transaction would cascade-delete its
--    children (foreign keys cannot be switched off in a transaction), so the role list
--    is widened in place the way SQLite documents for loosening a constraint
--    (writable_schema; no stored row can violate a wider list), then the column added.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''call_centre'')', '''call_centre'', ''contractor'')')
 WHERE type = 'table' AND name = 'users';
PRAGMA writable_schema = RESET;
ALTER TABLE users ADD COLUMN contractor TEXT
    CHECK ((role = 'contractor') = (contractor IS NOT NULL));

-- 2. SLA terms per service and priority. `services.ack_minutes` / `complete_minutes` are
--    the service's terms for every priority; a row here overrides them for one priority.
--    At most a year (525,600 minutes); zero or less is refused (also in the domain).
CREATE TABLE service_sla (
    service_code     TEXT NOT NULL REFERENCES services (code) ON DELETE CASCADE,
    priority         TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    ack_minutes      INTEGER CHECK (ack_minutes BETWEEN 1 AND 525600),
    complete_minutes INTEGER CHECK (complete_minutes BETWEEN 1 AND 525600),
    PRIMARY KEY (service_code, priority)
) STRICT;

-- 3. The penalty schedule of a contractor's contract: what each fact costs (an amount in
--    rials or points) and the most a month's statement may charge (NULL: no cap).
CREATE TABLE contractor_terms (
    contractor     TEXT PRIMARY KEY,
    unit           TEXT NOT NULL CHECK (unit IN ('rial', 'points')),
    per_late_hour  INTEGER NOT NULL CHECK (per_late_hour >= 0),
    per_rejection  INTEGER NOT NULL CHECK (per_rejection >= 0),
    per_not_fixed  INTEGER NOT NULL CHECK (per_not_fixed >= 0),
    per_complaint  INTEGER NOT NULL CHECK (per_complaint >= 0),
    cap_per_month  INTEGER CHECK (cap_per_month > 0),
    updated_at     INTEGER NOT NULL
) STRICT;

-- 4. Penalties: proposed by the system from a task's facts, one per (task, cause,
--    occurrence) — the nth rejection or citizen reopening, 1 for a late acknowledgement
--    or completion, the complaint's number for a complaint — so a sweep run twice
--    proposes nothing new. The evidence is copied in at proposal time.
CREATE TABLE penalties (
    id              INTEGER PRIMARY KEY,
    task_id         TEXT NOT NULL,
    cause           TEXT NOT NULL CHECK (cause IN ('late_ack', 'late_completion', 'rejected', 'reopened', 'complaint')),
    occurrence      TEXT NOT NULL,
    contractor      TEXT NOT NULL,
    crew            TEXT,
    district        TEXT,
    category        TEXT NOT NULL,
    fact_at         INTEGER NOT NULL,
    due_at          INTEGER,
    late_minutes    INTEGER,
    before_photo    TEXT,
    after_photo     TEXT,
    unit            TEXT NOT NULL CHECK (unit IN ('rial', 'points')),
    proposed_amount INTEGER NOT NULL CHECK (proposed_amount >= 0),
    amount          INTEGER CHECK (amount >= 0),
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'waived', 'appealed')),
    appeal_note     TEXT,
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    UNIQUE (task_id, cause, occurrence)
) STRICT;
CREATE INDEX penalties_contractor ON penalties (contractor, fact_at);
CREATE INDEX penalties_district ON penalties (district, fact_at);

-- Every step of a penalty (proposal, decisions, appeal) with who and why; the staff
-- audit log records the same decisions in its chain.
CREATE TABLE penalty_steps (
    penalty_id INTEGER NOT NULL REFERENCES penalties (id),
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('proposed', 'confirm', 'reduce', 'waive', 'appeal')),
    amount     INTEGER,
    note       TEXT NOT NULL
) STRICT;
CREATE INDEX penalty_steps_penalty ON penalty_steps (penalty_id, at);

-- 5. Rejected completions per task, for the sweep (the facts already count reopenings).
ALTER TABLE task_facts ADD COLUMN reject_count INTEGER NOT NULL DEFAULT 0;
