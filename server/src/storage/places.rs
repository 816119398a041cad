//! The address gazetteer as stored (`places`, migration 0033): batches of imported
//! places, and the candidate lookups the search ranks (`domain::places::search`).
//!
//! Every lookup returns at most `limit` rows with both folded names, and the domain
//! ranks them, so that the order is the same on both backends; the databases only have
//! to find the right candidates fast:
//! - [`by_prefix`]: names that start with the key (exact matches first): a range scan of
//!   `key_fa` / `key_en` in byte order, the same statement on both backends.
//! - [`containing`]: `search` holds the key anywhere: PostgreSQL `LIKE '%…%'` on a
//!   `pg_trgm` GIN index; SQLite a phrase of the FTS5 trigram index.
//! - [`similar`]: `search` contains each known word and resembles each unknown one:
//!   PostgreSQL `LIKE` and `<%` (word similarity of at least [`FUZZY_THRESHOLD`]) on the
//!   same GIN index, best first; SQLite the known words as phrases AND-ed with, per
//!   unknown word, any of its trigrams in the FTS5 index, best `bm25` first. The slow
//!   step (a made-up word shares trigrams with thousands of names): the search asks it
//!   only when [`near_words`] + [`containing_words`] found nothing.
//! - [`near_words`]: the stored words within one typo of a query word, from
//!   `place_words` (migration 0038: each word of the keys with its one-letter
//!   deletions, [`word_variants`]); exact lookups on its primary key, the same
//!   statement on both backends.
//! - [`containing_words`]: `search` contains each known word and, per typed word, one
//!   of its corrections: the substring index again, with ORs.

use super::{Db, DbError, on_pool};
use sqlx::QueryBuilder;

/// A place to store. The keys are the names folded by `domain::places::normalize`
/// (empty for an absent name).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlace {
    /// The local (Persian) name.
    pub name_fa: Option<String>,
    /// The English name.
    pub name_en: Option<String>,
    /// `street`, `place`, `area` or the file's own kind.
    pub kind: String,
    /// Latitude (WGS84).
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// `name_fa` folded.
    pub key_fa: String,
    /// `name_en` folded.
    pub key_en: String,
}

impl NewPlace {
    /// The text the substring and fuzzy indexes cover: both keys. The separator is no
    /// letter, so no trigram-word spans the two names.
    fn search(&self) -> String {
        match (self.key_fa.is_empty(), self.key_en.is_empty()) {
            (false, false) => format!("{} | {}", self.key_fa, self.key_en),
            (false, true) => self.key_fa.clone(),
            _ => self.key_en.clone(),
        }
    }
}

/// A stored place with its keys, as the lookups return it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PlaceRow {
    /// Row id.
    pub id: i64,
    /// The local (Persian) name.
    pub name_fa: Option<String>,
    /// The English name.
    pub name_en: Option<String>,
    /// Kind.
    pub kind: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// The covering district's code when imported.
    pub district: Option<String>,
    /// `name_fa` folded ('' when absent).
    pub key_fa: String,
    /// `name_en` folded ('' when absent).
    pub key_en: String,
}

const COLUMNS: &str = "id, name_fa, name_en, kind, lat, lon, district, key_fa, key_en";

/// The word similarity (pg_trgm `<%`) a PostgreSQL fuzzy candidate needs per query
/// word: low enough to keep one transposition in a six-letter word (0.29); the domain's
/// own score decides what is shown.
pub const FUZZY_THRESHOLD: f64 = 0.25;

/// Words up to this many characters also look for the trigrams of their one-letter
/// deletions (see [`trigrams`]).
const DELETIONS_UP_TO: usize = 16;

