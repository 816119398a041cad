-- The audit chain's head (issue 18 point 3): the number and hash of the last row,
-- written in the same transaction as that row (server/src/storage/audit.rs). The chain
-- alone cannot show that its LAST rows were deleted (what is left still links up);
-- with the head, `tarmim-server audit verify` finds that too. One row, always there.
-- What raw SQL can still do (rewrite the rows and the head together) and the outside
-- anchor that catches it: docs/audit.md.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;
INSERT INTO audit_head (id, seq, hash)
SELECT 1,
       COALESCE((SELECT MAX(seq) FROM audit_log), 0),
       COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000');
