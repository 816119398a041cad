-- Typo correction for address search (issue 19 point 2): every word of the places'
-- folded names (3+ characters, no digit) with each of its one-letter deletions, so the
-- stored words within one typo of a query word (a wrong, missing, extra or swapped
-- letter share a deletion) are found by exact lookups on the primary key instead of
-- a trigram scan of every name. Filled by `storage::places::insert_batch` (the same
-- rule in Rust); this backfills a gazetteer imported before it. `substr` and
-- `char_length` count code points, as Rust's `chars` does.
CREATE TABLE place_words (
    variant TEXT COLLATE "C" NOT NULL,
    word    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (variant, word)
);

WITH words AS (
    SELECT DISTINCT w AS word
    FROM places, regexp_split_to_table(key_fa || ' ' || key_en, ' ') AS w
    WHERE char_length(w) >= 3 AND w !~ '[0-9]'
)
INSERT INTO place_words (variant, word)
SELECT word, word FROM words
UNION
SELECT substr(word, 1, i - 1) || substr(word, i + 1), word
FROM words, generate_series(1, char_length(word)) AS i
ON CONFLICT DO NOTHING;
