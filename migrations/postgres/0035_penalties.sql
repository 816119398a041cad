-- Penalties and their evidence (issue 18 point 3). Same tables as the SQLite migration;
-- see its comments.

-- 1. A contractor's representative: role 'contractor', tied to one contractor.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'dispatcher', 'crew', 'manager', 'call_centre', 'contractor'));
ALTER TABLE users ADD COLUMN contractor TEXT;
ALTER TABLE users ADD CONSTRAINT users_contractor_check
    CHECK ((role = 'contractor') = (contractor IS NOT NULL));

-- 2. SLA terms per service and priority (overriding services.ack_minutes/complete_minutes).
CREATE TABLE service_sla (
    service_code     TEXT NOT NULL REFERENCES services (code) ON DELETE CASCADE,
    priority         TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    ack_minutes      BIGINT CHECK (ack_minutes BETWEEN 1 AND 525600),
    complete_minutes BIGINT CHECK (complete_minutes BETWEEN 1 AND 525600),
    PRIMARY KEY (service_code, priority)
);

-- 3. The penalty schedule of a contractor's contract.
CREATE TABLE contractor_terms (
    contractor     TEXT PRIMARY KEY,
    unit           TEXT NOT NULL CHECK (unit IN ('rial', 'points')),
    per_late_hour  BIGINT NOT NULL CHECK (per_late_hour >= 0),
    per_rejection  BIGINT NOT NULL CHECK (per_rejection >= 0),
    per_not_fixed  BIGINT NOT NULL CHECK (per_not_fixed >= 0),
    per_complaint  BIGINT NOT NULL CHECK (per_complaint >= 0),
    cap_per_month  BIGINT CHECK (cap_per_month > 0),
    updated_at     BIGINT NOT NULL
);

-- 4. Penalties, one per (task, cause, occurrence).
CREATE TABLE penalties (
    id              BIGSERIAL PRIMARY KEY,
    task_id         TEXT NOT NULL,
    cause           TEXT NOT NULL CHECK (cause IN ('late_ack', 'late_completion', 'rejected', 'reopened', 'complaint')),
    occurrence      TEXT NOT NULL,
    contractor      TEXT NOT NULL,
    crew            TEXT,
    district        TEXT,
    category        TEXT NOT NULL,
    fact_at         BIGINT NOT NULL,
    due_at          BIGINT,
    late_minutes    BIGINT,
    before_photo    TEXT,
    after_photo     TEXT,
    unit            TEXT NOT NULL CHECK (unit IN ('rial', 'points')),
    proposed_amount BIGINT NOT NULL CHECK (proposed_amount >= 0),
    amount          BIGINT CHECK (amount >= 0),
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'waived', 'appealed')),
    appeal_note     TEXT,
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    UNIQUE (task_id, cause, occurrence)
);
CREATE INDEX penalties_contractor ON penalties (contractor, fact_at);
CREATE INDEX penalties_district ON penalties (district, fact_at);

CREATE TABLE penalty_steps (
    penalty_id BIGINT NOT NULL REFERENCES penalties (id),
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('proposed', 'confirm', 'reduce', 'waive', 'appeal')),
    amount     BIGINT,
    note       TEXT NOT NULL
);
CREATE INDEX penalty_steps_penalty ON penalty_steps (penalty_id, at);

-- 5. Rejected completions per task, for the sweep.
ALTER TABLE task_facts ADD COLUMN reject_count INTEGER NOT NULL DEFAULT 0;
