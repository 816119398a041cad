-- Two more things every Open311 POST reads are cached in each replica's memory
-- (storage::catalogue): the live API keys (by hash) and the district boundaries (the
-- point → district index). A change to either announces itself on `tarmim_catalogue`
-- like the rest of the catalogue (0047), so a revoked key stops working at once on every
-- replica and an import re-routes everywhere.
CREATE TRIGGER open311_keys_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON open311_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
CREATE TRIGGER districts_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON districts
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
