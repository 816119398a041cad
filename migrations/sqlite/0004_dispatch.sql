-- Dispatch: crews' positions, escalation timers, dispatcher alerts, per-district settings.
-- Times are milliseconds since the Unix epoch (UTC).

-- Every position a crew's phone reported, kept even when implausible (flags say why).
-- flags: comma-separated plausibility flags, '' when plausible.
CREATE TABLE crew_positions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    crew        TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    device      TEXT NOT NULL,
    lat         REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    accuracy_m  REAL,
    at          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    flags       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX crew_positions_crew_at ON crew_positions (crew, at);

-- Escalation timers: one per (task, kind). A replica claims due timers by setting
-- claimed_by/claimed_until (a lease), runs them, and sets done_at.
-- kind: 'ack' (the assigned crew must acknowledge) or 'complete' (the job must be done).
CREATE TABLE dispatch_timers (
    task          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('ack', 'complete')),
    due_at        INTEGER NOT NULL,
    crew          TEXT,
    claimed_by    TEXT,
    claimed_until INTEGER,
    done_at       INTEGER,
    PRIMARY KEY (task, kind)
) STRICT;
CREATE INDEX dispatch_timers_due ON dispatch_timers (due_at) WHERE done_at IS NULL;

-- Alerts for a district's dispatchers (no crew found, escalation, job late).
CREATE TABLE dispatch_alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    district    TEXT NOT NULL,
    task        TEXT,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;
CREATE INDEX dispatch_alerts_district ON dispatch_alerts (district, created_at);

-- Per-district dispatch settings (a missing row means the defaults).
CREATE TABLE district_dispatch (
    district           TEXT PRIMARY KEY,
    auto_assign_normal INTEGER NOT NULL DEFAULT 0 CHECK (auto_assign_normal IN (0, 1))
) STRICT;
