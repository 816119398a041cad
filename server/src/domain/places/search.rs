//! Address search: the query's rules and the ranking.
//!
//! The query is folded by [`normalize`](super::normalize::normalize); candidates come
//! from the database (`storage::places`) in up to three steps, and are ranked here, so the
//! order is the same on both backends:
//! 1. names starting with the query (exact matches among them);
//! 2. (queries of 3+ characters) names containing it, or containing it without its
//!    spaces (a ZWNJ typed as a space: «چشمه علی» finds «چشمه‌علی»);
//! 3. (only if 1 and 2 found fewer than asked, and only for query words of 3+ characters
//!    that occur in no name at all, the typos) names containing the query's other words
//!    and, for each typo, one of the stored words within one typo of it ([`closest`]
//!    picks them from `place_words`); if that finds nothing resembling the query (no
//!    stored word that close: two typos in a long word), names resembling each typo by
//!    trigrams. When every word occurs somewhere but 1 and 2 found nothing
//!    («vali asr»), every word is looked around so.
//!
//! **The ranking rule.** Each place is scored by the better of its two names: tier
//! *exact* (the folded name is the query) > *prefix* (the name starts with it) > *word
//! prefix* (a later word of the name starts with it) > *contains* > *fuzzy* (the name
//! resembles it: a trigram similarity of at least [`FUZZY_MIN`] with some run of its
//! words, or within [`max_edits`] typos of one). Within a tier, the higher similarity of
//! the query to the whole name first (so the shorter of two names with the same prefix),
//! then the shorter name, then the lower id. A place that resembles nothing is dropped.

use crate::storage::places::PlaceRow;
use std::cmp::Ordering;
use std::collections::HashSet;

/// The longest query, in characters. Longer is refused (400), not cut: a query cut
/// short would silently answer a different question.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most results one search returns.
pub const MAX_LIMIT: u32 = 50;
/// Results when no limit is asked for.
pub const DEFAULT_LIMIT: u32 = 10;
/// Candidates fetched per step (and per name for prefixes).
pub const CANDIDATES: i64 = 200;
/// The most query words the fuzzy step looks for.
pub const MAX_FUZZY_WORDS: usize = 8;
/// The least trigram similarity of a fuzzy match.
pub const FUZZY_MIN: f32 = 0.3;
/// The most corrections of one typed word looked up (a three-letter word may be one
/// typo from dozens of stored words).
pub const MAX_CORRECTIONS: usize = 24;

/// Of the stored `words`, those within one typo (OSA distance) of `typed`, the closest
/// first (then the shorter, then in byte order, so the choice is the same on both
/// backends), at most `max`.
pub fn closest(typed: &str, words: Vec<String>, max: usize) -> Vec<String> {
    let t: Vec<char> = typed.chars().collect();
    let mut near: Vec<(usize, String)> = words
        .into_iter()
        .filter_map(|w| {
            let c: Vec<char> = w.chars().collect();
            let d = osa_distance(&t, &c);
            (d <= 1).then_some((d, w))
        })
        .collect();
    near.sort_by(|(da, a), (db, b)| da.cmp(db).then(a.len().cmp(&b.len())).then(a.cmp(b)));
    near.dedup_by(|x, y| x.1 == y.1);
    near.truncate(max);
    near.into_iter().map(|(_, w)| w).collect()
}

/// How a name matches the query; lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// The folded name is the query.
    Exact,
    /// The name starts with the query.
    Prefix,
    /// A later word of the name starts with the query.
    WordPrefix,
    /// The name contains the query.
    Contains,
    /// The name resembles the query.
    Fuzzy,
}

/// A name's match: its tier and the similarity that orders a tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The tier.
    pub tier: Tier,
    /// Within the tier, higher first.
    pub similarity: f32,
    /// The name's length in characters (shorter first on a tie).
    pub len: usize,
}

impl Score {
    /// Best first.
    pub fn cmp_best_first(&self, other: &Score) -> Ordering {
        self.tier
            .cmp(&other.tier)
            .then(other.similarity.total_cmp(&self.similarity))
            .then(self.len.cmp(&other.len))
    }
}

