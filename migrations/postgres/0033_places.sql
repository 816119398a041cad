-- The address gazetteer (issue 19 point 2): streets and places imported from GeoJSON
-- (`tarmim-server import-places`), searched by the call centre's desk without the
-- internet. `key_fa` and `key_en` are the names folded by `domain::places::normalize`
-- (empty when the name is absent); `search` joins them for the trigram index.
-- `district`: the district covering the point when it was imported (lowest code on a
-- shared border, as for tasks); NULL outside every district.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE places (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name_fa     TEXT,
    name_en     TEXT,
    kind        TEXT NOT NULL,
    lat         DOUBLE PRECISION NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         DOUBLE PRECISION NOT NULL CHECK (lon BETWEEN -180 AND 180),
    district    TEXT,
    -- "C": byte order, as on SQLite, so one range condition finds prefixes on both.
    key_fa      TEXT COLLATE "C" NOT NULL,
    key_en      TEXT COLLATE "C" NOT NULL,
    search      TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    CHECK (name_fa IS NOT NULL OR name_en IS NOT NULL)
);
-- Exact and prefix matches: a range scan on the folded names.
CREATE INDEX places_key_fa ON places (key_fa);
CREATE INDEX places_key_en ON places (key_en);
-- Substring (LIKE '%…%') and fuzzy (word similarity, `<%`) matches.
CREATE INDEX places_search_trgm ON places USING gin (search gin_trgm_ops);
