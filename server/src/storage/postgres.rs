//! The PostgreSQL + PostGIS backend, for several server replicas sharing one database: the
//! connection, and the pieces of SQL in which it differs from SQLite.
//!
//! **Cursor safety** (invariant 4 of [`ServerStore`](sync_core::session::ServerStore)): a
//! commit, in one transaction,
//! 1. locks its document row (`SELECT … FOR UPDATE`, the row lock of its `Dialect`) and
//!    checks the compare-and-swap;
//! 2. makes sure every scope it touches has a row in `scope_heads`, then locks those rows
//!    with `SELECT … ORDER BY scope FOR UPDATE` (a deterministic order: no deadlocks);
//! 3. only then draws `nextval('commit_seq')` (`CommitSteps::draw_seq`).
//!
//! Two commits touching a common scope therefore draw their numbers one after the other,
//! the first committing (or aborting) before the second can draw: once a reader sees
//! sequence `s` in a scope, every smaller sequence of that scope is already visible.
//!
//! Districts are `geometry(MultiPolygon, 4326)` with a GiST index, looked up from the
//! catalogue cache's in-memory index (or with `ST_Covers` while it is off; the boundary
//! counts and the lowest code wins on a shared border either way); tasks'
//! points are `geometry(Point, 4326)` with a GiST index.

use super::districts::{
    District, DistrictIndex, ImportOutcome, multipolygon_from_wkb, multipolygon_to_wkb,
};
use super::docs::{CommitRows, CommitSteps, enter_scopes_sql};
use super::facts::{DeriveFacts, Fact};
use super::outbox::CommitHooks;
use super::{DbError, Dialect, classify};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use sync_core::{DocId, Millis};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// PostgreSQL's SQL fragments.
pub(super) const DIALECT: Dialect = Dialect {
    // Step 1 above: concurrent commits of one document queue on its row.
    row_lock: " FOR UPDATE",
    point_columns: "geom",
    point_values: "ST_SetSRID(ST_MakePoint($4, $3), 4326)",
    point_update: "geom = excluded.geom",
    point_select: "ST_Y(t.geom) AS lat, ST_X(t.geom) AS lon",
    district_wkb: "ST_AsBinary(geom)",
};

/// Connections the pool opens at start and keeps open however quiet it gets.
pub const WARM_CONNECTIONS: u32 = 4;

/// Loads PostGIS's library into a new connection's backend by calling one of its C
/// functions; nothing before the first migration has created the extension.
const LOAD_POSTGIS: &str = "DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis') THEN
        PERFORM postgis_lib_version();
    END IF;
END $$";

/// The PostgreSQL store. Cheap to clone (shared pool).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    hooks: CommitHooks,
    catalogue: super::catalogue::Catalogue,
    outbox_nudge: Arc<tokio::sync::Notify>,
}

impl PgStore {
    /// Connects and runs the migrations.
    pub async fn connect(url: &str, hooks: CommitHooks) -> Result<PgStore, DbError> {
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // An urgent report must not open a connection on its own path after a quiet
            // spell: sqlx closes connections idle for ten minutes, down to this many.
            .min_connections(WARM_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            // Loading PostGIS's library costs a new backend 12–15 ms on its first use of a
            // PostGIS function (BENCHMARKS.md, "The PostgreSQL tail profiled"): paid here,
            // off the request path, and again for every connection sqlx recycles.
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, LOAD_POSTGIS).await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore {
            pool,
            hooks,
            catalogue: super::catalogue::Catalogue::default(),
            outbox_nudge: Arc::default(),
        })
    }

    /// The connection pool (tests and tools).
    pub fn pool(&self) -> &PgPool {
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

    /// Inserts or replaces districts and recomputes adjacency with PostGIS, one import at
    /// a time (adjacency is recomputed over all districts).
    pub(super) async fn import_districts(
        &self,
        districts: &[District],
    ) -> Result<ImportOutcome, DbError> {
        let now = crate::base::time::now_millis();
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7261001)")
            .execute(&mut *tx)
            .await?;
        for d in districts {
            let wkb = multipolygon_to_wkb(&d.geometry).map_err(DbError::Invalid)?;
            sqlx::query(
                "INSERT INTO districts (code, name, region, geom, imported_at, name_en)
                 VALUES ($1, $2, $3, ST_Multi(ST_SetSRID(ST_GeomFromWKB($4), 4326)), $5, $6)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, region = excluded.region,
                   name_en = excluded.name_en,
                   geom = excluded.geom, imported_at = excluded.imported_at",
            )
            .bind(&d.code)
            .bind(&d.name)
            .bind(d.region.as_deref())
            .bind(wkb)
            .bind(now)
            .bind(d.name_en.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| classify(e, &format!("district {}", d.code)))?;
        }
        sqlx::query("DELETE FROM district_adjacency")
            .execute(&mut *tx)
            .await?;
        let pairs = sqlx::query(
            "INSERT INTO district_adjacency (a, b)
             SELECT x.code, y.code FROM districts x JOIN districts y
               ON x.code < y.code AND x.geom && y.geom AND ST_Intersects(x.geom, y.geom)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        // This process routes with the new boundaries at once (the others when they hear
        // the trigger's `NOTIFY`).
        self.catalogue.invalidate();
        Ok(ImportOutcome {
            districts: districts.len(),
            adjacent_pairs: usize::try_from(pairs).unwrap_or(usize::MAX),
        })
    }

    /// The lowest code of the districts whose geometry covers the point: from the
    /// in-memory index of the catalogue cache while a listening connection keeps it true
    /// (no round trip), else with PostGIS `ST_Covers`. Both count the boundary and give
    /// the lowest code on a shared border.
    pub(super) async fn district_covering(
        &self,
        lat: f64,
        lon: f64,
    ) -> Result<Option<String>, DbError> {
        use super::catalogue::Lookup;
        let index = match self.catalogue.lookup(None, |s| s.districts.clone()) {
            Lookup::Hit(index) => index,
            Lookup::Miss(generation) => {
                let index = Arc::new(self.district_index().await?);
                let kept = Arc::clone(&index);
                self.catalogue
                    .install(generation, |s| s.districts = Some(kept));
                index
            }
            Lookup::Bypass => {
                return Ok(sqlx::query_scalar(
                    "SELECT code FROM districts
                     WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
                     ORDER BY code LIMIT 1",
                )
                .bind(lon)
                .bind(lat)
                .fetch_optional(&self.pool)
                .await?);
            }
        };
        Ok(index.covering(lat, lon).map(str::to_owned))
    }

    /// Every district's boundary, indexed.
    async fn district_index(&self) -> Result<DistrictIndex, DbError> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT code, ST_AsBinary(geom) FROM districts ORDER BY code")
                .fetch_all(&self.pool)
                .await?;
        let all = rows
            .into_iter()
            .map(|(code, wkb)| Ok((code, multipolygon_from_wkb(&wkb).map_err(DbError::Corrupt)?)))
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(DistrictIndex::new(all))
    }
}

