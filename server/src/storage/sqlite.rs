//! The SQLite backend: an embedded database file, the zero-configuration default.
//!
//! Writes are serialised: an in-process mutex, then `BEGIN IMMEDIATE` (which also guards
//! against a second process such as the admin CLI). The commit sequence is a counter row
//! bumped inside the commit's transaction, so sequence order is commit order and cursors are
//! safe without further locking. WAL journal, `synchronous = FULL`: a commit that returned
//! survives a crash. Districts are answered from an in-memory R-tree loaded at open and
//! rebuilt after each import (also one made by another process, such as the admin CLI:
//! each lookup compares a one-row stamp of the districts table with the index's).

use super::districts::{DistrictIndex, multipolygon_from_wkb, multipolygon_to_wkb};
use super::facts::DeriveFacts;
use super::*;
use geo::BoundingRect;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use sync_core::session::StoredChange;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The SQLite store. Cheap to clone (shared pool and index).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    facts: DeriveFacts,
    write: Arc<tokio::sync::Mutex<()>>,
    index: Arc<RwLock<Arc<IndexState>>>,
}

/// The district index and the table stamp it was built from (`COUNT(*)`,
/// `MAX(imported_at)`), so an import by another process (the admin CLI) is noticed.
#[derive(Debug, Default)]
struct IndexState {
    index: DistrictIndex,
    stamp: (i64, i64),
}

/// Classifies a database error from a write.
pub(crate) fn classify(e: sqlx::Error, what: &str) -> DbError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return DbError::Duplicate(what.to_owned());
        }
        if d.is_foreign_key_violation() {
            return DbError::NotFound(format!("a row {what} refers to"));
        }
        if d.is_check_violation() {
            return DbError::Invalid(format!("{what}: {}", d.message()));
        }
    }
    DbError::Sqlx(e)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path, facts: DeriveFacts) -> Result<SqliteStore, DbError> {
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
            facts,
            write: Arc::new(tokio::sync::Mutex::new(())),
            index: Arc::new(RwLock::new(Arc::new(IndexState::default()))),
        };
        store.reload_index().await?;
        Ok(store)
    }

    /// The connection pool (modules with their own tables, tests and tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(
        &self,
    ) -> Result<
        (
            tokio::sync::MutexGuard<'_, ()>,
            Transaction<'static, Sqlite>,
        ),
        DbError,
    > {
        let guard = self.write.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((guard, tx))
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
        let stamp = self.districts_stamp().await?;
        let all = self.districts().await?;
        let n = all.len();
        self.set_index(
            DistrictIndex::new(all.into_iter().map(|d| (d.code, d.geometry)).collect()),
            stamp,
        );
        Ok(n)
    }

    async fn districts_stamp(&self) -> Result<(i64, i64), DbError> {
        Ok(
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(imported_at), 0) FROM districts")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn commit_tx(&self, c: &DocCommit) -> Result<CommitOutcome, DbError> {
        if c.view.id != c.doc {
            return Err(DbError::Invalid(format!(
                "the view is of task {}, not {}",
                c.view.id, c.doc
            )));
        }
        let id = c.doc.as_str();
        let (_guard, mut tx) = self.begin_write().await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT seq FROM docs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        match (current, c.base_seq) {
            (None, None) => {}
            (Some(cur), Some(base)) if seq_u64(cur)? == base => {}
            _ => return Err(DbError::Conflict),
        }
        let old: Vec<String> =
            sqlx::query_scalar("SELECT scope FROM scope_entries WHERE doc = $1 AND present = 1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let (new, left, touched) = touched_scopes(&old, &c.scopes);
        let seq: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'commit_seq' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        let now = now_millis();
        sqlx::query(
            "INSERT INTO docs (id, seq, snapshot, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, snapshot = excluded.snapshot,
                                            updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(seq)
        .bind(&c.snapshot)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (i, change) in c.changes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO doc_changes (doc, seq, idx, origin, bytes) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(seq)
            .bind(i64::try_from(i).unwrap_or(i64::MAX))
            .bind(c.origin.as_str())
            .bind(change)
            .execute(&mut *tx)
            .await?;
        }
        for scope in &new {
            sqlx::query(
                "INSERT INTO scope_entries (scope, doc, seq, entered_seq, present)
                 VALUES ($1, $2, $3, $3, 1)
                 ON CONFLICT (scope, doc) DO UPDATE SET
                   seq = excluded.seq,
                   entered_seq = CASE WHEN scope_entries.present = 1
                                      THEN scope_entries.entered_seq ELSE excluded.entered_seq END,
                   present = 1",
            )
            .bind(scope)
            .bind(id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        for scope in &left {
            sqlx::query(
                "UPDATE scope_entries SET present = 0, seq = $1 WHERE scope = $2 AND doc = $3",
            )
            .bind(seq)
            .bind(scope)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        write_projection(&mut tx, &c.view, seq, now).await?;
        super::facts::write_sqlite(&mut tx, &(self.facts)(&c.view), now)
            .await
            .map_err(|e| classify(e, "task facts"))?;
        tx.commit().await?;
        Ok(CommitOutcome {
            seq: seq_u64(seq)?,
            touched: scope_ids(touched)?,
        })
    }

    async fn user_districts(&self, user_id: &str) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT district FROM user_districts WHERE user_id = $1 ORDER BY district",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn crew_skills(&self, crew: &str) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT service_code FROM crew_skills WHERE crew = $1 ORDER BY service_code",
        )
        .bind(crew)
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn write_projection(
    tx: &mut Transaction<'static, Sqlite>,
    view: &TaskView,
    seq: i64,
    now: Millis,
) -> Result<(), DbError> {
    let p = Projection::of(view);
    sqlx::query(
        "INSERT INTO tasks (id, seq, lat, lon, district, status, priority, assignee, category,
                            title, created_at, updated_at, ack_due, complete_due, completed_at,
                            last_event_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO UPDATE SET
           seq = excluded.seq, lat = excluded.lat, lon = excluded.lon,
           district = excluded.district, status = excluded.status, priority = excluded.priority,
           assignee = excluded.assignee, category = excluded.category, title = excluded.title,
           created_at = excluded.created_at, updated_at = excluded.updated_at,
           ack_due = excluded.ack_due, complete_due = excluded.complete_due,
           completed_at = excluded.completed_at, last_event_at = excluded.last_event_at",
    )
    .bind(view.id.as_str())
    .bind(seq)
    .bind(view.point.lat)
    .bind(view.point.lon)
    .bind(view.derived.district.as_deref())
    .bind(p.status)
    .bind(p.priority)
    .bind(view.derived.assignee.as_deref())
    .bind(&view.category)
    .bind(&view.title)
    .bind(view.created_at)
    .bind(now)
    .bind(view.sla.ack_due)
    .bind(view.sla.complete_due)
    .bind(view.derived.completed_at)
    .bind(p.last_event_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| classify(e, "task projection"))?;
    Ok(())
}

fn user_from_row(row: &SqliteRow, districts: Vec<String>) -> Result<UserRecord, DbError> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        password_hash: row.try_get("password_hash")?,
        role: UserRole::parse(&role)
            .ok_or_else(|| DbError::Corrupt(format!("unknown role {role:?}")))?,
        crew: row.try_get("crew")?,
        crew_district: row.try_get("crew_district")?,
        districts,
        disabled: row.try_get("disabled")?,
    })
}

