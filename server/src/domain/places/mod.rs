//! The address gazetteer: streets and places a call-centre operator finds by name,
//! without the internet (issue 19 point 2).
//!
//! - [`normalize`]: the one folding of names and queries (Arabic/Persian letter
//!   variants, ZWNJ, digits, case, diacritics).
//! - [`search`]: the query's rules and the ranking (exact > prefix > contains > fuzzy).
//! - [`import`]: a GeoJSON FeatureCollection streamed feature by feature into the store
//!   (`tarmim-server import-places`).
//!
//! Searching is for staff (admin, dispatcher, manager, call centre); crews are refused.

pub mod import;
pub mod normalize;
pub mod search;

use crate::domain::identity::{Identity, UserRole};
use crate::storage::places::{self as store, PlaceRow};
use crate::storage::{Db, DbError};
use serde::Serialize;
use utoipa::ToSchema;

pub use normalize::normalize;

/// Failures of a search.
#[derive(Debug, thiserror::Error)]
pub enum PlacesError {
    /// The query or limit is unusable.
    #[error("{0}")]
    BadQuery(String),
    /// The caller's role may not search.
    #[error("{0}")]
    Forbidden(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One place found, as the desk shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlaceHit {
    /// The place's id.
    pub id: i64,
    /// Its Persian (local) name.
    pub name_fa: Option<String>,
    /// Its English name.
    pub name_en: Option<String>,
    /// `street`, `place`, `area`, or the kind the imported file gave.
    pub kind: String,
    /// Latitude (WGS84) of the place, or of a representative point of a street or area.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// The code of the district covering the point, if any.
    pub district: Option<String>,
}

impl From<PlaceRow> for PlaceHit {
    fn from(r: PlaceRow) -> PlaceHit {
        PlaceHit {
            id: r.id,
            name_fa: r.name_fa,
            name_en: r.name_en,
            kind: r.kind,
            lat: r.lat,
            lon: r.lon,
            district: r.district,
        }
    }
}

/// Whether `who` may search places: every staff role but field crews and contractors'
/// representatives.
pub fn check_staff(who: &Identity) -> Result<(), PlacesError> {
    match who.role {
        UserRole::Admin | UserRole::Dispatcher | UserRole::Manager | UserRole::CallCentre => Ok(()),
        UserRole::Crew | UserRole::Contractor => Err(PlacesError::Forbidden(
            "address search is for staff (dispatchers, managers, call centre, admins)".into(),
        )),
    }
}

/// Checks a query and folds it: refused when empty (or nothing but spaces and marks)
/// and when longer than [`search::MAX_QUERY_CHARS`].
pub fn check_query(q: &str) -> Result<String, PlacesError> {
    // Counting stops just past the cap: a huge query costs no more than a long one.
    if q.chars().take(search::MAX_QUERY_CHARS + 1).count() > search::MAX_QUERY_CHARS {
        return Err(PlacesError::BadQuery(format!(
            "q is too long: at most {} characters",
            search::MAX_QUERY_CHARS
        )));
    }
    let key = normalize(q);
    if key.is_empty() {
        return Err(PlacesError::BadQuery(
            "q is empty: type a few letters or digits of a street or place".into(),
        ));
    }
    Ok(key)
}

/// Checks a limit: 1 to [`search::MAX_LIMIT`], [`search::DEFAULT_LIMIT`] when absent.
pub fn check_limit(limit: Option<i64>) -> Result<usize, PlacesError> {
    let limit = limit.unwrap_or(i64::from(search::DEFAULT_LIMIT));
    if !(1..=i64::from(search::MAX_LIMIT)).contains(&limit) {
        return Err(PlacesError::BadQuery(format!(
            "limit must be 1 to {}",
            search::MAX_LIMIT
        )));
    }
    usize::try_from(limit).map_err(|_| PlacesError::BadQuery("limit out of range".into()))
}

/// Searches the gazetteer for `q`, best first (the rule is in [`search`]).
pub async fn find(
    db: &Db,
    who: &Identity,
    q: &str,
    limit: Option<i64>,
) -> Result<Vec<PlaceHit>, PlacesError> {
    check_staff(who)?;
    let key = check_query(q)?;
    let limit = check_limit(limit)?;
    Ok(lookup(db, &key, limit)
        .await?
        .into_iter()
        .map(PlaceHit::from)
        .collect())
}

/// The ranked places for a folded, non-empty `key` (no role check: the desk's callers
/// and the benchmarks).
pub async fn lookup(db: &Db, key: &str, limit: usize) -> Result<Vec<PlaceRow>, DbError> {
    let mut rows = store::by_prefix(db, key, search::CANDIDATES).await?;
    let long_enough = key.chars().count() >= 3;
    if long_enough {
        rows.extend(store::containing(db, key, search::CANDIDATES).await?);
        if key.contains(' ') {
            let spaceless: String = key.split(' ').collect();
            rows.extend(store::containing(db, &spaceless, search::CANDIDATES).await?);
        }
    }
    let words: Vec<&str> = key.split(' ').filter(|w| w.chars().count() >= 3).collect();
    // A query of many words is a pasted sentence more than a typo: no fuzzy step.
    let matching = search::count_matching(key, &rows);
    if matching < limit && words.len() <= search::MAX_FUZZY_WORDS {
        // Only a word found in no name is a typo to look around; the others must match.
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for w in words {
            if store::containing(db, w, 1).await?.is_empty() {
                unknown.push(w);
            } else {
                known.push(w);
            }
        }
        // Every word is in some name, yet nothing matched («vali asr» for «valiasr»):
        // look around all of them.
        if unknown.is_empty() && matching == 0 {
            unknown = std::mem::take(&mut known);
        }
        if !unknown.is_empty() {
            let before = rows.len();
            // First the stored words within one typo of each unknown word, then the
            // names holding them: index lookups, a few ms (BENCHMARKS.md).
            let mut alternatives = Vec::with_capacity(unknown.len());
            for w in &unknown {
                alternatives.push(corrections(db, w).await?);
            }
            if alternatives.iter().all(|a| !a.is_empty()) {
                rows.extend(
                    store::containing_words(db, &known, &alternatives, search::CANDIDATES).await?,
                );
            }
            // Nothing within one typo of every word that resembles the query: the
            // trigram search over every name (slower; two typos in a long word).
            if !rows[before..]
                .iter()
                .any(|r| search::score_place(key, r).is_some())
            {
                rows.extend(store::similar(db, &known, &unknown, search::CANDIDATES).await?);
            }
        }
    }
    Ok(search::rank(key, rows, limit))
}

/// The stored words within one typo of `word` (itself first when stored), the closest
/// [`search::MAX_CORRECTIONS`].
async fn corrections(db: &Db, word: &str) -> Result<Vec<String>, DbError> {
    let near = store::near_words(db, word).await?;
    Ok(search::closest(word, near, search::MAX_CORRECTIONS))
}
