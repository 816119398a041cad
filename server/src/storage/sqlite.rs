//! The SQLite backend, an embedded database file and the zero-configuration default: the
//! connection, the writer lock, the district index, and the pieces of SQL in which it
//! differs from PostgreSQL.
//!
//! Writes are serialised: an in-process mutex, then `BEGIN IMMEDIATE` (which also guards
//! against a second process such as the admin CLI); every write of the store takes it
//! (`Db::begin_write`). The commit sequence is a counter row bumped inside the commit's
//! transaction (`CommitSteps::draw_seq`), so sequence order is commit order and
//! cursors are safe without further locking. WAL journal, `synchronous = FULL`: a commit
//! that returned survives a crash. Districts are answered from an in-memory R-tree loaded
//! at open and rebuilt after each import (also one made by another process, such as the
//! admin CLI: each lookup compares a one-row stamp of the districts table with the
//! index's).

use super::districts::{
    District, DistrictIndex, ImportOutcome, multipolygon_from_wkb, multipolygon_to_wkb,
};
use super::docs::{CommitRows, CommitSteps, count_i64, enter_scopes_sql};
use super::facts::{DeriveFacts, Fact};
use super::outbox::CommitHooks;
use super::{DbError, Dialect, Tx};
use geo::BoundingRect;
use geo_types::MultiPolygon;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor, Transaction};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use sync_core::{DocId, Millis};
use tokio::sync::OwnedMutexGuard;

/// Kept under this path for the modules that classify their write errors through it.
pub(crate) use super::classify;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// SQLite's SQL fragments.
pub(super) const DIALECT: Dialect = Dialect {
    // The writer lock is held: no row lock needed (and SQLite has none).
    row_lock: "",
    point_columns: "lat, lon",
    point_values: "$3, $4",
    point_update: "lat = excluded.lat, lon = excluded.lon",
    point_select: "t.lat, t.lon",
    district_wkb: "wkb",
};

/// How many ids one `IN (…)` list binds (SQLite caps a statement's parameters).
const IDS_PER_QUERY: usize = 500;

/// The SQLite store. Cheap to clone (shared pool, writer lock and index).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    hooks: CommitHooks,
    write: Arc<tokio::sync::Mutex<()>>,
    index: Arc<RwLock<Arc<IndexState>>>,
    catalogue: super::catalogue::Catalogue,
    outbox_nudge: Arc<tokio::sync::Notify>,
}