/// The rows of `select` (ending in `WHERE <id column>`) for `ids`, with one array
/// parameter.
pub(super) async fn fetch_by_ids<T>(
    pool: &PgPool,
    select: &str,
    ids: &[DocId],
) -> Result<Vec<T>, DbError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let ids: Vec<&str> = ids.iter().map(DocId::as_str).collect();
    Ok(sqlx::query_as(&format!("{select} = ANY($1)"))
        .bind(&ids)
        .fetch_all(pool)
        .await?)
}

impl CommitSteps for PgConnection {
    /// Steps 2 and 3 of the module's cursor-safety protocol.
    async fn draw_seq(&mut self, touched: &[String]) -> Result<i64, DbError> {
        // Two round trips (issue 21): the heads are created or locked in scope order by
        // one upsert (`DO UPDATE` locks an existing row as `FOR UPDATE` would), then the
        // number is drawn under those locks and written to them in one statement.
        if !touched.is_empty() {
            sqlx::query(
                "INSERT INTO scope_heads (scope)
                 SELECT s FROM unnest($1::text[]) AS s ORDER BY s
                 ON CONFLICT (scope) DO UPDATE SET head_seq = scope_heads.head_seq",
            )
            .bind(touched)
            .execute(&mut *self)
            .await?;
        }
        let seq: i64 = sqlx::query_scalar(
            "WITH n AS (SELECT nextval('commit_seq') AS v),
                  heads AS (UPDATE scope_heads SET head_seq = n.v FROM n WHERE scope = ANY($1))
             SELECT v FROM n",
        )
        .bind(touched)
        .fetch_one(&mut *self)
        .await?;
        Ok(seq)
    }

    /// One statement each, over arrays.
    async fn write_rows(&mut self, rows: &CommitRows<'_>) -> Result<(), DbError> {
        if !rows.changes.is_empty() {
            sqlx::query(
                "INSERT INTO doc_changes (doc, seq, idx, origin, bytes)
                 SELECT $1, $2, t.i - 1, $3, t.b
                 FROM unnest($4::bytea[]) WITH ORDINALITY AS t(b, i)",
            )
            .bind(rows.doc)
            .bind(rows.seq)
            .bind(rows.origin)
            .bind(rows.changes)
            .execute(&mut *self)
            .await?;
        }
        if !rows.new.is_empty() {
            sqlx::query(&enter_scopes_sql(
                "SELECT s, $2, $3, $3, TRUE FROM unnest($1::text[]) AS s",
            ))
            .bind(rows.new)
            .bind(rows.doc)
            .bind(rows.seq)
            .execute(&mut *self)
            .await?;
        }
        if !rows.left.is_empty() {
            sqlx::query(
                "UPDATE scope_entries SET present = FALSE, seq = $1
                 WHERE doc = $2 AND scope = ANY($3)",
            )
            .bind(rows.seq)
            .bind(rows.doc)
            .bind(rows.left)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }

    async fn write_facts(&mut self, fact: &Fact, now: Millis) -> Result<(), sqlx::Error> {
        super::facts::write_postgres(self, fact, now).await
    }
}
