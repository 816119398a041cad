-- Tarmim, PostgreSQL + PostGIS backend: documents, scopes, task projection, districts,
-- identity. Times are milliseconds since the Unix epoch (UTC), as BIGINT.

CREATE EXTENSION IF NOT EXISTS postgis;

-- The global commit sequence. A commit draws from it only after locking the head rows of
-- every scope it touches (in scope order), which makes per-scope cursors safe.
CREATE SEQUENCE commit_seq AS BIGINT START 1;

-- One row per scope ever used: the lock a commit takes, and the scope's latest seq.
CREATE TABLE scope_heads (
    scope    TEXT PRIMARY KEY,
    head_seq BIGINT NOT NULL DEFAULT 0
);

-- One automerge document per task: the latest saved snapshot and the seq of its last commit.
-- compacted_before: change rows with seq <= this may have been dropped; a reader whose
-- cursor is before it gets "compacted" and is sent the snapshot.
CREATE TABLE docs (
    id               TEXT PRIMARY KEY,
    seq              BIGINT NOT NULL,
    snapshot         BYTEA NOT NULL,
    compacted_before BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE doc_changes (
    doc    TEXT NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    idx    INTEGER NOT NULL,
    origin TEXT NOT NULL,
    bytes  BYTEA NOT NULL,
    PRIMARY KEY (doc, seq, idx)
);

CREATE TABLE scope_entries (
    scope       TEXT NOT NULL,
    doc         TEXT NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    entered_seq BIGINT NOT NULL,
    present     BOOLEAN NOT NULL,
    PRIMARY KEY (scope, doc)
);
CREATE INDEX scope_entries_scope_seq ON scope_entries (scope, seq);
CREATE INDEX scope_entries_doc ON scope_entries (doc) WHERE present;

-- The relational projection of each task, written in its document's commit transaction.
CREATE TABLE tasks (
    id           TEXT PRIMARY KEY REFERENCES docs (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    geom         geometry(Point, 4326) NOT NULL
                 CHECK (ST_X(geom) BETWEEN -180 AND 180 AND ST_Y(geom) BETWEEN -90 AND 90),
    district     TEXT,
    status       TEXT NOT NULL,
    priority     TEXT NOT NULL,
    assignee     TEXT,
    category     TEXT NOT NULL,
    title        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    ack_due      BIGINT,
    complete_due BIGINT,
    completed_at BIGINT
);
CREATE INDEX tasks_geom ON tasks USING gist (geom);
CREATE INDEX tasks_district_status ON tasks (district, status);
CREATE INDEX tasks_assignee ON tasks (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX tasks_updated ON tasks (updated_at);

CREATE TABLE districts (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    region      TEXT,
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX districts_geom ON districts USING gist (geom);

CREATE TABLE district_adjacency (
    a TEXT NOT NULL REFERENCES districts (code) ON DELETE CASCADE,
    b TEXT NOT NULL REFERENCES districts (code) ON DELETE CASCADE,
    PRIMARY KEY (a, b),
    CHECK (a < b)
);
CREATE INDEX district_adjacency_b ON district_adjacency (b);

CREATE TABLE services (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    grp              TEXT NOT NULL DEFAULT '',
    default_priority TEXT NOT NULL CHECK (default_priority IN ('urgent', 'high', 'normal', 'low')),
    ack_minutes      BIGINT,
    complete_minutes BIGINT
);

CREATE TABLE crews (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    district   TEXT NOT NULL,
    contractor TEXT,
    on_duty    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX crews_district ON crews (district);

CREATE TABLE crew_skills (
    crew         TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    service_code TEXT NOT NULL,
    PRIMARY KEY (crew, service_code)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'dispatcher', 'crew', 'manager', 'call_centre')),
    crew          TEXT REFERENCES crews (id),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    CHECK ((role = 'crew') = (crew IS NOT NULL))
);

CREATE TABLE user_districts (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    district TEXT NOT NULL,
    PRIMARY KEY (user_id, district)
);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    registered_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
