-- Integrity channel (design §7). Nothing here identifies a reporter, and nothing here is
-- readable without an investigator's private key or the receipt code:
-- * lookup: the public half of the receipt code (finds the case); the secret half is only
--   in code_verifier, as HKDF(argon2id(secret, code_salt)) — one argon2 per guess;
-- * reporter_recipient: the age public key derived from the receipt code;
-- * every message (report, follow-ups, replies, status changes) and attachment is an age
--   ciphertext whose plaintext names its case and position; category and status are
--   inside, not here;
-- * times are rounded down to the hour.
CREATE TABLE integrity_cases (
    id                 TEXT PRIMARY KEY,
    lookup             TEXT NOT NULL UNIQUE,
    code_salt          BLOB NOT NULL,
    code_kdf           TEXT NOT NULL,
    code_verifier      BLOB NOT NULL,
    reporter_recipient TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE integrity_messages (
    case_id    TEXT NOT NULL REFERENCES integrity_cases (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, seq)
) STRICT;

CREATE TABLE integrity_attachments (
    case_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    idx        INTEGER NOT NULL CHECK (idx >= 0),
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (case_id, seq, idx),
    FOREIGN KEY (case_id, seq) REFERENCES integrity_messages (case_id, seq) ON DELETE CASCADE
) STRICT;
