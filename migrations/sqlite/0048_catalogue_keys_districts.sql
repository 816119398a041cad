-- The live Open311 API keys (by hash) are cached in the server's memory with the rest of
-- the catalogue (storage::catalogue): a change to them, by the server or the admin CLI,
-- bumps `catalogue_version` (0047) in its own transaction, so a revoked key stops working
-- at once. (The district index has its own stamp on SQLite.)
CREATE TRIGGER open311_keys_catalogue_insert AFTER INSERT ON open311_keys
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_keys_catalogue_update AFTER UPDATE ON open311_keys
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_keys_catalogue_delete AFTER DELETE ON open311_keys
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
