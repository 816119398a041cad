-- The catalogue a citizen's report is checked and filed against (services, their SLA
-- overrides, Open311 attribute definitions, districts' auto-assignment) is cached in
-- the server's memory (storage::catalogue). Any change to it, by the server or another
-- process (the admin CLI), bumps this one counter in its own transaction; the cache
-- compares the counter before it answers and reloads when it moved.
CREATE TABLE catalogue_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalogue_version (id, version) VALUES (1, 0);
CREATE TRIGGER services_catalogue_insert AFTER INSERT ON services
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER services_catalogue_update AFTER UPDATE ON services
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER services_catalogue_delete AFTER DELETE ON services
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER service_sla_catalogue_insert AFTER INSERT ON service_sla
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER service_sla_catalogue_update AFTER UPDATE ON service_sla
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER service_sla_catalogue_delete AFTER DELETE ON service_sla
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_attributes_catalogue_insert AFTER INSERT ON open311_attributes
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_attributes_catalogue_update AFTER UPDATE ON open311_attributes
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_attributes_catalogue_delete AFTER DELETE ON open311_attributes
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_attribute_values_catalogue_insert AFTER INSERT ON open311_attribute_values
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_attribute_values_catalogue_update AFTER UPDATE ON open311_attribute_values
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER open311_attribute_values_catalogue_delete AFTER DELETE ON open311_attribute_values
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER district_dispatch_catalogue_insert AFTER INSERT ON district_dispatch
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER district_dispatch_catalogue_update AFTER UPDATE ON district_dispatch
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER district_dispatch_catalogue_delete AFTER DELETE ON district_dispatch
    BEGIN UPDATE catalogue_version SET version = version + 1 WHERE id = 1; END;
