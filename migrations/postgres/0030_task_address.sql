-- The task's street address in its projection row, so the console's queue can search by
-- address without decoding documents. NULL for rows written before this migration until
-- the task is next committed.
ALTER TABLE tasks ADD COLUMN address TEXT;
-- The queue's default order and its per-district filters.
CREATE INDEX tasks_district_created ON tasks (district, created_at);