/// How `key` (a folded name; empty when absent) matches the folded `query`, or `None`.
pub fn score(query: &str, key: &str) -> Option<Score> {
    if key.is_empty() || query.is_empty() {
        return None;
    }
    let len = key.chars().count();
    let whole = similarity(&trigram_set(query), &trigram_set(key));
    let tier = if key == query {
        Tier::Exact
    } else if key.starts_with(query) {
        Tier::Prefix
    } else if key
        .match_indices(query)
        .any(|(i, _)| key[..i].ends_with(' '))
    {
        Tier::WordPrefix
    } else if key.contains(query) {
        Tier::Contains
    } else if let Some(tier) = spaceless(query, key) {
        tier
    } else {
        let fuzzy = fuzzy_similarity(query, key)?;
        return Some(Score {
            tier: Tier::Fuzzy,
            similarity: fuzzy,
            len,
        });
    };
    Some(Score {
        tier,
        similarity: whole,
        len,
    })
}

/// The tier of a match that needs the spaces ignored: a ZWNJ (removed by the folding)
/// typed as a space, «چشمه علی» for «چشمه‌علی».
fn spaceless(query: &str, key: &str) -> Option<Tier> {
    if !query.contains(' ') {
        return None;
    }
    let q: String = query.split(' ').collect();
    let k: String = key.split(' ').collect();
    if k == q {
        Some(Tier::Exact)
    } else if k.starts_with(&q) {
        Some(Tier::Prefix)
    } else if k.contains(&q) {
        Some(Tier::Contains)
    } else {
        None
    }
}

