-- The retention sweep of callers' hashes (issue 19): the contacts' rule applied to the
-- call centre's records. Each sweep looks only at what is left to forget: calls that
-- still hold a caller's hash, and messages answered (a message's "closed").
CREATE INDEX desk_calls_with_caller ON desk_calls (started_at) WHERE caller IS NOT NULL;
CREATE INDEX citizen_messages_answered ON citizen_messages (answered_at) WHERE answered_at IS NOT NULL;
