//! The PostgreSQL + PostGIS backend, for several server replicas sharing one database.
//!
//! **Cursor safety** (invariant 4 of [`ServerStore`]): a commit, in one transaction,
//! 1. locks its document row (`SELECT … FOR UPDATE`) and checks the compare-and-swap;
//! 2. makes sure every scope it touches has a row in `scope_heads`, then locks those rows
//!    with `SELECT … ORDER BY scope FOR UPDATE` (a deterministic order: no deadlocks);
//! 3. only then draws `nextval('commit_seq')`.
//!
//! Two commits touching a common scope therefore draw their numbers one after the other,
//! the first committing (or aborting) before the second can draw: once a reader sees
//! sequence `s` in a scope, every smaller sequence of that scope is already visible.
//!
//! Districts are `geometry(MultiPolygon, 4326)` with a GiST index, looked up with
//! `ST_Covers` (the boundary counts; lowest code wins on a shared border); tasks'
//! points are `geometry(Point, 4326)` with a GiST index.

use super::districts::{multipolygon_from_wkb, multipolygon_to_wkb};
use super::facts::DeriveFacts;
use super::*;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The PostgreSQL store. Cheap to clone (shared pool).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    facts: DeriveFacts,
}

use super::sqlite::{changes_from_rows, classify};

/// A crew row with its skills aggregated.
type CrewRow = (String, String, String, Option<String>, bool, Vec<String>);

