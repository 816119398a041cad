-- Tarmim, SQLite backend: documents, scopes, task projection, districts, identity.
-- Times are milliseconds since the Unix epoch (UTC).

-- The global commit sequence (one row; bumped inside each commit's IMMEDIATE transaction).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('commit_seq', 0);

-- One automerge document per task: the latest saved snapshot and the seq of its last commit.
-- compacted_before: change rows with seq <= this may have been dropped; a reader whose
-- cursor is before it gets "compacted" and is sent the snapshot.
CREATE TABLE docs (
    id               TEXT PRIMARY KEY,
    seq              INTEGER NOT NULL,
    snapshot         BLOB NOT NULL,
    compacted_before INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

-- Raw automerge changes, per commit (seq) in dependency order (idx), with their origin device.
CREATE TABLE doc_changes (
    doc    TEXT NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    origin TEXT NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc, seq, idx)
) STRICT;

-- Each scope's change sequence: a document's place in a scope.
CREATE TABLE scope_entries (
    scope       TEXT NOT NULL,
    doc         TEXT NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    entered_seq INTEGER NOT NULL,
    present     INTEGER NOT NULL CHECK (present IN (0, 1)),
    PRIMARY KEY (scope, doc)
) STRICT;
CREATE INDEX scope_entries_scope_seq ON scope_entries (scope, seq);
CREATE INDEX scope_entries_doc ON scope_entries (doc) WHERE present = 1;

-- The relational projection of each task, written in its document's commit transaction.
CREATE TABLE tasks (
    id           TEXT PRIMARY KEY REFERENCES docs (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    lat          REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon          REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    district     TEXT,
    status       TEXT NOT NULL,
    priority     TEXT NOT NULL,
    assignee     TEXT,
    category     TEXT NOT NULL,
    title        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    ack_due      INTEGER,
    complete_due INTEGER,
    completed_at INTEGER
) STRICT;
CREATE INDEX tasks_district_status ON tasks (district, status);
CREATE INDEX tasks_assignee ON tasks (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX tasks_lat_lon ON tasks (lat, lon);
CREATE INDEX tasks_updated ON tasks (updated_at);

-- Districts: boundary as WKB (MultiPolygon, WGS84) with its bounding box.
CREATE TABLE districts (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    region      TEXT,
    wkb         BLOB NOT NULL,
    min_lon     REAL NOT NULL,
    min_lat     REAL NOT NULL,
    max_lon     REAL NOT NULL,
    max_lat     REAL NOT NULL,
    imported_at INTEGER NOT NULL
) STRICT;

-- Pairs of districts whose polygons touch or overlap (a < b).
CREATE TABLE district_adjacency (
    a TEXT NOT NULL REFERENCES districts (code) ON DELETE CASCADE,
    b TEXT NOT NULL REFERENCES districts (code) ON DELETE CASCADE,
    PRIMARY KEY (a, b),
    CHECK (a < b)
) STRICT;
CREATE INDEX district_adjacency_b ON district_adjacency (b);

-- Open311 services (categories).
CREATE TABLE services (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    grp              TEXT NOT NULL DEFAULT '',
    default_priority TEXT NOT NULL CHECK (default_priority IN ('urgent', 'high', 'normal', 'low')),
    ack_minutes      INTEGER,
    complete_minutes INTEGER
) STRICT;

CREATE TABLE crews (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    district   TEXT NOT NULL,
    contractor TEXT,
    on_duty    INTEGER NOT NULL DEFAULT 0 CHECK (on_duty IN (0, 1))
) STRICT;
CREATE INDEX crews_district ON crews (district);

CREATE TABLE crew_skills (
    crew         TEXT NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    service_code TEXT NOT NULL,
    PRIMARY KEY (crew, service_code)
) STRICT;

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'dispatcher', 'crew', 'manager', 'call_centre')),
    crew          TEXT REFERENCES crews (id),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    CHECK ((role = 'crew') = (crew IS NOT NULL))
) STRICT;

CREATE TABLE user_districts (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    district TEXT NOT NULL,
    PRIMARY KEY (user_id, district)
) STRICT;

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    registered_at INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL
) STRICT;

-- Bearer tokens, stored only as SHA-256 of the token text.
CREATE TABLE auth_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
