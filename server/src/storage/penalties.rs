//! SLA terms, contractors' penalty schedules and penalties (migration 0035). What a
//! penalty is proposed for, and who may decide or appeal, is the domain's rule
//! (`domain::penalties`); this module stores and reads, and makes each decision a
//! compare-and-swap on the penalty's status so two managers deciding at once cannot both
//! win.

use super::{Db, DbError, classify, on_pool, on_tx};
use serde::Serialize;
use sync_core::Millis;

/// A contractor's penalty schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Terms {
    /// The contractor (`crews.contractor`).
    pub contractor: String,
    /// `rial` or `points`.
    pub unit: String,
    /// Per started hour late (acknowledgement or completion).
    pub per_late_hour: i64,
    /// Per rejected completion.
    pub per_rejection: i64,
    /// Per citizen "not fixed" that reopened the task.
    pub per_not_fixed: i64,
    /// Per citizen complaint about the task, answered by staff.
    pub per_complaint: i64,
    /// The most a calendar month's statement charges; none: no cap.
    pub cap_per_month: Option<i64>,
}

/// One step of a penalty: a decision or an appeal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// When (ms since the epoch).
    pub at: i64,
    /// Who (user id).
    pub actor: String,
    /// Their role.
    pub role: String,
    /// `confirm`, `reduce`, `waive` or `appeal`.
    pub action: String,
    /// The amount decided, for `confirm` and `reduce`.
    pub amount: Option<i64>,
    /// The reason or the appeal's note.
    pub note: String,
}

/// A penalty with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Penalty {
    /// Number.
    pub id: i64,
    /// The task.
    pub task_id: String,
    /// `late_ack`, `late_completion`, `rejected`, `reopened` or `complaint`.
    pub cause: String,
    /// Which one of its kind (`1`, the nth rejection or reopening, the complaint's id).
    pub occurrence: String,
    /// The contractor.
    pub contractor: String,
    /// The crew the fact is attributed to.
    pub crew: Option<String>,
    /// The task's district.
    pub district: Option<String>,
    /// The task's service code.
    pub category: String,
    /// When the fact happened (ms since the epoch).
    pub fact_at: i64,
    /// The SLA's due time, for lateness.
    pub due_at: Option<i64>,
    /// Minutes late, for lateness.
    pub late_minutes: Option<i64>,
    /// The task's first before photo (hash).
    pub before_photo: Option<String>,
    /// The task's after photo (hash).
    pub after_photo: Option<String>,
    /// `rial` or `points`.
    pub unit: String,
    /// What the schedule gives.
    pub proposed_amount: i64,
    /// What a manager decided (waived: 0); none while proposed.
    pub amount: Option<i64>,
    /// `proposed`, `confirmed`, `waived` or `appealed`.
    pub status: String,
    /// The representative's appeal, if any.
    pub appeal_note: Option<String>,
    /// When it was proposed.
    pub created_at: i64,
    /// When it was last decided.
    pub decided_at: Option<i64>,
    /// Decisions and the appeal, oldest first.
    #[sqlx(skip)]
    pub steps: Vec<Step>,
}

/// A penalty to propose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPenalty {
    /// The task.
    pub task_id: String,
    /// The cause.
    pub cause: &'static str,
    /// Which one of its kind.
    pub occurrence: String,
    /// The contractor.
    pub contractor: String,
    /// The crew.
    pub crew: Option<String>,
    /// The district.
    pub district: Option<String>,
    /// The service code.
    pub category: String,
    /// When the fact happened.
    pub fact_at: Millis,
    /// Due time.
    pub due_at: Option<Millis>,
    /// Minutes late.
    pub late_minutes: Option<i64>,
    /// Before photo.
    pub before_photo: Option<String>,
    /// After photo.
    pub after_photo: Option<String>,
    /// Unit.
    pub unit: String,
    /// Amount.
    pub amount: i64,
}

/// A task's facts the sweep judges.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    /// Task id.
    pub id: String,
    /// District.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
    /// Attributed crew.
    pub crew: Option<String>,
    /// Its contractor.
    pub contractor: Option<String>,
    /// Crew that acknowledged.
    pub ack_crew: Option<String>,
    /// Its contractor.
    pub ack_contractor: Option<String>,
    /// First acknowledgement.
    pub acknowledged_at: Option<i64>,
    /// Due.
    pub ack_due: Option<i64>,
    /// Completion.
    pub completed_at: Option<i64>,
    /// Due.
    pub complete_due: Option<i64>,
    /// Citizens' reopenings.
    pub reopen_count: i32,
    /// Rejections.
    pub reject_count: i32,
    /// Photos.
    pub before_photo: Option<String>,
    /// Photos.
    pub after_photo: Option<String>,
    /// Last commit.
    pub updated_at: i64,
}

