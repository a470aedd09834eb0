//! The rows of background re-publishing jobs (`republish_jobs`, `republish_job_users`); what a
//! job does is in `crate::republish`.

use diesel::prelude::*;
use diesel::sql_types::Text;
use platform::db::DbConnection;

use super::tenants::TenantId;
use super::{CHUNK, now_micros};
use crate::error::CoreError;
use crate::schema::{group_members, republish_job_users, republish_jobs, scim_groups, scim_users};

/// Every group of the tenant, then every user.
pub const SCOPE_TENANT: &str = "tenant";
/// The users listed in `republish_job_users`.
pub const SCOPE_LISTED: &str = "listed";
/// Every group and user of a tenant, published whether or not its record changed (an
/// operator's `republish`: repairs a consumer that missed or could not apply events).
pub const SCOPE_CURRENT: &str = "current";

pub const PHASE_GROUPS: &str = "groups";
pub const PHASE_USERS: &str = "users";
pub const PHASE_DONE: &str = "done";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = republish_jobs)]
pub struct JobRow {
    pub id: String,
    pub tenant_id: String,
    pub reason: String,
    pub scope: String,
    pub phase: String,
    pub cursor: Option<String>,
    pub total: i64,
    pub done: i64,
    pub published: i64,
    pub skipped: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl JobRow {
    /// "pending", "running" or "done".
    pub fn state(&self) -> &'static str {
        match (self.finished_at, self.done) {
            (Some(_), _) => "done",
            (None, 0) => "pending",
            (None, _) => "running",
        }
    }
}

fn count_of(conn: &mut DbConnection, tenant: &TenantId) -> Result<i64, CoreError> {
    let groups: i64 = scim_groups::table.filter(scim_groups::tenant_id.eq(tenant.as_str())).count().get_result(conn)?;
    let users: i64 = scim_users::table.filter(scim_users::tenant_id.eq(tenant.as_str())).count().get_result(conn)?;
    Ok(groups + users)
}

fn insert_job(
    conn: &mut DbConnection,
    tenant: &TenantId,
    reason: &str,
    scope: &str,
    phase: &str,
    total: i64,
) -> Result<String, CoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_micros();
    diesel::insert_into(republish_jobs::table)
        .values((
            republish_jobs::id.eq(&id),
            republish_jobs::tenant_id.eq(tenant.as_str()),
            republish_jobs::reason.eq(reason),
            republish_jobs::scope.eq(scope),
            republish_jobs::phase.eq(phase),
            republish_jobs::total.eq(total),
            republish_jobs::created_at.eq(now),
            republish_jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A job re-publishing every group and user of the tenant. An open one of the tenant starts
/// over instead (its work so far may predate the change), so changes in a row make one job.
pub fn tenant_job(conn: &mut DbConnection, tenant: &TenantId, reason: &str) -> Result<String, CoreError> {
    let total = count_of(conn, tenant)?;
    let open: Option<String> = republish_jobs::table
        .filter(republish_jobs::tenant_id.eq(tenant.as_str()))
        .filter(republish_jobs::scope.eq(SCOPE_TENANT))
        .filter(republish_jobs::finished_at.is_null())
        .select(republish_jobs::id)
        .first(conn)
        .optional()?;
    if let Some(id) = open {
        // Only while still open: a job that finished meanwhile (its last batch committed while
        // this waited for its row) is left done, and a new one made.
        let restarted = diesel::update(republish_jobs::table.find(&id).filter(republish_jobs::finished_at.is_null()))
            .set((
                republish_jobs::reason.eq(reason),
                republish_jobs::phase.eq(PHASE_GROUPS),
                republish_jobs::cursor.eq(None::<String>),
                republish_jobs::total.eq(total),
                republish_jobs::done.eq(0),
                republish_jobs::updated_at.eq(now_micros()),
            ))
            .execute(conn)?;
        if restarted == 1 {
            return Ok(id);
        }
    }
    insert_job(conn, tenant, reason, SCOPE_TENANT, PHASE_GROUPS, total)
}

/// A job publishing every current record of a tenant (`admin republish`); an open one is
/// returned rather than a second made.
pub fn current_job(conn: &mut DbConnection, tenant: &TenantId, reason: &str) -> Result<String, CoreError> {
    let open: Option<String> = republish_jobs::table
        .filter(republish_jobs::tenant_id.eq(tenant.as_str()))
        .filter(republish_jobs::scope.eq(SCOPE_CURRENT))
        .filter(republish_jobs::finished_at.is_null())
        .select(republish_jobs::id)
        .first(conn)
        .optional()?;
    if let Some(id) = open {
        return Ok(id);
    }
    let total = count_of(conn, tenant)?;
    insert_job(conn, tenant, reason, SCOPE_CURRENT, PHASE_GROUPS, total)
}

/// A job re-publishing the listed users.
pub fn listed_job(
    conn: &mut DbConnection,
    tenant: &TenantId,
    reason: &str,
    users: &[String],
) -> Result<String, CoreError> {
    let mut users: Vec<&String> = users.iter().collect();
    users.sort();
    users.dedup();
    let id = insert_job(conn, tenant, reason, SCOPE_LISTED, PHASE_USERS, users.len() as i64)?;
    for chunk in users.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|user| (republish_job_users::job_id.eq(id.as_str()), republish_job_users::user_id.eq(user.as_str())))
            .collect();
        platform::db::insert_rows(conn, diesel::insert_into(republish_job_users::table).values(rows))?;
    }
    Ok(id)
}

