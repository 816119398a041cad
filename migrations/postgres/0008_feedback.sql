-- Citizens' feedback through a tracking code (design §2 rule 6, §6): one rating and one
-- "not fixed" per code. A row is the code's claim, written 'pending' before the task
-- document is edited and marked 'done' after the edit is durable; the task document
-- (its Rated / Reopened event by the code's pseudonym) stays the authority, so a retry
-- after a crash in between finds the event and records nothing twice. A rating given
-- after another code already rated the task is kept here only ('done', no event): the
-- document holds one rating per task.
CREATE TABLE citizen_feedback (
    code       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('rating', 'not_fixed')),
    -- The task the feedback went to (the surviving task of a merged report).
    task       TEXT NOT NULL,
    stars      INTEGER CHECK (stars BETWEEN 1 AND 5),
    comment    TEXT NOT NULL DEFAULT '',
    -- The evidence photo of a "not fixed" (SHA-256, hex).
    photo      TEXT,
    -- The task event it became, once committed (NULL for a rating kept here only).
    event      TEXT,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    created_at BIGINT NOT NULL,
    done_at    BIGINT,
    PRIMARY KEY (code, kind)
);
CREATE INDEX citizen_feedback_task ON citizen_feedback (task);