/// A complaint about a task the sweep judges.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Complaint {
    /// Message id.
    pub id: String,
    /// Task id.
    pub task: String,
    /// When it was answered.
    pub answered_at: i64,
    /// The task's facts.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
    /// Crew.
    pub crew: Option<String>,
    /// Contractor.
    pub contractor: Option<String>,
    /// Photos.
    pub before_photo: Option<String>,
    /// Photos.
    pub after_photo: Option<String>,
}

/// Which penalties to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this contractor's.
    pub contractor: Option<String>,
    /// Only tasks of these districts (none: every district).
    pub districts: Option<Vec<String>>,
    /// Only this status.
    pub status: Option<String>,
    /// Facts at or after.
    pub from: Option<Millis>,
    /// Facts before.
    pub to: Option<Millis>,
}

/// A decision to store: the status and amount the penalty moves to from `expect`.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// The penalty.
    pub id: i64,
    /// The status it must still have (compare-and-swap).
    pub expect: &'a str,
    /// The new status.
    pub status: &'a str,
    /// The new amount (unchanged for an appeal).
    pub amount: Option<i64>,
    /// The appeal's note, for an appeal.
    pub appeal_note: Option<&'a str>,
    /// The step recorded.
    pub step: Step,
}

/// The SLA terms (minutes to acknowledge, to complete) of a service at a priority: the
/// priority's override, else the service's own. `NotFound` for an unknown service.
pub async fn sla_terms(
    db: &Db,
    service: &str,
    priority: &str,
) -> Result<(Option<i64>, Option<i64>), DbError> {
    let key = (service.to_owned(), priority.to_owned());
    db.catalogue_cached(
        |s| s.sla.get(&key).copied(),
        read_sla_terms(db, service, priority),
        |s, v| {
            s.sla.insert(key.clone(), v);
        },
    )
    .await
}

async fn read_sla_terms(
    db: &Db,
    service: &str,
    priority: &str,
) -> Result<(Option<i64>, Option<i64>), DbError> {
    let row: Option<(Option<i64>, Option<i64>)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT COALESCE(o.ack_minutes, s.ack_minutes), COALESCE(o.complete_minutes, s.complete_minutes)
         FROM services s LEFT JOIN service_sla o ON o.service_code = s.code AND o.priority = $2
         WHERE s.code = $1",
    )
    .bind(service)
    .bind(priority)
    .fetch_optional(pool)
    .await)?;
    row.ok_or_else(|| DbError::NotFound(format!("service {service}")))
}

/// Sets a service's SLA terms: for every priority (`priority` none: the `services` row),
/// or one priority's override. Checked by the domain first; the table checks again.
pub async fn set_sla(
    db: &Db,
    service: &str,
    priority: Option<&str>,
    ack_minutes: Option<i64>,
    complete_minutes: Option<i64>,
) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    let n = match priority {
        None => on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE services SET ack_minutes = $2, complete_minutes = $3 WHERE code = $1",
        )
        .bind(service)
        .bind(ack_minutes)
        .bind(complete_minutes)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| classify(e, "service SLA"))?,
        Some(p) => on_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO service_sla (service_code, priority, ack_minutes, complete_minutes)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (service_code, priority) DO UPDATE SET
               ack_minutes = excluded.ack_minutes, complete_minutes = excluded.complete_minutes",
        )
        .bind(service)
        .bind(p)
        .bind(ack_minutes)
        .bind(complete_minutes)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| match classify(e, "service SLA") {
            DbError::NotFound(_) => DbError::NotFound(format!("service {service}")),
            other => other,
        })?,
    };
    if n == 0 {
        return Err(DbError::NotFound(format!("service {service}")));
    }
    tx.commit().await?;
    db.catalogue_changed();
    Ok(())
}

type TermsRow = (String, String, i64, i64, i64, i64, Option<i64>);

fn terms_of(r: TermsRow) -> Terms {
    Terms {
        contractor: r.0,
        unit: r.1,
        per_late_hour: r.2,
        per_rejection: r.3,
        per_not_fixed: r.4,
        per_complaint: r.5,
        cap_per_month: r.6,
    }
}

const TERMS_COLUMNS: &str =
    "contractor, unit, per_late_hour, per_rejection, per_not_fixed, per_complaint, cap_per_month";

/// Every contractor's schedule, by contractor.
pub async fn all_terms(db: &Db) -> Result<Vec<Terms>, DbError> {
    let sql = format!("SELECT {TERMS_COLUMNS} FROM contractor_terms ORDER BY contractor");
    let rows: Vec<TermsRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(terms_of).collect())
}

