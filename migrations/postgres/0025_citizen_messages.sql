-- Citizens' messages that are not field work (issue 17): complaints, criticism,
-- suggestions, ideas and thanks. They never become task documents (which sync to crews'
-- phones): each is a row here with a tracking code (`tracking_codes.task` = the message
-- id, `M-…`), routed to a department inbox (`inbox`: a district code, or 'city' for the
-- city-wide desk) and answered there by a staff member. The answer is public: the
-- citizen reads it on the tracking page. A contact given with the message is stored
-- like an Open311 request's, in `open311_contacts` (kind 'request', task = the message
-- id), never here.
CREATE TABLE citizen_messages (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('complaint', 'criticism', 'suggestion', 'idea', 'thanks')),
    body         TEXT NOT NULL,
    channel      TEXT NOT NULL CHECK (channel IN ('web', 'open311', 'call_centre')),
    lang         TEXT NOT NULL,
    inbox        TEXT NOT NULL,
    district     TEXT,
    lat          DOUBLE PRECISION,
    lon          DOUBLE PRECISION,
    about_task   TEXT,
    about_unit   TEXT,
    created_at   BIGINT NOT NULL,
    answer       TEXT,
    answered_by  TEXT,
    answered_at  BIGINT
);
CREATE INDEX citizen_messages_inbox ON citizen_messages (inbox, created_at);

-- Where a citizen's field report came from and in which language it was filed (the
-- message's own row says the same for non-field kinds): analytics count by kind and
-- channel, and notifications are written in the citizen's language.
CREATE TABLE citizen_reports (
    task       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('request', 'violation')),
    channel    TEXT NOT NULL CHECK (channel IN ('web', 'open311', 'call_centre')),
    lang       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
