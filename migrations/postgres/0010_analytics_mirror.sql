-- Analytics (issue 9): the in-memory mirror of task_facts re-reads, before each
-- computation, the rows changed since its last refresh.
CREATE INDEX task_facts_updated ON task_facts (updated_at);