/// Creates or replaces a contractor's schedule.
pub async fn set_terms(db: &Db, t: &Terms, now: Millis) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO contractor_terms (contractor, unit, per_late_hour, per_rejection,
             per_not_fixed, per_complaint, cap_per_month, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (contractor) DO UPDATE SET unit = excluded.unit,
           per_late_hour = excluded.per_late_hour, per_rejection = excluded.per_rejection,
           per_not_fixed = excluded.per_not_fixed, per_complaint = excluded.per_complaint,
           cap_per_month = excluded.cap_per_month, updated_at = excluded.updated_at",
    )
    .bind(&t.contractor)
    .bind(&t.unit)
    .bind(t.per_late_hour)
    .bind(t.per_rejection)
    .bind(t.per_not_fixed)
    .bind(t.per_complaint)
    .bind(t.cap_per_month)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| classify(e, "contractor terms"))?;
    tx.commit().await
}

/// Facts committed after `since` that may deserve a penalty (late, rejected, reopened),
/// oldest commit first, at most `limit`.
pub async fn candidates(db: &Db, since: Millis, limit: i64) -> Result<Vec<Candidate>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT id, district, category, crew, contractor, ack_crew, ack_contractor,
                acknowledged_at, ack_due, completed_at, complete_due, reopen_count,
                reject_count, before_photo, after_photo, updated_at
         FROM task_facts
         WHERE updated_at > $1
           AND (contractor IS NOT NULL OR ack_contractor IS NOT NULL)
           AND (acknowledged_at > ack_due OR completed_at > complete_due
                OR reopen_count > 0 OR reject_count > 0)
         ORDER BY updated_at, id LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}

/// Complaints about a contractor's task answered after `since`, oldest first.
pub async fn complaints(db: &Db, since: Millis, limit: i64) -> Result<Vec<Complaint>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT m.id, m.about_task AS task, m.answered_at, f.district, f.category, f.crew,
                f.contractor, f.before_photo, f.after_photo
         FROM citizen_messages m JOIN task_facts f ON f.id = m.about_task
         WHERE m.kind = 'complaint' AND m.answered_at > $1 AND f.contractor IS NOT NULL
         ORDER BY m.answered_at, m.id LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}

/// Proposes a penalty unless one exists for its (task, cause, occurrence); true if new.
pub async fn propose(db: &Db, p: &NewPenalty, now: Millis) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO penalties (task_id, cause, occurrence, contractor, crew, district, category,
             fact_at, due_at, late_minutes, before_photo, after_photo, unit, proposed_amount,
             status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'proposed', $15)
         ON CONFLICT (task_id, cause, occurrence) DO NOTHING",
    )
    .bind(&p.task_id)
    .bind(p.cause)
    .bind(&p.occurrence)
    .bind(&p.contractor)
    .bind(p.crew.as_deref())
    .bind(p.district.as_deref())
    .bind(&p.category)
    .bind(p.fact_at)
    .bind(p.due_at)
    .bind(p.late_minutes)
    .bind(p.before_photo.as_deref())
    .bind(p.after_photo.as_deref())
    .bind(&p.unit)
    .bind(p.amount)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| classify(e, "penalty"))?;
    tx.commit().await?;
    Ok(n > 0)
}

const PENALTY_COLUMNS: &str =
    "id, task_id, cause, occurrence, contractor, crew, district, category,
    fact_at, due_at, late_minutes, before_photo, after_photo, unit, proposed_amount, amount,
    status, appeal_note, created_at, decided_at";

async fn steps_of(db: &Db, id: i64) -> Result<Vec<Step>, DbError> {
    let rows: Vec<(i64, String, String, String, Option<i64>, String)> = on_pool!(db, pool => sqlx::query_as(
            "SELECT at, actor, role, action, amount, note FROM penalty_steps
             WHERE penalty_id = $1 ORDER BY at, action",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|r| Step {
            at: r.0,
            actor: r.1,
            role: r.2,
            action: r.3,
            amount: r.4,
            note: r.5,
        })
        .collect())
}

/// One penalty with its steps.
pub async fn get(db: &Db, id: i64) -> Result<Option<Penalty>, DbError> {
    let sql = format!("SELECT {PENALTY_COLUMNS} FROM penalties WHERE id = $1");
    let row: Option<Penalty> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    match row {
        None => Ok(None),
        Some(mut p) => {
            p.steps = steps_of(db, p.id).await?;
            Ok(Some(p))
        }
    }
}