impl PgStore {
    /// Connects and runs the migrations.
    pub async fn connect(url: &str, facts: DeriveFacts) -> Result<PgStore, DbError> {
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool, facts })
    }

    /// The connection pool (tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn commit_tx(&self, c: &DocCommit) -> Result<CommitOutcome, DbError> {
        if c.view.id != c.doc {
            return Err(DbError::Invalid(format!(
                "the view is of task {}, not {}",
                c.view.id, c.doc
            )));
        }
        let id = c.doc.as_str();
        let mut tx = self.pool.begin().await?;
        // 1. The document row, locked, and the compare-and-swap.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM docs WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        match (current, c.base_seq) {
            (None, None) => {}
            (Some(cur), Some(base)) if seq_u64(cur)? == base => {}
            _ => return Err(DbError::Conflict),
        }
        let old: Vec<String> =
            sqlx::query_scalar("SELECT scope FROM scope_entries WHERE doc = $1 AND present")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let (new, left, touched) = touched_scopes(&old, &c.scopes);
        // 2. Lock the touched scopes' heads, in scope order.
        if !touched.is_empty() {
            sqlx::query(
                "INSERT INTO scope_heads (scope)
                 SELECT s FROM unnest($1::text[]) AS s ORDER BY s
                 ON CONFLICT (scope) DO NOTHING",
            )
            .bind(&touched)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "SELECT scope FROM scope_heads WHERE scope = ANY($1) ORDER BY scope FOR UPDATE",
            )
            .bind(&touched)
            .fetch_all(&mut *tx)
            .await?;
        }
        // 3. Only now the sequence number.
        let seq: i64 = sqlx::query_scalar("SELECT nextval('commit_seq')")
            .fetch_one(&mut *tx)
            .await?;
        if !touched.is_empty() {
            sqlx::query("UPDATE scope_heads SET head_seq = $1 WHERE scope = ANY($2)")
                .bind(seq)
                .bind(&touched)
                .execute(&mut *tx)
                .await?;
        }
        let now = now_millis();
        if current.is_some() {
            sqlx::query("UPDATE docs SET seq = $2, snapshot = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(seq)
                .bind(&c.snapshot)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO docs (id, seq, snapshot, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id)
            .bind(seq)
            .bind(&c.snapshot)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match classify(e, "document") {
                // Created concurrently by another commit: the session reloads and retries.
                DbError::Duplicate(_) => DbError::Conflict,
                other => other,
            })?;
        }
        if !c.changes.is_empty() {
            sqlx::query(
                "INSERT INTO doc_changes (doc, seq, idx, origin, bytes)
                 SELECT $1, $2, t.i - 1, $3, t.b FROM unnest($4::bytea[]) WITH ORDINALITY AS t(b, i)",
            )
            .bind(id)
            .bind(seq)
            .bind(c.origin.as_str())
            .bind(&c.changes)
            .execute(&mut *tx)
            .await?;
        }
        if !new.is_empty() {
            sqlx::query(
                "INSERT INTO scope_entries (scope, doc, seq, entered_seq, present)
                 SELECT s, $2, $3, $3, TRUE FROM unnest($1::text[]) AS s
                 ON CONFLICT (scope, doc) DO UPDATE SET
                   seq = excluded.seq,
                   entered_seq = CASE WHEN scope_entries.present
                                      THEN scope_entries.entered_seq ELSE excluded.entered_seq END,
                   present = TRUE",
            )
            .bind(&new)
            .bind(id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        if !left.is_empty() {
            sqlx::query(
                "UPDATE scope_entries SET present = FALSE, seq = $1
                 WHERE doc = $2 AND scope = ANY($3)",
            )
            .bind(seq)
            .bind(id)
            .bind(&left)
            .execute(&mut *tx)
            .await?;
        }
        write_projection(&mut tx, &c.view, seq, now).await?;
        super::facts::write_postgres(&mut tx, &(self.facts)(&c.view), now)
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
}

async fn write_projection(
    tx: &mut Transaction<'static, Postgres>,
    view: &TaskView,
    seq: i64,
    now: Millis,
) -> Result<(), DbError> {
    let p = Projection::of(view);
    sqlx::query(
        "INSERT INTO tasks (id, seq, geom, district, status, priority, assignee, category,
                            title, created_at, updated_at, ack_due, complete_due, completed_at,
                            last_event_at)
         VALUES ($1, $2, ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, $7, $8, $9, $10,
                 $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO UPDATE SET
           seq = excluded.seq, geom = excluded.geom,
           district = excluded.district, status = excluded.status, priority = excluded.priority,
           assignee = excluded.assignee, category = excluded.category, title = excluded.title,
           created_at = excluded.created_at, updated_at = excluded.updated_at,
           ack_due = excluded.ack_due, complete_due = excluded.complete_due,
           completed_at = excluded.completed_at, last_event_at = excluded.last_event_at",
    )
    .bind(view.id.as_str())
    .bind(seq)
    .bind(view.point.lon)
    .bind(view.point.lat)
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

fn user_from_row(row: &PgRow, districts: Vec<String>) -> Result<UserRecord, DbError> {
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

impl ServerStore for PgStore {
    async fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, ServerStoreError> {
        let run = async {
            let row: Option<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT seq, snapshot FROM docs WHERE id = $1")
                    .bind(doc.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
            row.map(|(seq, bytes)| {
                Ok(StoredDoc {
                    bytes,
                    seq: seq_u64(seq)?,
                })
            })
            .transpose()
        };
        run.await.map_err(DbError::into_store_error)
    }

    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, StoredDoc)>, ServerStoreError> {
        let run = async {
            let ids: Vec<&str> = docs.iter().map(|d| d.as_str()).collect();
            let rows: Vec<(String, i64, Vec<u8>)> =
                sqlx::query_as("SELECT id, seq, snapshot FROM docs WHERE id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(&self.pool)
                    .await?;
            rows.into_iter()
                .map(|(id, seq, bytes)| {
                    Ok((
                        doc_id(id)?,
                        StoredDoc {
                            bytes,
                            seq: seq_u64(seq)?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, DbError>>()
        };
        run.await.map_err(DbError::into_store_error)
    }

    /// Documents with their index rows, read from the task projection in the same query.
    async fn load_many_indexed(
        &self,
        docs: &[DocId],
    ) -> Result<Vec<(DocId, StoredDoc, Option<IndexEntry>)>, ServerStoreError> {
        let run = async {
            let ids: Vec<&str> = docs.iter().map(|d| d.as_str()).collect();
            let rows: Vec<IndexedRow> = sqlx::query_as(
                "SELECT d.id, d.seq, d.snapshot, t.seq AS task_seq, t.title, t.status,
                        t.priority, t.category, t.district, t.assignee,
                        ST_Y(t.geom) AS lat, ST_X(t.geom) AS lon, t.last_event_at
                 FROM docs d LEFT JOIN tasks t ON t.id = d.id WHERE d.id = ANY($1)",
            )
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter()
                .map(IndexedRow::into_parts)
                .collect::<Result<Vec<_>, DbError>>()
        };
        run.await.map_err(DbError::into_store_error)
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
                "SELECT scope FROM scope_entries WHERE doc = $1 AND present ORDER BY scope",
            )
            .bind(doc.as_str())
            .fetch_all(&self.pool)
            .await?;
            scope_ids(rows)
        };
        run.await.map_err(DbError::into_store_error)
    }
}

impl DocStore for PgStore {
    async fn compact(&self, doc: &DocId, keep_commits: usize) -> Result<CompactOutcome, DbError> {
        let id = doc.as_str();
        let mut tx = self.pool.begin().await?;
        let marker: i64 =
            sqlx::query_scalar("SELECT compacted_before FROM docs WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| DbError::NotFound(format!("document {id}")))?;
        let cutoff: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM (SELECT DISTINCT seq FROM doc_changes WHERE doc = $1) s
             ORDER BY seq DESC OFFSET $2 LIMIT 1",
        )
        .bind(id)
        .bind(i64::try_from(keep_commits).unwrap_or(i64::MAX))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(cutoff) = cutoff else {
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
            "SELECT id, seq, ST_Y(geom) AS lat, ST_X(geom) AS lon, district, status, priority,
                    assignee, category, title, created_at, updated_at, ack_due, complete_due,
                    completed_at
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

impl DistrictStore for PgStore {
    async fn import_districts(&self, districts: &[District]) -> Result<ImportOutcome, DbError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        // One import at a time (adjacency is recomputed over all districts).
        sqlx::query("SELECT pg_advisory_xact_lock(7261001)")
            .execute(&mut *tx)
            .await?;
        for d in districts {
            let wkb = multipolygon_to_wkb(&d.geometry).map_err(DbError::Invalid)?;
            sqlx::query(
                "INSERT INTO districts (code, name, region, geom, imported_at)
                 VALUES ($1, $2, $3, ST_Multi(ST_SetSRID(ST_GeomFromWKB($4), 4326)), $5)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, region = excluded.region,
                   geom = excluded.geom, imported_at = excluded.imported_at",
            )
            .bind(&d.code)
            .bind(&d.name)
            .bind(d.region.as_deref())
            .bind(wkb)
            .bind(now)
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
        Ok(ImportOutcome {
            districts: districts.len(),
            adjacent_pairs: usize::try_from(pairs).unwrap_or(usize::MAX),
        })
    }

    async fn districts(&self) -> Result<Vec<StoredDistrict>, DbError> {
        let rows: Vec<(String, String, Option<String>, Vec<u8>)> = sqlx::query_as(
            "SELECT code, name, region, ST_AsBinary(geom) FROM districts ORDER BY code",
        )
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
        Ok(sqlx::query_scalar(
            "SELECT code FROM districts
             WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
             ORDER BY code LIMIT 1",
        )
        .bind(lon)
        .bind(lat)
        .fetch_optional(&self.pool)
        .await?)
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

impl IdentityStore for PgStore {
    async fn upsert_crew(&self, crew: &Crew) -> Result<(), DbError> {
        check_crew(crew)?;
        let mut tx = self.pool.begin().await?;
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
        sqlx::query(
            "INSERT INTO crew_skills (crew, service_code)
             SELECT $1, s FROM unnest($2::text[]) AS s ON CONFLICT DO NOTHING",
        )
        .bind(&crew.id)
        .bind(&crew.skills)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn crew(&self, id: &str) -> Result<Option<Crew>, DbError> {
        let row: Option<CrewRow> = sqlx::query_as(
            "SELECT c.id, c.name, c.district, c.contractor, c.on_duty,
                        COALESCE(ARRAY(SELECT service_code FROM crew_skills s
                                       WHERE s.crew = c.id ORDER BY service_code), '{}')
                 FROM crews c WHERE c.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(id, name, district, contractor, on_duty, skills)| Crew {
                id,
                name,
                district,
                skills,
                contractor,
                on_duty,
            }),
        )
    }

    async fn crews(&self) -> Result<Vec<Crew>, DbError> {
        let rows: Vec<CrewRow> = sqlx::query_as(
            "SELECT c.id, c.name, c.district, c.contractor, c.on_duty,
                        COALESCE(ARRAY(SELECT service_code FROM crew_skills s
                                       WHERE s.crew = c.id ORDER BY service_code), '{}')
                 FROM crews c ORDER BY c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, district, contractor, on_duty, skills)| Crew {
                id,
                name,
                district,
                skills,
                contractor,
                on_duty,
            })
            .collect())
    }

    async fn create_user(&self, user: &NewUser) -> Result<(), DbError> {
        check_user(user)?;
        let mut tx = self.pool.begin().await?;
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
        sqlx::query(
            "INSERT INTO user_districts (user_id, district)
             SELECT $1, d FROM unnest($2::text[]) AS d ON CONFLICT DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.districts)
        .execute(&mut *tx)
        .await?;
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
        sqlx::query(
            "INSERT INTO devices (id, user_id, registered_at, last_login_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id,
                                            last_login_at = excluded.last_login_at",
        )
        .bind(device.as_str())
        .bind(user_id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "device"))?;
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
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, device_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(device.as_str())
        .bind(created_at)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "token"))?;
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
        let n = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(token_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    async fn revoke_user_tokens(&self, user_id: &str, at: Millis) -> Result<u64, DbError> {
        Ok(sqlx::query(
            "UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn upsert_service(&self, s: &Service) -> Result<(), DbError> {
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
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "service"))?;
        Ok(())
    }

    async fn services(&self) -> Result<Vec<Service>, DbError> {
        let rows = sqlx::query(
            "SELECT code, name, description, grp, default_priority, ack_minutes, complete_minutes
             FROM services ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
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
            })
            .collect()
    }
}

impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