/// A job re-publishing a group's members (copied in one statement, however many) and `also`,
/// users that are no longer members (none of them may be a member).
pub fn members_job(
    conn: &mut DbConnection,
    tenant: &TenantId,
    reason: &str,
    group_id: &str,
    also: &[String],
) -> Result<String, CoreError> {
    let id = listed_job(conn, tenant, reason, also)?;
    let copied = diesel::insert_into(republish_job_users::table)
        .values(
            group_members::table
                .filter(group_members::tenant_id.eq(tenant.as_str()))
                .filter(group_members::group_id.eq(group_id))
                .select((id.as_str().into_sql::<Text>(), group_members::member_id)),
        )
        .into_columns((republish_job_users::job_id, republish_job_users::user_id))
        .execute(conn)?;
    diesel::update(republish_jobs::table.find(&id))
        .set(republish_jobs::total.eq(republish_jobs::total + copied as i64))
        .execute(conn)?;
    Ok(id)
}

/// The open job advanced least recently (jobs take turns, batch by batch) that no other
/// transaction is working on, locked until the transaction ends (PostgreSQL: other replicas
/// skip it; SQLite writers are serialized already).
pub fn claim_next(conn: &mut DbConnection) -> Result<Option<JobRow>, CoreError> {
    // The select clause is typed per backend: the query is written once, built for each.
    macro_rules! open_jobs {
        () => {
            republish_jobs::table
                .filter(republish_jobs::finished_at.is_null())
                .order((republish_jobs::updated_at.asc(), republish_jobs::id.asc()))
                .select(JobRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Postgresql(conn) => open_jobs!().for_update().skip_locked().first(conn).optional()?,
        DbConnection::Sqlite(conn) => open_jobs!().first(conn).optional()?,
    })
}

/// The listed users of a job after `after`, in id order.
pub fn listed_after(
    conn: &mut DbConnection,
    job_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, CoreError> {
    let mut query = republish_job_users::table
        .filter(republish_job_users::job_id.eq(job_id))
        .select(republish_job_users::user_id)
        .order(republish_job_users::user_id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(republish_job_users::user_id.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// A batch done: the job's new phase and cursor, what it handled and published, and what it
/// could not (`note`, kept as `last_error`); a finished job forgets its listed users.
pub fn advance(
    conn: &mut DbConnection,
    job: &JobRow,
    phase: &str,
    cursor: Option<&str>,
    (handled, published, skipped): (i64, i64, i64),
    note: Option<&str>,
) -> Result<(), CoreError> {
    let now = now_micros();
    let finished = (phase == PHASE_DONE).then_some(now);
    diesel::update(republish_jobs::table.find(&job.id))
        .set((
            republish_jobs::phase.eq(phase),
            republish_jobs::cursor.eq(cursor),
            republish_jobs::done.eq(republish_jobs::done + handled),
            republish_jobs::published.eq(republish_jobs::published + published),
            republish_jobs::skipped.eq(republish_jobs::skipped + skipped),
            republish_jobs::last_error.eq(note),
            republish_jobs::updated_at.eq(now),
            republish_jobs::finished_at.eq(finished),
        ))
        .execute(conn)?;
    if finished.is_some() {
        diesel::delete(republish_job_users::table.filter(republish_job_users::job_id.eq(&job.id))).execute(conn)?;
    }
    Ok(())
}

/// Notes why a job's batch failed (it is tried again).
pub fn note_error(conn: &mut DbConnection, job_id: &str, error: &str) -> Result<(), CoreError> {
    diesel::update(republish_jobs::table.find(job_id))
        .set((republish_jobs::last_error.eq(error), republish_jobs::updated_at.eq(now_micros())))
        .execute(conn)?;
    Ok(())
}

/// One job of a tenant.
pub fn find(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Option<JobRow>, CoreError> {
    Ok(republish_jobs::table
        .find(id)
        .filter(republish_jobs::tenant_id.eq(tenant))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// A tenant's jobs, newest first.
pub fn of_tenant(conn: &mut DbConnection, tenant: &str, limit: i64) -> Result<Vec<JobRow>, CoreError> {
    Ok(republish_jobs::table
        .filter(republish_jobs::tenant_id.eq(tenant))
        .order((republish_jobs::created_at.desc(), republish_jobs::id.desc()))
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)?)
}

/// Open jobs and the items they have left, over all tenants (for the metrics).
pub fn backlog(conn: &mut DbConnection) -> Result<(i64, i64), CoreError> {
    let open: Vec<(i64, i64)> = republish_jobs::table
        .filter(republish_jobs::finished_at.is_null())
        .select((republish_jobs::total, republish_jobs::done))
        .load(conn)?;
    let remaining = open.iter().map(|(total, done)| (total - done).max(0)).sum();
    Ok((open.len() as i64, remaining))
}
