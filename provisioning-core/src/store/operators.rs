//! Operator identities and the audit log of the admin API. An operator key has a name and a
//! scope and is stored as its SHA-256 only; `ADMIN_TOKEN` stays the built-in identity with every
//! scope (named `ADMIN_TOKEN` in the log), for the first keys and for break-glass access.

use diesel::prelude::*;
use scim::ScimError;
use serde::Serialize;

use crate::error::CoreError;
use crate::schema::{admin_audit, operator_keys};
use platform::db::{DbConnection, now_micros};

/// What a key may do (by default, the least).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read anything (GET), change nothing.
    #[default]
    ReadOnly,
    /// Read anything; change tenants (tokens, settings, mappings, portal sessions, repairs).
    TenantAdmin,
    /// Everything, operator keys and webhooks included.
    Full,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read_only",
            Self::TenantAdmin => "tenant_admin",
            Self::Full => "full",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read_only" => Some(Self::ReadOnly),
            "tenant_admin" => Some(Self::TenantAdmin),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// An operator key as listed (never its hash).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = operator_keys)]
pub struct OperatorKey {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl OperatorKey {
    pub fn scope(&self) -> Scope {
        // Written by `issue` only: an unknown text can only be a hand edit; it gets no power.
        Scope::parse(&self.scope).unwrap_or(Scope::ReadOnly)
    }
}

/// Stores a key (its hash); 409 when a key of that name exists, revoked or not (names identify
/// operators in the audit log, so one is never reused).
pub fn issue(
    conn: &mut DbConnection,
    name: &str,
    scope: Scope,
    key_sha256: &str,
    created_by: &str,
) -> Result<OperatorKey, CoreError> {
    let taken: i64 = operator_keys::table.filter(operator_keys::name.eq(name)).count().get_result(conn)?;
    if taken > 0 {
        return Err(CoreError::Scim(ScimError::uniqueness(format!(
            "an operator key named '{name}' exists (names are never reused: they identify operators in the audit log)"
        ))));
    }
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(operator_keys::table)
        .values((
            operator_keys::id.eq(&id),
            operator_keys::name.eq(name),
            operator_keys::scope.eq(scope.as_str()),
            operator_keys::key_sha256.eq(key_sha256),
            operator_keys::created_by.eq(created_by),
            operator_keys::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    find(conn, &id)
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<OperatorKey, CoreError> {
    operator_keys::table
        .find(id)
        .select(OperatorKey::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::Scim(ScimError::not_found(format!("no operator key '{id}'"))))
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<OperatorKey>, CoreError> {
    Ok(operator_keys::table.order(operator_keys::created_at.asc()).select(OperatorKey::as_select()).load(conn)?)
}

/// Revokes a key: refused at once from then on.
pub fn revoke(conn: &mut DbConnection, id: &str) -> Result<OperatorKey, CoreError> {
    find(conn, id)?;
    diesel::update(operator_keys::table.find(id).filter(operator_keys::revoked_at.is_null()))
        .set(operator_keys::revoked_at.eq(now_micros()))
        .execute(conn)?;
    find(conn, id)
}

/// The key with this hash, live or revoked (the caller refuses a revoked one, and the audit log
/// names whose it was); a live one is marked used (at most once a minute, to spare writes). A
/// read first: an unknown credential costs no write.
pub fn authenticate(store: &crate::store::Store, key_sha256: &str) -> Result<Option<OperatorKey>, CoreError> {
    let found: Option<OperatorKey> = store.read(|conn| {
        Ok(operator_keys::table
            .filter(operator_keys::key_sha256.eq(key_sha256))
            .select(OperatorKey::as_select())
            .first(conn)
            .optional()?)
    })?;
    if let Some(key) = found.as_ref().filter(|key| key.revoked_at.is_none()) {
        let now = now_micros();
        if key.last_used_at.is_none_or(|at| now - at > 60_000_000) {
            store.write(|conn| {
                diesel::update(operator_keys::table.find(&key.id))
                    .set(operator_keys::last_used_at.eq(now))
                    .execute(conn)?;
                Ok(())
            })?;
        }
    }
    Ok(found)
}

/// One admin action: who, what (method and path, never a body: bodies carry secrets), when,
/// and its result (the HTTP status).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = admin_audit)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub operator: String,
    pub key_id: Option<String>,
    pub method: String,
    pub path: String,
    pub tenant_id: Option<String>,
    pub status: i32,
}

/// What [`record`] writes.
pub struct NewAuditEntry<'a> {
    pub operator: &'a str,
    pub key_id: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub tenant_id: Option<&'a str>,
    pub status: i32,
}

pub fn record(conn: &mut DbConnection, entry: &NewAuditEntry<'_>) -> Result<(), CoreError> {
    let bounded = |text: &str, max: usize| text.chars().take(max).collect::<String>();
    diesel::insert_into(admin_audit::table)
        .values((
            admin_audit::at.eq(now_micros()),
            admin_audit::operator.eq(bounded(entry.operator, 200)),
            admin_audit::key_id.eq(entry.key_id),
            admin_audit::method.eq(bounded(entry.method, 16)),
            admin_audit::path.eq(bounded(entry.path, 1024)),
            admin_audit::tenant_id.eq(entry.tenant_id.map(|t| bounded(t, 200))),
            admin_audit::status.eq(entry.status),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes up to `limit` of the oldest entries written before `cutoff`; how many it deleted.
pub fn prune_audit(conn: &mut DbConnection, cutoff: i64, limit: i64) -> Result<usize, CoreError> {
    let due: Vec<i64> = admin_audit::table
        .filter(admin_audit::at.lt(cutoff))
        .order(admin_audit::id.asc())
        .limit(limit)
        .select(admin_audit::id)
        .load(conn)?;
    if due.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(admin_audit::table.filter(admin_audit::id.eq_any(&due))).execute(conn)?)
}

/// The newest entries first, of one operator and/or tenant, before entry id `before`.
pub fn audit(
    conn: &mut DbConnection,
    operator: Option<&str>,
    tenant: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, CoreError> {
    let mut query =
        admin_audit::table.select(AuditEntry::as_select()).order(admin_audit::id.desc()).limit(limit).into_boxed();
    if let Some(operator) = operator {
        query = query.filter(admin_audit::operator.eq(operator.to_owned()));
    }
    if let Some(tenant) = tenant {
        query = query.filter(admin_audit::tenant_id.eq(tenant.to_owned()));
    }
    if let Some(before) = before {
        query = query.filter(admin_audit::id.lt(before));
    }
    Ok(query.load(conn)?)
}
