-- Analytics (issue 9): the in-memory mirror of task_facts re-reads, before each
-- computation, the rows changed since its last refresh, and the flagged photos
-- uploaded since (photos rows are never updated).
CREATE INDEX task_facts_updated ON task_facts (updated_at);
CREATE INDEX photos_flagged_uploaded ON photos (uploaded_at) WHERE far_from_task OR before_task;
