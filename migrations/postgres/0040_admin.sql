-- Administration without SQL (issue 18 point 5): a service's English name beside its
-- Persian one (`services.name`), and retirement of services and crews. A retired row
-- stays (closed tasks and statements still name it); it is no longer offered to
-- citizens, call takers or Open311 (services) nor chosen by dispatch (crews).
ALTER TABLE services ADD COLUMN name_en TEXT;
ALTER TABLE services ADD COLUMN retired_at BIGINT;
ALTER TABLE crews ADD COLUMN retired_at BIGINT;