/// Stores a batch of places in one transaction, first deleting every stored place when
/// `replace` is set, each with the district covering its point. Returns how many of
/// them fall outside every district.
pub async fn insert_batch(
    db: &Db,
    places: &[NewPlace],
    replace: bool,
    now: i64,
) -> Result<usize, DbError> {
    let outside = match db {
        Db::Sqlite(s) => {
            // Districts from the in-memory index, before the writer lock is taken.
            let districts = s
                .districts_covering(places.iter().map(|p| (p.lat, p.lon)))
                .await?;
            let mut tx = db.begin_write().await?;
            let super::Tx::Sqlite(conn, _) = &mut tx else {
                return Err(DbError::Invalid("a SQLite transaction expected".into()));
            };
            if replace {
                sqlx::query("DELETE FROM places")
                    .execute(&mut **conn)
                    .await?;
                sqlx::query("DELETE FROM place_words")
                    .execute(&mut **conn)
                    .await?;
            }
            for (p, district) in places.iter().zip(&districts) {
                sqlx::query(
                    "INSERT INTO places (name_fa, name_en, kind, lat, lon, district, key_fa, \
                     key_en, search, imported_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&p.name_fa)
                .bind(&p.name_en)
                .bind(&p.kind)
                .bind(p.lat)
                .bind(p.lon)
                .bind(district)
                .bind(&p.key_fa)
                .bind(&p.key_en)
                .bind(p.search())
                .bind(now)
                .execute(&mut **conn)
                .await?;
            }
            // Only the words not stored yet get their variants: most words of a batch
            // («خیابان») are.
            let words = batch_words(places);
            let new: Vec<String> = sqlx::query_scalar(
                "SELECT w.value FROM json_each($1) w WHERE NOT EXISTS \
                 (SELECT 1 FROM place_words p WHERE p.variant = w.value AND p.word = w.value)",
            )
            .bind(serde_json::to_string(&words).map_err(|e| DbError::Invalid(e.to_string()))?)
            .fetch_all(&mut **conn)
            .await?;
            let (variants, of) = variant_rows(&new);
            let pairs: Vec<(&String, &String)> = variants.iter().zip(&of).collect();
            sqlx::query(
                "INSERT OR IGNORE INTO place_words (variant, word) \
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') \
                 FROM json_each($1)",
            )
            .bind(serde_json::to_string(&pairs).map_err(|e| DbError::Invalid(e.to_string()))?)
            .execute(&mut **conn)
            .await?;
            tx.commit().await?;
            districts.iter().filter(|d| d.is_none()).count()
        }
        Db::Postgres(s) => {
            let mut tx = s.pool().begin().await?;
            if replace {
                sqlx::query("DELETE FROM places").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM place_words")
                    .execute(&mut *tx)
                    .await?;
            }
            // One statement per batch; the district from PostGIS, as `district_covering`.
            let outside: i64 = sqlx::query_scalar(
                "WITH n AS (
                   INSERT INTO places (name_fa, name_en, kind, lat, lon, district, key_fa,
                                       key_en, search, imported_at)
                   SELECT n.fa, n.en, n.kind, n.lat, n.lon,
                          (SELECT d.code FROM districts d
                            WHERE ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326))
                            ORDER BY d.code LIMIT 1),
                          n.kfa, n.ken, n.search, $9
                   FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[],
                               $6::text[], $7::text[], $8::text[])
                        AS n(fa, en, kind, lat, lon, kfa, ken, search)
                   RETURNING district)
                 SELECT COUNT(*) FILTER (WHERE district IS NULL) FROM n",
            )
            .bind(places.iter().map(|p| p.name_fa.clone()).collect::<Vec<_>>())
            .bind(places.iter().map(|p| p.name_en.clone()).collect::<Vec<_>>())
            .bind(places.iter().map(|p| p.kind.clone()).collect::<Vec<_>>())
            .bind(places.iter().map(|p| p.lat).collect::<Vec<_>>())
            .bind(places.iter().map(|p| p.lon).collect::<Vec<_>>())
            .bind(places.iter().map(|p| p.key_fa.clone()).collect::<Vec<_>>())
            .bind(places.iter().map(|p| p.key_en.clone()).collect::<Vec<_>>())
            .bind(places.iter().map(NewPlace::search).collect::<Vec<_>>())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let new: Vec<String> = sqlx::query_scalar(
                "SELECT w FROM UNNEST($1::text[]) AS w WHERE NOT EXISTS \
                 (SELECT 1 FROM place_words p WHERE p.variant = w AND p.word = w)",
            )
            .bind(batch_words(places))
            .fetch_all(&mut *tx)
            .await?;
            let (variants, of) = variant_rows(&new);
            sqlx::query(
                "INSERT INTO place_words (variant, word) \
                 SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            )
            .bind(variants)
            .bind(of)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            usize::try_from(outside).unwrap_or(0)
        }
    };
    Ok(outside)
}

/// How many places are stored.
pub async fn count(db: &Db) -> Result<i64, DbError> {
    Ok(
        on_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM places")
        .fetch_one(pool)
        .await)?,
    )
}

