-- Typo correction for address search (issue 19 point 2): every word of the places'
-- folded names (3+ characters, no digit) with each of its one-letter deletions, so the
-- stored words within one typo of a query word (a wrong, missing, extra or swapped
-- letter share a deletion) are found by exact lookups on the primary key instead of
-- a trigram scan of every name. Filled by `storage::places::insert_batch` (the same
-- rule in Rust); this backfills a gazetteer imported before it. `substr` and `length`
-- count code points, as Rust's `chars` does.
CREATE TABLE place_words (
    variant TEXT NOT NULL,
    word    TEXT NOT NULL,
    PRIMARY KEY (variant, word)
) STRICT, WITHOUT ROWID;

WITH RECURSIVE
    split(rest, word) AS (
        SELECT key_fa || ' ' || key_en || ' ', '' FROM places
        UNION ALL
        SELECT substr(rest, instr(rest, ' ') + 1), substr(rest, 1, instr(rest, ' ') - 1)
        FROM split WHERE rest <> ''
    ),
    words(word) AS (
        SELECT DISTINCT word FROM split WHERE length(word) >= 3 AND word NOT GLOB '*[0-9]*'
    ),
    pos(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM pos WHERE i < 64)
INSERT OR IGNORE INTO place_words (variant, word)
SELECT word, word FROM words
UNION
SELECT substr(word, 1, i - 1) || substr(word, i + 1), word
FROM words JOIN pos ON i <= length(word);