/// The district index and the table stamp it was built from (`COUNT(*)`,
/// `MAX(imported_at)`), so an import by another process (the admin CLI) is noticed.
#[derive(Debug, Default)]
struct IndexState {
    index: DistrictIndex,
    stamp: (i64, i64),
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path, hooks: CommitHooks) -> Result<SqliteStore, DbError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        let store = SqliteStore {
            pool,
            hooks,
            write: Arc::new(tokio::sync::Mutex::new(())),
            index: Arc::new(RwLock::new(Arc::new(IndexState::default()))),
            catalogue: super::catalogue::Catalogue::default(),
            outbox_nudge: Arc::default(),
        };
        store.reload_index().await?;
        Ok(store)
    }

    /// The connection pool (modules with their own tables, tests and tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(super) fn facts(&self) -> DeriveFacts {
        self.hooks.facts
    }

    pub(super) fn hooks(&self) -> CommitHooks {
        self.hooks
    }

    pub(super) fn catalogue(&self) -> &super::catalogue::Catalogue {
        &self.catalogue
    }

    pub(super) fn outbox_nudge(&self) -> &Arc<tokio::sync::Notify> {
        &self.outbox_nudge
    }

    /// Becomes the one writer: the in-process lock, then `BEGIN IMMEDIATE`. The lock must
    /// outlive the transaction.
    async fn writer(&self) -> Result<(Transaction<'static, Sqlite>, OwnedMutexGuard<()>), DbError> {
        let writer = Arc::clone(&self.write).lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((tx, writer))
    }

    /// A write transaction of the one writer.
    pub(super) async fn begin_write(&self) -> Result<Tx, DbError> {
        let (tx, writer) = self.writer().await?;
        Ok(Tx::Sqlite(tx, writer))
    }

    fn current_index(&self) -> Arc<IndexState> {
        match self.index.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn set_index(&self, index: DistrictIndex, stamp: (i64, i64)) {
        let idx = Arc::new(IndexState { index, stamp });
        match self.index.write() {
            Ok(mut g) => *g = idx,
            Err(poisoned) => *poisoned.into_inner() = idx,
        }
    }

    /// Reloads the in-memory district index from the table.
    pub async fn reload_index(&self) -> Result<usize, DbError> {
        let stamp = districts_stamp(&self.pool).await?;
        let all = boundaries(&self.pool).await?;
        let n = all.len();
        self.set_index(DistrictIndex::new(all), stamp);
        Ok(n)
    }

    /// Inserts or replaces districts with their bounding boxes, then recomputes adjacency
    /// from a new index over all districts, which replaces the current one once committed.
    pub(super) async fn import_districts(
        &self,
        districts: &[District],
    ) -> Result<ImportOutcome, DbError> {
        let now = crate::base::time::now_millis();
        let (mut tx, _writer) = self.writer().await?;
        for d in districts {
            let wkb = multipolygon_to_wkb(&d.geometry).map_err(DbError::Invalid)?;
            let r = d
                .geometry
                .bounding_rect()
                .ok_or_else(|| DbError::Invalid(format!("district {} is empty", d.code)))?;
            sqlx::query(
                "INSERT INTO districts (code, name, region, wkb, min_lon, min_lat, max_lon, max_lat,
                                       imported_at, name_en)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, region = excluded.region,
                   name_en = excluded.name_en,
                   wkb = excluded.wkb, min_lon = excluded.min_lon, min_lat = excluded.min_lat,
                   max_lon = excluded.max_lon, max_lat = excluded.max_lat,
                   imported_at = excluded.imported_at",
            )
            .bind(&d.code)
            .bind(&d.name)
            .bind(d.region.as_deref())
            .bind(wkb)
            .bind(r.min().x)
            .bind(r.min().y)
            .bind(r.max().x)
            .bind(r.max().y)
            .bind(now)
            .bind(d.name_en.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        let all = boundaries(&mut *tx).await?;
        let stamp = (count_i64(all.len()), now);
        let index = DistrictIndex::new(all);
        let pairs = index.adjacency();
        sqlx::query("DELETE FROM district_adjacency")
            .execute(&mut *tx)
            .await?;
        for (a, b) in &pairs {
            sqlx::query("INSERT INTO district_adjacency (a, b) VALUES ($1, $2)")
                .bind(a)
                .bind(b)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.set_index(index, stamp);
        Ok(ImportOutcome {
            districts: districts.len(),
            adjacent_pairs: pairs.len(),
        })
    }

    /// The lowest code of the districts covering the point, from the index.
    pub(super) async fn district_covering(
        &self,
        lat: f64,
        lon: f64,
    ) -> Result<Option<String>, DbError> {
        let mut state = self.current_index();
        // Another process (the admin CLI) may have imported districts: one tiny query.
        if districts_stamp(&self.pool).await? != state.stamp {
            self.reload_index().await?;
            state = self.current_index();
        }
        Ok(state.index.covering(lat, lon).map(str::to_owned))
    }

    /// [`Self::district_covering`] of many points, with one check of the index's stamp
    /// (an import of places asks for thousands at a time).
    pub(super) async fn districts_covering(
        &self,
        points: impl Iterator<Item = (f64, f64)>,
    ) -> Result<Vec<Option<String>>, DbError> {
        let mut state = self.current_index();
        if districts_stamp(&self.pool).await? != state.stamp {
            self.reload_index().await?;
            state = self.current_index();
        }
        Ok(points
            .map(|(lat, lon)| state.index.covering(lat, lon).map(str::to_owned))
            .collect())
    }
}

/// The stamp of the districts table the index is checked against.
async fn districts_stamp(conn: impl SqliteExecutor<'_>) -> Result<(i64, i64), DbError> {
    Ok(
        sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(imported_at), 0) FROM districts")
            .fetch_one(conn)
            .await?,
    )
}

/// Every district's boundary, by code, for the index.
async fn boundaries(
    conn: impl SqliteExecutor<'_>,
) -> Result<Vec<(String, MultiPolygon<f64>)>, DbError> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT code, wkb FROM districts ORDER BY code")
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|(code, wkb)| Ok((code, multipolygon_from_wkb(&wkb).map_err(DbError::Corrupt)?)))
        .collect()
}

/// The rows of `select` (ending in `WHERE <id column>`) for `ids`, with `IN` lists of at
/// most [`IDS_PER_QUERY`] parameters (SQLite binds no arrays).
pub(super) async fn fetch_by_ids<T>(
    pool: &SqlitePool,
    select: &str,
    ids: &[DocId],
) -> Result<Vec<T>, DbError>
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
{
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut qb = QueryBuilder::<Sqlite>::new(select);
        qb.push(" IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str());
        }
        qb.push(")");
        out.extend(qb.build_query_as::<T>().fetch_all(pool).await?);
    }
    Ok(out)
}

impl CommitSteps for SqliteConnection {
    /// The counter row, bumped under the writer lock: numbers are drawn in commit order.
    async fn draw_seq(&mut self, _touched: &[String]) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'commit_seq' RETURNING value",
        )
        .fetch_one(self)
        .await?)
    }

    /// A statement per row: SQLite binds no arrays.
    async fn write_rows(&mut self, rows: &CommitRows<'_>) -> Result<(), DbError> {
        for (i, change) in rows.changes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO doc_changes (doc, seq, idx, origin, bytes) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(rows.doc)
            .bind(rows.seq)
            .bind(count_i64(i))
            .bind(rows.origin)
            .bind(change)
            .execute(&mut *self)
            .await?;
        }
        let enter = enter_scopes_sql("VALUES ($1, $2, $3, $3, TRUE)");
        for scope in rows.new {
            sqlx::query(&enter)
                .bind(scope)
                .bind(rows.doc)
                .bind(rows.seq)
                .execute(&mut *self)
                .await?;
        }
        for scope in rows.left {
            sqlx::query(
                "UPDATE scope_entries SET present = FALSE, seq = $1 WHERE doc = $2 AND scope = $3",
            )
            .bind(rows.seq)
            .bind(rows.doc)
            .bind(scope)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }

    async fn write_facts(&mut self, fact: &Fact, now: Millis) -> Result<(), sqlx::Error> {
        super::facts::write_sqlite(self, fact, now).await
    }
}
