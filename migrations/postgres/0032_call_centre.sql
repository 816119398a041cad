-- The call centre's desk (issue 19 §1).
--
-- `caller_reports`: which reports a caller made, for finding them again by phone. The
-- caller is a keyed hash of their number in E.164 (HMAC-SHA256 with the server's caller
-- key, hex), never the number: the number itself is kept only as a citizen's contact
-- (`open311_contacts`), under its retention and erasure rules. One row per tracking
-- code the caller holds (a reporter's code, or a supporter's).
CREATE TABLE caller_reports (
    code       TEXT PRIMARY KEY,
    caller     TEXT NOT NULL CHECK (length(caller) = 64),
    task       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX caller_reports_caller ON caller_reports (caller, created_at);
CREATE INDEX caller_reports_task ON caller_reports (task);

-- Every call the desk takes: who answered, the caller (hashed, once known), when it
-- started and ended, and how it ended. A call nobody ended is closed by the timeout
-- sweep as abandoned (`closed_by` = 'timeout').
CREATE TABLE desk_calls (
    id         TEXT PRIMARY KEY,
    operator   TEXT NOT NULL,
    caller     TEXT CHECK (caller IS NULL OR length(caller) = 64),
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    outcome    TEXT CHECK (outcome IN ('new_report', 'follow_up', 'information', 'transferred', 'abandoned')),
    about      TEXT,
    closed_by  TEXT CHECK (closed_by IN ('operator', 'timeout')),
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX desk_calls_started ON desk_calls (started_at);
CREATE INDEX desk_calls_open ON desk_calls (started_at) WHERE ended_at IS NULL;

-- Where a task came from (its document's `source`: citizen, call_centre, crew,
-- dispatcher), so reports can be counted by channel; NULL for facts written before.
ALTER TABLE task_facts ADD COLUMN source TEXT;
