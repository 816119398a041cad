-- The catalogue a citizen's report is checked and filed against (services, their SLA
-- overrides, Open311 attribute definitions, districts' auto-assignment) is cached in
-- each replica's memory (storage::catalogue). Any change to it, by whichever process or
-- replica, announces itself on `tarmim_catalogue` when its transaction commits; every
-- replica's listening connection hears it and drops its cache.
CREATE FUNCTION tarmim_catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tarmim_catalogue', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER services_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
CREATE TRIGGER service_sla_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_sla
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
CREATE TRIGGER open311_attributes_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON open311_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
CREATE TRIGGER open311_attribute_values_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON open311_attribute_values
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
CREATE TRIGGER district_dispatch_catalogue AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON district_dispatch
    FOR EACH STATEMENT EXECUTE FUNCTION tarmim_catalogue_changed();