/// Places whose Persian or English key starts with `key` (which is not empty), each
/// name's first `limit` in key order (so an exact match comes first).
pub async fn by_prefix(db: &Db, key: &str, limit: i64) -> Result<Vec<PlaceRow>, DbError> {
    // Every string that starts with `key` sorts between it and `key` + the last code
    // point, in byte order (SQLite's BINARY, the columns' "C" on PostgreSQL).
    let upper = format!("{key}\u{10FFFF}");
    let mut out = Vec::new();
    for column in ["key_fa", "key_en"] {
        let sql = format!(
            "SELECT {COLUMNS} FROM places WHERE {column} >= $1 AND {column} < $2 \
             ORDER BY {column}, id LIMIT $3"
        );
        let rows: Vec<PlaceRow> = on_pool!(db, pool => sqlx::query_as(&sql)
            .bind(key)
            .bind(&upper)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        out.extend(rows);
    }
    Ok(out)
}

/// Up to `limit` places whose `search` text contains `key` (at least 3 characters: a
/// trigram index cannot answer less).
pub async fn containing(db: &Db, key: &str, limit: i64) -> Result<Vec<PlaceRow>, DbError> {
    let rows = match db {
        Db::Sqlite(s) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM places WHERE id IN \
                 (SELECT rowid FROM places_fts WHERE places_fts MATCH $1 LIMIT $2)"
            );
            sqlx::query_as(&sql)
                .bind(fts_phrase(key))
                .bind(limit)
                .fetch_all(s.pool())
                .await?
        }
        Db::Postgres(s) => {
            let sql = format!("SELECT {COLUMNS} FROM places WHERE search LIKE $1 LIMIT $2");
            sqlx::query_as(&sql)
                .bind(format!("%{}%", like_escape(key)))
                .bind(limit)
                .fetch_all(s.pool())
                .await?
        }
    };
    Ok(rows)
}

/// Up to `limit` places whose `search` text contains every one of `known` and resembles
/// every one of `unknown` (each at least 3 characters; `unknown` not empty), the most
/// similar first (see the module documentation).
pub async fn similar(
    db: &Db,
    known: &[&str],
    unknown: &[&str],
    limit: i64,
) -> Result<Vec<PlaceRow>, DbError> {
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let rows = match db {
        Db::Sqlite(s) => {
            let expr = known
                .iter()
                .map(|w| fts_phrase(w))
                .chain(
                    unknown
                        .iter()
                        .map(|w| format!("({})", trigrams(w).join(" OR "))),
                )
                .collect::<Vec<_>>()
                .join(" AND ");
            let sql = "SELECT p.id, p.name_fa, p.name_en, p.kind, p.lat, p.lon, p.district, p.key_fa, \
                 p.key_en FROM places p JOIN \
                 (SELECT rowid, rank FROM places_fts WHERE places_fts MATCH $1 \
                  ORDER BY rank LIMIT $2) f ON f.rowid = p.id ORDER BY f.rank";
            sqlx::query_as(sql)
                .bind(expr)
                .bind(limit)
                .fetch_all(s.pool())
                .await?
        }
        Db::Postgres(s) => {
            let mut tx = s.pool().begin().await?;
            // The operator's threshold is a setting; SET LOCAL ends with the transaction.
            sqlx::query("SELECT set_config('pg_trgm.word_similarity_threshold', $1, TRUE)")
                .bind(FUZZY_THRESHOLD.to_string())
                .execute(&mut *tx)
                .await?;
            let mut qb = QueryBuilder::<sqlx::Postgres>::new(format!(
                "SELECT {COLUMNS} FROM places WHERE TRUE"
            ));
            for w in known {
                qb.push(" AND search LIKE ")
                    .push_bind(format!("%{}%", like_escape(w)));
            }
            for w in unknown {
                qb.push(" AND ").push_bind(*w).push(" <% search");
            }
            qb.push(" ORDER BY ");
            for (i, w) in unknown.iter().enumerate() {
                if i > 0 {
                    qb.push(" + ");
                }
                qb.push("word_similarity(").push_bind(*w).push(", search)");
            }
            qb.push(" DESC, id LIMIT ").push_bind(limit);
            let rows = qb.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        }
    };
    Ok(rows)
}

/// The longest word given one-letter deletions in `place_words` (as the migration's
/// backfill): a longer one is stored as itself only.
const VARIANTS_UP_TO: usize = 64;

/// The words of a folded key that `place_words` holds: 3+ characters (shorter query
/// words are not corrected) and no digit (a house or alley number one digit off is
/// another place, not a typo).
pub fn indexed_words(key: &str) -> impl Iterator<Item = &str> {
    key.split(' ')
        .filter(|w| w.chars().count() >= 3 && !w.chars().any(|c| c.is_ascii_digit()))
}

