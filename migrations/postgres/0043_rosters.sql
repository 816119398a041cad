-- Crews' rosters and coverage (issue 20 §2). Times are milliseconds since the Unix epoch
-- (UTC); a shift's local times were read in the city's zone when it was entered.

-- One shift of one crew: on duty from starts_at (inclusive) to ends_at (exclusive).
-- woken_at: when a replica wrote the shift-start wake-ups of the crew's phones (set once).
CREATE TABLE roster_shifts (
    id         BIGSERIAL PRIMARY KEY,
    crew       TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    woken_at   BIGINT,
    CHECK (ends_at > starts_at)
);
CREATE INDEX roster_shifts_crew ON roster_shifts (crew, starts_at);
CREATE INDEX roster_shifts_window ON roster_shifts (starts_at, ends_at);

-- Every manual duty toggle, kept (who, from which device, when). The latest one of a
-- crew overrides its roster until the roster's next shift start or end.
CREATE TABLE duty_toggles (
    id      BIGSERIAL PRIMARY KEY,
    crew    TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    on_duty BOOLEAN NOT NULL,
    by_user TEXT NOT NULL,
    device  TEXT,
    at      BIGINT NOT NULL
);
CREATE INDEX duty_toggles_crew ON duty_toggles (crew, id);

-- Coverage gaps already alerted: one alert per (district, skill, gap start), whichever
-- replica saw it first.
CREATE TABLE roster_gap_alerts (
    district  TEXT NOT NULL,
    skill     TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    raised_at BIGINT NOT NULL,
    PRIMARY KEY (district, skill, starts_at)
);