fn service_from_row(row: &SqliteRow) -> Result<Service, DbError> {
    let p: String = row.try_get("default_priority")?;
    Ok(Service {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        group: row.try_get("grp")?,
        default_priority: Priority::parse(&p)
            .ok_or_else(|| DbError::Corrupt(format!("unknown priority {p:?}")))?,
        ack_minutes: row.try_get("ack_minutes")?,
        complete_minutes: row.try_get("complete_minutes")?,
    })
}

impl ServerStore for SqliteStore {
    async fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, ServerStoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, snapshot FROM docs WHERE id = $1")
                .bind(doc.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| DbError::from(e).into_store_error())?;
        row.map(|(seq, bytes)| {
            Ok(StoredDoc {
                bytes,
                seq: seq_u64(seq)?,
            })
        })
        .transpose()
        .map_err(DbError::into_store_error)
    }

    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, StoredDoc)>, ServerStoreError> {
        let mut out = Vec::with_capacity(docs.len());
        for chunk in docs.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
                "SELECT id, seq, snapshot FROM docs WHERE id IN (",
            );
            let mut sep = qb.separated(", ");
            for d in chunk {
                sep.push_bind(d.as_str());
            }
            qb.push(")");
            let rows: Vec<(String, i64, Vec<u8>)> = qb
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| DbError::from(e).into_store_error())?;
            for (id, seq, bytes) in rows {
                let id = doc_id(id).map_err(DbError::into_store_error)?;
                let seq = seq_u64(seq).map_err(DbError::into_store_error)?;
                out.push((id, StoredDoc { bytes, seq }));
            }
        }
        Ok(out)
    }

    /// Documents with their index rows, read from the task projection in the same query.
    async fn load_many_indexed(
        &self,
        docs: &[DocId],
    ) -> Result<Vec<(DocId, StoredDoc, Option<IndexEntry>)>, ServerStoreError> {
        let mut out = Vec::with_capacity(docs.len());
        for chunk in docs.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
                "SELECT d.id, d.seq, d.snapshot, t.seq AS task_seq, t.title, t.status,
                        t.priority, t.category, t.district, t.assignee, t.lat, t.lon,
                        t.last_event_at
                 FROM docs d LEFT JOIN tasks t ON t.id = d.id WHERE d.id IN (",
            );
            let mut sep = qb.separated(", ");
            for d in chunk {
                sep.push_bind(d.as_str());
            }
            qb.push(")");
            let rows: Vec<IndexedRow> = qb
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| DbError::from(e).into_store_error())?;
            for row in rows {
                out.push(row.into_parts().map_err(DbError::into_store_error)?);
            }
        }
        Ok(out)
    }

    async fn commit(&self, commit: DocCommit) -> Result<CommitOutcome, ServerStoreError> {
        self.commit_tx(&commit)
            .await
            .map_err(DbError::into_store_error)
    }

    async fn scope_entries(
        &self,
        scope: &ScopeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ScopeEntry>, ServerStoreError> {
        let run = async {
            let rows: Vec<(String, i64, i64, bool)> = sqlx::query_as(
                "SELECT doc, seq, entered_seq, present FROM scope_entries
                 WHERE scope = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(scope.as_str())
            .bind(seq_i64(after)?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(|(doc, seq, entered, present)| {
                    Ok(ScopeEntry {
                        doc: doc_id(doc)?,
                        seq: seq_u64(seq)?,
                        entered_seq: seq_u64(entered)?,
                        present,
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()
        };
        run.await.map_err(DbError::into_store_error)
    }

    async fn changes_since(
        &self,
        doc: &DocId,
        after: u64,
    ) -> Result<ChangesSince, ServerStoreError> {
        let run = async {
            let rows: Vec<ChangeRow> = sqlx::query_as(
                "SELECT d.compacted_before, c.seq, c.origin, c.bytes
                 FROM docs d LEFT JOIN doc_changes c ON c.doc = d.id AND c.seq > $1
                 WHERE d.id = $2 ORDER BY c.seq, c.idx",
            )
            .bind(seq_i64(after)?)
            .bind(doc.as_str())
            .fetch_all(&self.pool)
            .await?;
            changes_from_rows(after, rows)
        };
        run.await.map_err(DbError::into_store_error)
    }

    async fn doc_scopes(&self, doc: &DocId) -> Result<Vec<ScopeId>, ServerStoreError> {
        let run = async {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT scope FROM scope_entries WHERE doc = $1 AND present = 1 ORDER BY scope",
            )
            .bind(doc.as_str())
            .fetch_all(&self.pool)
            .await?;
            scope_ids(rows)
        };
        run.await.map_err(DbError::into_store_error)
    }
}

/// Builds a [`ChangesSince`] from `(compacted_before, seq, origin, bytes)` rows of a
/// left join (no rows: unknown document, nothing to send).
pub(crate) fn changes_from_rows(after: u64, rows: Vec<ChangeRow>) -> Result<ChangesSince, DbError> {
    let Some(first) = rows.first() else {
        return Ok(ChangesSince::Changes(Vec::new()));
    };
    if after < seq_u64(first.0)? {
        return Ok(ChangesSince::Compacted);
    }
    let mut out = Vec::with_capacity(rows.len());
    for (_, seq, origin, bytes) in rows {
        if let (Some(seq), Some(origin), Some(bytes)) = (seq, origin, bytes) {
            out.push(StoredChange {
                seq: seq_u64(seq)?,
                origin: DeviceId::new(origin).map_err(|e| DbError::Corrupt(e.to_string()))?,
                bytes,
            });
        }
    }
    Ok(ChangesSince::Changes(out))
}

impl DocStore for SqliteStore {
    async fn compact(&self, doc: &DocId, keep_commits: usize) -> Result<CompactOutcome, DbError> {
        let id = doc.as_str();
        let (_guard, mut tx) = self.begin_write().await?;
        let marker: i64 = sqlx::query_scalar("SELECT compacted_before FROM docs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("document {id}")))?;
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT seq FROM doc_changes WHERE doc = $1 ORDER BY seq DESC",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let Some(&cutoff) = seqs.get(keep_commits) else {
            return Ok(CompactOutcome {
                dropped: 0,
                compacted_before: seq_u64(marker)?,
            });
        };
        let dropped = sqlx::query("DELETE FROM doc_changes WHERE doc = $1 AND seq <= $2")
            .bind(id)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let marker = marker.max(cutoff);
        sqlx::query("UPDATE docs SET compacted_before = $1 WHERE id = $2")
            .bind(marker)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(CompactOutcome {
            dropped,
            compacted_before: seq_u64(marker)?,
        })
    }

    async fn task_row(&self, doc: &DocId) -> Result<Option<TaskRow>, DbError> {
        let row = sqlx::query(
            "SELECT id, seq, lat, lon, district, status, priority, assignee, category, title,
                    created_at, updated_at, ack_due, complete_due, completed_at
             FROM tasks WHERE id = $1",
        )
        .bind(doc.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(TaskRow {
                id: doc_id(r.try_get("id")?)?,
                seq: seq_u64(r.try_get("seq")?)?,
                lat: r.try_get("lat")?,
                lon: r.try_get("lon")?,
                district: r.try_get("district")?,
                status: r.try_get("status")?,
                priority: r.try_get("priority")?,
                assignee: r.try_get("assignee")?,
                category: r.try_get("category")?,
                title: r.try_get("title")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                ack_due: r.try_get("ack_due")?,
                complete_due: r.try_get("complete_due")?,
                completed_at: r.try_get("completed_at")?,
            })
        })
        .transpose()
    }

    async fn count_docs(&self) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM docs")
            .fetch_one(&self.pool)
            .await?;
        seq_u64(n)
    }
}

impl DistrictStore for SqliteStore {
    async fn import_districts(&self, districts: &[District]) -> Result<ImportOutcome, DbError> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        for d in districts {
            let wkb = multipolygon_to_wkb(&d.geometry).map_err(DbError::Invalid)?;
            let r = d
                .geometry
                .bounding_rect()
                .ok_or_else(|| DbError::Invalid(format!("district {} is empty", d.code)))?;
            sqlx::query(
                "INSERT INTO districts (code, name, region, wkb, min_lon, min_lat, max_lon, max_lat, imported_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, region = excluded.region,
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
            .execute(&mut *tx)
            .await?;
        }
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT code, wkb FROM districts ORDER BY code")
                .fetch_all(&mut *tx)
                .await?;
        let all = rows
            .into_iter()
            .map(|(code, wkb)| Ok((code, multipolygon_from_wkb(&wkb).map_err(DbError::Corrupt)?)))
            .collect::<Result<Vec<_>, DbError>>()?;
        let stamp = (i64::try_from(all.len()).unwrap_or(i64::MAX), now);
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

    async fn districts(&self) -> Result<Vec<StoredDistrict>, DbError> {
        let rows: Vec<(String, String, Option<String>, Vec<u8>)> =
            sqlx::query_as("SELECT code, name, region, wkb FROM districts ORDER BY code")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(code, name, region, wkb)| {
                Ok(StoredDistrict {
                    geometry: multipolygon_from_wkb(&wkb).map_err(DbError::Corrupt)?,
                    code,
                    name,
                    region,
                })
            })
            .collect()
    }

    async fn district_covering(&self, lat: f64, lon: f64) -> Result<Option<String>, DbError> {
        let mut state = self.current_index();
        // Another process (the admin CLI) may have imported districts: one tiny query.
        if self.districts_stamp().await? != state.stamp {
            self.reload_index().await?;
            state = self.current_index();
        }
        Ok(state.index.covering(lat, lon).map(str::to_owned))
    }

    async fn neighbours(&self, code: &str) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT b FROM district_adjacency WHERE a = $1
             UNION SELECT a FROM district_adjacency WHERE b = $1 ORDER BY 1",
        )
        .bind(code)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl IdentityStore for SqliteStore {
    async fn upsert_crew(&self, crew: &Crew) -> Result<(), DbError> {
        check_crew(crew)?;
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO crews (id, name, district, contractor, on_duty) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, district = excluded.district,
               contractor = excluded.contractor, on_duty = excluded.on_duty",
        )
        .bind(&crew.id)
        .bind(&crew.name)
        .bind(&crew.district)
        .bind(crew.contractor.as_deref())
        .bind(crew.on_duty)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "crew"))?;
        sqlx::query("DELETE FROM crew_skills WHERE crew = $1")
            .bind(&crew.id)
            .execute(&mut *tx)
            .await?;
        for s in &crew.skills {
            sqlx::query(
                "INSERT INTO crew_skills (crew, service_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&crew.id)
            .bind(s)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn crew(&self, id: &str) -> Result<Option<Crew>, DbError> {
        let row: Option<(String, String, String, Option<String>, bool)> = sqlx::query_as(
            "SELECT id, name, district, contractor, on_duty FROM crews WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some((id, name, district, contractor, on_duty)) => Ok(Some(Crew {
                skills: self.crew_skills(&id).await?,
                id,
                name,
                district,
                contractor,
                on_duty,
            })),
        }
    }

    async fn crews(&self) -> Result<Vec<Crew>, DbError> {
        let rows: Vec<(String, String, String, Option<String>, bool)> =
            sqlx::query_as("SELECT id, name, district, contractor, on_duty FROM crews ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        let skills: Vec<(String, String)> = sqlx::query_as(
            "SELECT crew, service_code FROM crew_skills ORDER BY crew, service_code",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, district, contractor, on_duty)| Crew {
                skills: skills
                    .iter()
                    .filter(|(c, _)| *c == id)
                    .map(|(_, s)| s.clone())
                    .collect(),
                id,
                name,
                district,
                contractor,
                on_duty,
            })
            .collect())
    }

    async fn create_user(&self, user: &NewUser) -> Result<(), DbError> {
        check_user(user)?;
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, login, password_hash, role, crew, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.login)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.crew.as_deref())
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| match classify(e, &format!("user {}", user.login)) {
            DbError::NotFound(_) => {
                DbError::NotFound(format!("crew {}", user.crew.as_deref().unwrap_or("")))
            }
            other => other,
        })?;
        for d in &user.districts {
            sqlx::query(
                "INSERT INTO user_districts (user_id, district) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&user.id)
            .bind(d)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, DbError> {
        let row = sqlx::query(
            "SELECT u.id, u.login, u.password_hash, u.role, u.crew, u.disabled,
                    c.district AS crew_district
             FROM users u LEFT JOIN crews c ON c.id = u.crew WHERE u.login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let id: String = r.try_get("id")?;
                let districts = self.user_districts(&id).await?;
                Ok(Some(user_from_row(&r, districts)?))
            }
        }
    }

    async fn count_users(&self) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        seq_u64(n)
    }

    async fn register_device(
        &self,
        device: &DeviceId,
        user_id: &str,
        at: Millis,
    ) -> Result<(), DbError> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO devices (id, user_id, registered_at, last_login_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id,
                                            last_login_at = excluded.last_login_at",
        )
        .bind(device.as_str())
        .bind(user_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "device"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        device: &DeviceId,
        created_at: Millis,
        expires_at: Millis,
    ) -> Result<(), DbError> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, device_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(device.as_str())
        .bind(created_at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "token"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, DbError> {
        let row = sqlx::query(
            "SELECT t.device_id, t.expires_at, t.revoked_at,
                    u.id, u.login, u.password_hash, u.role, u.crew, u.disabled,
                    c.district AS crew_district
             FROM auth_tokens t JOIN users u ON u.id = t.user_id
             LEFT JOIN crews c ON c.id = u.crew
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let id: String = r.try_get("id")?;
        let districts = self.user_districts(&id).await?;
        let device: String = r.try_get("device_id")?;
        Ok(Some(TokenRecord {
            user: user_from_row(&r, districts)?,
            device: DeviceId::new(device).map_err(|e| DbError::Corrupt(e.to_string()))?,
            expires_at: r.try_get("expires_at")?,
            revoked_at: r.try_get("revoked_at")?,
        }))
    }

    async fn revoke_token(&self, token_hash: &[u8], at: Millis) -> Result<bool, DbError> {
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn revoke_user_tokens(&self, user_id: &str, at: Millis) -> Result<u64, DbError> {
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    async fn upsert_service(&self, s: &Service) -> Result<(), DbError> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO services (code, name, description, grp, default_priority, ack_minutes, complete_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, description = excluded.description,
               grp = excluded.grp, default_priority = excluded.default_priority,
               ack_minutes = excluded.ack_minutes, complete_minutes = excluded.complete_minutes",
        )
        .bind(&s.code)
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.group)
        .bind(s.default_priority.as_str())
        .bind(s.ack_minutes)
        .bind(s.complete_minutes)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "service"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn services(&self) -> Result<Vec<Service>, DbError> {
        let rows = sqlx::query(
            "SELECT code, name, description, grp, default_priority, ack_minutes, complete_minutes
             FROM services ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(service_from_row).collect()
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
    async fn migrate(&self) -> Result<(), DbError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
    async fn close(&self) {
        self.pool.close().await;
    }
}