/// `word` and each of its one-letter deletions, distinct. Two words within one typo
/// (a letter wrong, missing, extra, or two neighbours swapped) share one of these.
pub fn word_variants(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = vec![word.to_owned()];
    if chars.len() <= VARIANTS_UP_TO {
        for i in 0..chars.len() {
            out.push(chars[..i].iter().chain(&chars[i + 1..]).collect::<String>());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The distinct indexed words of a batch's keys.
fn batch_words(places: &[NewPlace]) -> Vec<String> {
    let mut words: Vec<String> = places
        .iter()
        .flat_map(|p| indexed_words(&p.key_fa).chain(indexed_words(&p.key_en)))
        .map(str::to_owned)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The `place_words` rows of `words`, as two columns (variant, word).
fn variant_rows(words: &[String]) -> (Vec<String>, Vec<String>) {
    let mut variants = Vec::new();
    let mut of = Vec::new();
    for w in words {
        for v in word_variants(w) {
            variants.push(v);
            of.push(w.clone());
        }
    }
    (variants, of)
}

/// The stored words sharing a variant with `word` (so within one typo of it, and some
/// two typos away: the caller measures), at most [`NEAR_WORDS`].
pub async fn near_words(db: &Db, word: &str) -> Result<Vec<String>, DbError> {
    let variants = word_variants(word);
    let words = match db {
        Db::Sqlite(s) => {
            sqlx::query_scalar(
                "SELECT DISTINCT word FROM place_words \
                 WHERE variant IN (SELECT value FROM json_each($1)) LIMIT $2",
            )
            .bind(serde_json::to_string(&variants).map_err(|e| DbError::Invalid(e.to_string()))?)
            .bind(NEAR_WORDS)
            .fetch_all(s.pool())
            .await?
        }
        Db::Postgres(s) => {
            sqlx::query_scalar(
                "SELECT DISTINCT word FROM place_words WHERE variant = ANY($1) LIMIT $2",
            )
            .bind(&variants)
            .bind(NEAR_WORDS)
            .fetch_all(s.pool())
            .await?
        }
    };
    Ok(words)
}

/// The most words [`near_words`] returns (a three-letter word can have hundreds of
/// neighbours; the caller keeps the closest few).
pub const NEAR_WORDS: i64 = 500;

/// Up to `limit` places whose `search` text contains every one of `known` and, for
/// each set of `alternatives`, one of its words (every word at least 3 characters;
/// no set empty). No order: the domain ranks.
pub async fn containing_words(
    db: &Db,
    known: &[&str],
    alternatives: &[Vec<String>],
    limit: i64,
) -> Result<Vec<PlaceRow>, DbError> {
    if alternatives.is_empty() || alternatives.iter().any(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let rows = match db {
        Db::Sqlite(s) => {
            let expr = known
                .iter()
                .map(|w| fts_phrase(w))
                .chain(alternatives.iter().map(|set| {
                    let any: Vec<String> = set.iter().map(|w| fts_phrase(w)).collect();
                    format!("({})", any.join(" OR "))
                }))
                .collect::<Vec<_>>()
                .join(" AND ");
            let sql = format!(
                "SELECT {COLUMNS} FROM places WHERE id IN \
                 (SELECT rowid FROM places_fts WHERE places_fts MATCH $1 LIMIT $2)"
            );
            sqlx::query_as(&sql)
                .bind(expr)
                .bind(limit)
                .fetch_all(s.pool())
                .await?
        }
        Db::Postgres(s) => {
            let mut tx = s.pool().begin().await?;
            // pg_trgm's row estimate for a rare word's trigrams is often 100 times too
            // high; OR-ing a typo's corrections adds them up until a sequential scan of
            // every place (0.5 s at 200,000, then LIMIT) looks cheaper than the index
            // (2 ms). The trigram index always answers a LIKE of 3+ characters, so the
            // scan is ruled out for this one statement (SET LOCAL ends with it).
            sqlx::query("SELECT set_config('enable_seqscan', 'off', TRUE)")
                .execute(&mut *tx)
                .await?;
            let mut qb = QueryBuilder::<sqlx::Postgres>::new(format!(
                "SELECT {COLUMNS} FROM places WHERE TRUE"
            ));
            for w in known {
                qb.push(" AND search LIKE ")
                    .push_bind(format!("%{}%", like_escape(w)));
            }
            for set in alternatives {
                qb.push(" AND (");
                for (i, w) in set.iter().enumerate() {
                    if i > 0 {
                        qb.push(" OR ");
                    }
                    qb.push("search LIKE ")
                        .push_bind(format!("%{}%", like_escape(w)));
                }
                qb.push(")");
            }
            qb.push(" LIMIT ").push_bind(limit);
            let rows = qb.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        }
    };
    Ok(rows)
}

/// `key` as an FTS5 phrase (a folded key holds no double quote; doubled anyway).
fn fts_phrase(key: &str) -> String {
    format!("\"{}\"", key.replace('"', "\"\""))
}

/// The distinct trigrams of a word as FTS5 phrases (what the trigram tokenizer indexes),
/// with those of the word less any one letter: two swapped letters («ولعیصر» for
/// «ولیعصر») leave no trigram in common, but a deletion of either brings one back.
fn trigrams(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut variants = vec![chars.clone()];
    if chars.len() <= DELETIONS_UP_TO {
        for i in 0..chars.len() {
            let mut v = chars.clone();
            v.remove(i);
            variants.push(v);
        }
    }
    let mut out: Vec<String> = variants
        .iter()
        .flat_map(|v| v.windows(3).map(|w| w.iter().collect::<String>()))
        .map(|t| fts_phrase(&t))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Escapes `LIKE`'s wildcards (PostgreSQL's default escape character is `\`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