/// Penalties matching `f`, newest fact first, at most `limit` (steps not included).
pub async fn list(db: &Db, f: &Filter, limit: i64) -> Result<Vec<Penalty>, DbError> {
    // The district list is bound as one JSON array text so one statement serves any
    // number of districts on both backends.
    let districts = f
        .districts
        .as_ref()
        .map(|d| serde_json::to_string(d).unwrap_or_else(|_| "[]".into()));
    let in_districts = match db {
        Db::Sqlite(_) => "district IN (SELECT value FROM json_each($2))",
        Db::Postgres(_) => "district IN (SELECT jsonb_array_elements_text($2::jsonb))",
    };
    let sql = format!(
        "SELECT {PENALTY_COLUMNS} FROM penalties
         WHERE ($1::text IS NULL OR contractor = $1)
           AND ($2::text IS NULL OR {in_districts})
           AND ($3::text IS NULL OR status = $3)
           AND ($4::bigint IS NULL OR fact_at >= $4)
           AND ($5::bigint IS NULL OR fact_at < $5)
         ORDER BY fact_at DESC, id DESC LIMIT $6"
    );
    let sql = match db {
        // SQLite has no `::type` casts; the parameters need none there.
        Db::Sqlite(_) => sql
            .replace("::text", "")
            .replace("::bigint", "")
            .replace("::jsonb", ""),
        Db::Postgres(_) => sql,
    };
    let rows: Vec<Penalty> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(f.contractor.as_deref())
        .bind(districts.as_deref())
        .bind(f.status.as_deref())
        .bind(f.from)
        .bind(f.to)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// Confirmed penalty totals per contractor for facts in `[from, to)` of tasks in
/// `districts` (none: every district): (contractor, count, sum of amounts). Penalties
/// under appeal count as confirmed until decided.
pub async fn confirmed_totals(
    db: &Db,
    from: Millis,
    to: Millis,
    districts: Option<&[String]>,
) -> Result<Vec<(String, i64, i64)>, DbError> {
    let districts = districts.map(|d| serde_json::to_string(d).unwrap_or_else(|_| "[]".into()));
    let sql = match db {
        Db::Sqlite(_) => {
            "SELECT contractor, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM penalties
             WHERE status IN ('confirmed', 'appealed') AND fact_at >= $1 AND fact_at < $2
               AND ($3 IS NULL OR district IN (SELECT value FROM json_each($3)))
             GROUP BY contractor ORDER BY contractor"
        }
        Db::Postgres(_) => {
            "SELECT contractor, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM penalties
             WHERE status IN ('confirmed', 'appealed') AND fact_at >= $1 AND fact_at < $2
               AND ($3::text IS NULL OR district IN (SELECT jsonb_array_elements_text($3::jsonb)))
             GROUP BY contractor ORDER BY contractor"
        }
    };
    Ok(on_pool!(db, pool => sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .bind(districts.as_deref())
        .fetch_all(pool)
        .await)?)
}

/// Applies a decision or an appeal if the penalty still has `t.expect`; `Conflict` if it
/// moved on meanwhile.
pub async fn transition(db: &Db, t: &Transition<'_>) -> Result<(), DbError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE penalties SET status = $3, amount = COALESCE($4, amount),
             appeal_note = COALESCE($5, appeal_note),
             decided_at = CASE WHEN $5 IS NULL THEN $6 ELSE decided_at END
         WHERE id = $1 AND status = $2",
    )
    .bind(t.id)
    .bind(t.expect)
    .bind(t.status)
    .bind(t.amount)
    .bind(t.appeal_note)
    .bind(t.step.at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| classify(e, "penalty"))?;
    if n == 0 {
        return Err(DbError::Conflict);
    }
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO penalty_steps (penalty_id, at, actor, role, action, amount, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(t.id)
    .bind(t.step.at)
    .bind(&t.step.actor)
    .bind(&t.step.role)
    .bind(&t.step.action)
    .bind(t.step.amount)
    .bind(&t.step.note)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| classify(e, "penalty step"))?;
    tx.commit().await
}

/// One of a contractor's tasks as its representative sees it (from `task_facts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ContractorTask {
    /// Task id.
    pub id: String,
    /// District.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
    /// Priority.
    pub priority: String,
    /// Status.
    pub status: String,
    /// The crew it counts for.
    pub crew: Option<String>,
    /// Filed (ms since the epoch).
    pub created_at: i64,
    /// First acknowledgement.
    pub acknowledged_at: Option<i64>,
    /// Completion.
    pub completed_at: Option<i64>,
    /// Acknowledgement due.
    pub ack_due: Option<i64>,
    /// Completion due.
    pub complete_due: Option<i64>,
    /// Citizens' reopenings.
    pub reopen_count: i32,
    /// Rejected completions.
    pub reject_count: i32,
}

/// A contractor's tasks (attributed or acknowledged by its crews), newest first.
pub async fn contractor_tasks(
    db: &Db,
    contractor: &str,
    limit: i64,
) -> Result<Vec<ContractorTask>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT id, district, category, priority, status, crew, created_at, acknowledged_at,
                completed_at, ack_due, complete_due, reopen_count, reject_count
         FROM task_facts WHERE contractor = $1 OR ack_contractor = $1
         ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(contractor)
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}
