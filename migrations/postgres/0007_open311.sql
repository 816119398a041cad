-- Open311 GeoReport v2 (design §6, issue 6): API keys, service definitions' attributes,
-- what a request filed through Open311 carries beside its task document, citizens'
-- updates (FixMyStreet's servicerequestupdates), and citizens' contact details.
--
-- Contact details (email, names, phone, device and account ids) live only here: never in
-- the task document (which syncs to crews' phones) and never in public GET output.

-- API keys for POSTs: random 128-bit secrets, stored as SHA-256 (a fast hash is enough
-- for high-entropy secrets; argon2 on every POST would cap throughput).
CREATE TABLE open311_keys (
    name       TEXT PRIMARY KEY,
    key_hash   BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Service definitions: the attributes a service asks for, with their allowed values.
CREATE TABLE open311_attributes (
    service_code         TEXT NOT NULL,
    code                 TEXT NOT NULL,
    variable             BOOLEAN NOT NULL,
    datatype             TEXT NOT NULL CHECK (datatype IN ('string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist')),
    required             BOOLEAN NOT NULL,
    datatype_description TEXT NOT NULL DEFAULT '',
    ord                  INTEGER NOT NULL,
    description          TEXT NOT NULL,
    PRIMARY KEY (service_code, code)
);

CREATE TABLE open311_attribute_values (
    service_code TEXT NOT NULL,
    attribute    TEXT NOT NULL,
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    ord          INTEGER NOT NULL,
    PRIMARY KEY (service_code, attribute, key)
);

-- One row per request filed through Open311: its token, the key that filed it, the
-- attribute answers (JSON, public through `extensions=true`) and the media URL given
-- (stored, never fetched).
CREATE TABLE open311_requests (
    task       TEXT PRIMARY KEY,
    token      TEXT NOT NULL UNIQUE,
    key_name   TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    media_url  TEXT,
    created_at BIGINT NOT NULL
);

-- Citizens' updates on a request (POST servicerequestupdates).
CREATE TABLE open311_updates (
    id          TEXT PRIMARY KEY,
    task        TEXT NOT NULL,
    status      TEXT,
    description TEXT NOT NULL,
    media_url   TEXT,
    external_id TEXT,
    key_name    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX open311_updates_created ON open311_updates (created_at);
CREATE INDEX open311_updates_task ON open311_updates (task);

-- Private contact details of whoever filed a request, supported one or sent an update
-- (`ref` is the task id, the supporter's tracking code, or the update id).
CREATE TABLE open311_contacts (
    ref        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('request', 'support', 'update')),
    task       TEXT NOT NULL,
    email      TEXT,
    first_name TEXT,
    last_name  TEXT,
    phone      TEXT,
    device_id  TEXT,
    account_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX open311_contacts_task ON open311_contacts (task);

-- Nearby reports (duplicates, `GET requests?lat=&long=&radius=`) are found with
-- ST_DWithin on geography (metres); the plain GiST index on the geometry cannot serve a
-- geography cast, so the cast gets its own index. (SQLite uses its (lat, lon) index.)
CREATE INDEX tasks_geog ON tasks USING gist ((geom::geography));
