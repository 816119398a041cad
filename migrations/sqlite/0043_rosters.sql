-- Crews' rosters and coverage (issue 20 §2). Times are milliseconds since the Unix epoch
-- (UTC); a shift's local times were read in the city's zone when it was entered.

-- One shift of one crew: on duty from starts_at (inclusive) to ends_at (exclusive).
-- woken_at: when a replica wrote the shift-start wake-ups of the crew's phones (set once).
CREATE TABLE roster_shifts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    crew       TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    woken_at   INTEGER,
    CHECK (ends_at > starts_at)
) STRICT;
CREATE INDEX roster_shifts_crew ON roster_shifts (crew, starts_at);
CREATE INDEX roster_shifts_window ON roster_shifts (starts_at, ends_at);

-- Every manual duty toggle, kept (who, from which device, when). The latest one of a
-- crew overrides its roster until the roster's next shift start or end.
CREATE TABLE duty_toggles (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    crew    TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    on_duty INTEGER NOT NULL CHECK (on_duty IN (0, 1)),
    by_user TEXT NOT NULL,
    device  TEXT,
    at      INTEGER NOT NULL
) STRICT;
CREATE INDEX duty_toggles_crew ON duty_toggles (crew, id);

-- Coverage gaps already alerted: one alert per (district, skill, gap start), whichever
-- replica saw it first.
CREATE TABLE roster_gap_alerts (
    district  TEXT NOT NULL,
    skill     TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    raised_at INTEGER NOT NULL,
    PRIMARY KEY (district, skill, starts_at)
) STRICT;