/// The better score of a place's two names.
pub fn score_place(query: &str, row: &PlaceRow) -> Option<Score> {
    let fa = score(query, &row.key_fa);
    let en = score(query, &row.key_en);
    match (fa, en) {
        (Some(a), Some(b)) => Some(if b.cmp_best_first(&a) == Ordering::Less {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Ranks candidates (duplicates by id are dropped), best first, at most `limit`.
pub fn rank(query: &str, rows: Vec<PlaceRow>, limit: usize) -> Vec<PlaceRow> {
    let mut seen = HashSet::new();
    let mut scored: Vec<(Score, PlaceRow)> = rows
        .into_iter()
        .filter(|r| seen.insert(r.id))
        .filter_map(|r| score_place(query, &r).map(|s| (s, r)))
        .collect();
    scored.sort_by(|(a, ra), (b, rb)| a.cmp_best_first(b).then(ra.id.cmp(&rb.id)));
    scored.truncate(limit);
    scored.into_iter().map(|(_, r)| r).collect()
}

/// How many of the rows match at all (any tier but fuzzy counts as a match found
/// without the fuzzy step).
pub fn count_matching(query: &str, rows: &[PlaceRow]) -> usize {
    let ids: HashSet<i64> = rows
        .iter()
        .filter(|r| score_place(query, r).is_some_and(|s| s.tier < Tier::Fuzzy))
        .map(|r| r.id)
        .collect();
    ids.len()
}

/// The similarity of a fuzzy match, or `None` when `key` does not resemble `query`: the
/// best over every run of the key's words as long as the query's (one word fewer or
/// more too) of the trigram similarity, or of `1 - edits / length` when within
/// [`max_edits`] typos.
fn fuzzy_similarity(query: &str, key: &str) -> Option<f32> {
    let q_words = query.split(' ').count();
    let words: Vec<&str> = key.split(' ').collect();
    let q_set = trigram_set(query);
    let q_chars: Vec<char> = query.chars().collect();
    let allowed = max_edits(q_chars.len());
    let mut best: Option<f32> = None;
    for n in q_words.saturating_sub(1).max(1)..=(q_words + 1).min(words.len()) {
        for run in words.windows(n) {
            let text = run.join(" ");
            let mut s = similarity(&q_set, &trigram_set(&text));
            let t_chars: Vec<char> = text.chars().collect();
            let edits = osa_distance(&q_chars, &t_chars);
            if edits <= allowed {
                let longest = q_chars.len().max(t_chars.len()).max(1);
                s = s.max(1.0 - edits as f32 / longest as f32);
            } else if s < FUZZY_MIN {
                continue;
            }
            best = Some(best.map_or(s, |b: f32| b.max(s)));
        }
    }
    best
}

/// Typos forgiven in a query of `len` characters: none under 3, one up to 5, two up to
/// 10, three beyond.
pub fn max_edits(len: usize) -> usize {
    match len {
        0..=2 => 0,
        3..=5 => 1,
        6..=10 => 2,
        _ => 3,
    }
}

/// pg_trgm's trigrams: each word padded with two spaces before and one after.
fn trigram_set(text: &str) -> HashSet<[char; 3]> {
    let mut set = HashSet::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let padded: Vec<char> = "  "
            .chars()
            .chain(word.chars())
            .chain(std::iter::once(' '))
            .collect();
        for w in padded.windows(3) {
            set.insert([w[0], w[1], w[2]]);
        }
    }
    set
}

/// Shared trigrams over all trigrams (Jaccard), 0 for two empty sets.
fn similarity(a: &HashSet<[char; 3]>, b: &HashSet<[char; 3]>) -> f32 {
    let shared = a.intersection(b).count();
    let all = a.len() + b.len() - shared;
    if all == 0 {
        0.0
    } else {
        shared as f32 / all as f32
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours, each one edit.
fn osa_distance(a: &[char], b: &[char]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    if let Some(first) = d.first_mut() {
        for (j, cell) in first.iter_mut().enumerate() {
            *cell = j;
        }
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, fa: &str, en: &str) -> PlaceRow {
        PlaceRow {
            id,
            name_fa: Some(fa.into()),
            name_en: Some(en.into()),
            kind: "street".into(),
            lat: 35.7,
            lon: 51.4,
            district: None,
            key_fa: fa.into(),
            key_en: en.into(),
        }
    }

    #[test]
    fn tiers_order_exact_prefix_word_contains_fuzzy() {
        let q = "ولیعصر";
        let rows = vec![
            row(1, "میدان ولیعصر", ""),
            row(2, "ولیعصر شمالی", ""),
            row(3, "ولیعصر", ""),
            row(4, "کوچه ولیعصز", ""),
            row(5, "باغولیعصر", ""),
            row(6, "تجریش", ""),
        ];
        let ids: Vec<i64> = rank(q, rows, 10).iter().map(|r| r.id).collect();
        assert_eq!(ids, [3, 2, 1, 5, 4]);
    }

    #[test]
    fn shorter_prefix_match_first_then_id() {
        let rows = vec![
            row(9, "azadi square west", ""),
            row(8, "azadi square", ""),
            row(7, "azadi square", ""),
        ];
        let ids: Vec<i64> = rank("azadi", rows, 10).iter().map(|r| r.id).collect();
        assert_eq!(ids, [7, 8, 9]);
    }

    #[test]
    fn english_name_counts_too() {
        let r = row(1, "میدان آزادی", "azadi square");
        assert_eq!(score_place("azadi", &r).map(|s| s.tier), Some(Tier::Prefix));
    }

    #[test]
    fn typos_are_fuzzy_and_nonsense_is_dropped() {
        // A substitution, a transposition, a missing letter.
        for q in ["valiasr", "vailasr", "valasr"] {
            let s = score(q, "valiasr street");
            assert!(s.is_some(), "{q}");
        }
        assert_eq!(
            score("valiasx", "valiasr").map(|s| s.tier),
            Some(Tier::Fuzzy)
        );
        assert_eq!(score("qqqqq", "valiasr street"), None);
        assert_eq!(score("ab", "ac"), None, "no typo forgiven under 3 letters");
    }

    #[test]
    fn a_space_for_a_zwnj_still_matches() {
        // «چشمه‌علی» is stored folded without its ZWNJ.
        assert_eq!(
            score("چشمه علی", "چشمهعلی").map(|s| s.tier),
            Some(Tier::Exact)
        );
        assert_eq!(
            score("می دان", "میدان کتاب").map(|s| s.tier),
            Some(Tier::Prefix)
        );
        assert_eq!(
            score("چشمه علی", "چشمهعلیا").map(|s| s.tier),
            Some(Tier::Prefix)
        );
    }

    #[test]
    fn closest_keeps_one_typo_nearest_first() {
        let words = ["valiasr", "valiaxr", "valixsr", "vali", "valiasrr", "park"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            closest("valiasr", words.clone(), 10),
            ["valiasr", "valiaxr", "valixsr", "valiasrr"]
        );
        assert_eq!(closest("vailasr", words.clone(), 10), ["valiasr"]);
        assert_eq!(closest("valiaxr", words, 1), ["valiaxr"]);
    }

    #[test]
    fn osa_counts_a_swap_as_one() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(osa_distance(&c("valiasr"), &c("vailasr")), 1);
        assert_eq!(osa_distance(&c("abc"), &c("abc")), 0);
        assert_eq!(osa_distance(&c(""), &c("abc")), 3);
        assert_eq!(osa_distance(&c("kitten"), &c("sitting")), 3);
    }
}
