-- Citizens' tracking codes (design §6): the only handle a citizen holds on a report. A
-- code is 12 Crockford base-32 characters (60 random bits), stored without its dashes.
-- A report's filer gets a 'reporter' code; a citizen who supports an existing report
-- instead of filing a duplicate gets a 'supporter' code on it. A code follows its task
-- through a merge: the task document's MarkedDuplicate event names the surviving task.
-- The row is written before the task's first commit, so an acknowledged code always
-- resolves; a crash in between leaves a code nobody was given, pointing at no task.
CREATE TABLE tracking_codes (
    code       TEXT PRIMARY KEY,
    task       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('reporter', 'supporter')),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX tracking_codes_task ON tracking_codes (task);
