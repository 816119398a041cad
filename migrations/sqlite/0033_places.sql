-- The address gazetteer (issue 19 point 2): streets and places imported from GeoJSON
-- (`tarmim-server import-places`), searched by the call centre's desk without the
-- internet. `key_fa` and `key_en` are the names folded by `domain::places::normalize`
-- (empty when the name is absent); `search` joins them for the FTS5 index.
-- `district`: the district covering the point when it was imported (lowest code on a
-- shared border, as for tasks); NULL outside every district.
CREATE TABLE places (
    id          INTEGER PRIMARY KEY,
    name_fa     TEXT,
    name_en     TEXT,
    kind        TEXT NOT NULL,
    lat         REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    district    TEXT,
    key_fa      TEXT NOT NULL,
    key_en      TEXT NOT NULL,
    search      TEXT NOT NULL,
    imported_at INTEGER NOT NULL,
    CHECK (name_fa IS NOT NULL OR name_en IS NOT NULL)
) STRICT;
-- Exact and prefix matches: a range scan on the folded names (BINARY order).
CREATE INDEX places_key_fa ON places (key_fa);
CREATE INDEX places_key_en ON places (key_en);

-- Substring and fuzzy matches: FTS5's trigram tokenizer (SQLite 3.34+; the bundled
-- SQLite of libsqlite3-sys 0.30 is 3.46 with FTS5 compiled in) over `search`, kept in
-- step with `places` by the triggers below (an external-content table stores no second
-- copy of the text).
CREATE VIRTUAL TABLE places_fts USING fts5(
    search,
    content = 'places',
    content_rowid = 'id',
    tokenize = 'trigram'
);
CREATE TRIGGER places_fts_insert AFTER INSERT ON places BEGIN
    INSERT INTO places_fts (rowid, search) VALUES (new.id, new.search);
END;
CREATE TRIGGER places_fts_delete AFTER DELETE ON places BEGIN
    INSERT INTO places_fts (places_fts, rowid, search) VALUES ('delete', old.id, old.search);
END;
CREATE TRIGGER places_fts_update AFTER UPDATE OF search ON places BEGIN
    INSERT INTO places_fts (places_fts, rowid, search) VALUES ('delete', old.id, old.search);
    INSERT INTO places_fts (rowid, search) VALUES (new.id, new.search);
END;
