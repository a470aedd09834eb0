//! Portal sessions: what the product's backend (holding the admin credential) obtains for its
//! customer's IT admin, so that the admin can set up and watch provisioning of one tenant
//! without an operator (issue 15). A session is one tenant's, expires (at most a day after it
//! was issued), can be revoked, and its secret (`portal_<region>_<random>`) is shown once and
//! stored only as a SHA-256. It is never a SCIM token nor an admin credential: those are
//! looked up elsewhere.

use diesel::prelude::*;
use scim::ScimError;

use crate::error::CoreError;
use crate::schema::portal_sessions;
use platform::db::{DbConnection, now_micros};

/// A portal session as stored (its secret's hash left out).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = portal_sessions)]
pub struct PortalSession {
    pub id: String,
    pub tenant_id: String,
    pub label: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A session's default lifetime, and the bounds of the one asked for, in minutes.
pub const DEFAULT_TTL_MINUTES: u32 = 60;
pub const MIN_TTL_MINUTES: u32 = 5;
pub const MAX_TTL_MINUTES: u32 = 24 * 60;
/// The longest label (who the session is for, as the product names them).
pub const MAX_LABEL_CHARS: usize = 200;

impl PortalSession {
    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: i64) -> &'static str {
        match self.revoked_at {
            Some(_) => "revoked",
            None if self.expires_at <= now => "expired",
            None => "active",
        }
    }
}

/// Stores a new session of `tenant` for the secret `secret`, valid for `ttl_minutes`.
pub fn issue(
    conn: &mut DbConnection,
    tenant: &str,
    secret: &str,
    ttl_minutes: u32,
    label: Option<&str>,
) -> Result<PortalSession, CoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_micros();
    diesel::insert_into(portal_sessions::table)
        .values((
            portal_sessions::id.eq(&id),
            portal_sessions::tenant_id.eq(tenant),
            portal_sessions::secret_sha256.eq(crate::token::fingerprint(secret)),
            portal_sessions::label.eq(label),
            portal_sessions::created_at.eq(now),
            portal_sessions::expires_at.eq(now + i64::from(ttl_minutes) * 60_000_000),
        ))
        .execute(conn)?;
    find(conn, tenant, &id)
}

fn find(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<PortalSession, CoreError> {
    portal_sessions::table
        .filter(portal_sessions::tenant_id.eq(tenant))
        .filter(portal_sessions::id.eq(id))
        .select(PortalSession::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::Scim(ScimError::not_found(format!("no portal session '{id}' of tenant '{tenant}'"))))
}

/// The tenant's sessions, newest first (at most `limit`).
pub fn list(conn: &mut DbConnection, tenant: &str, limit: i64) -> Result<Vec<PortalSession>, CoreError> {
    Ok(portal_sessions::table
        .filter(portal_sessions::tenant_id.eq(tenant))
        .order((portal_sessions::created_at.desc(), portal_sessions::id.desc()))
        .limit(limit)
        .select(PortalSession::as_select())
        .load(conn)?)
}

/// Revokes a session of the tenant (at once: every request checks it); revoking it again
/// changes nothing.
pub fn revoke(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<PortalSession, CoreError> {
    find(conn, tenant, id)?;
    diesel::update(
        portal_sessions::table
            .filter(portal_sessions::tenant_id.eq(tenant))
            .filter(portal_sessions::id.eq(id))
            .filter(portal_sessions::revoked_at.is_null()),
    )
    .set(portal_sessions::revoked_at.eq(now_micros()))
    .execute(conn)?;
    find(conn, tenant, id)
}

/// The live session a secret opens (not revoked, not expired at `now`), whatever its tenant.
pub fn authenticate(conn: &mut DbConnection, secret: &str, now: i64) -> Result<Option<PortalSession>, CoreError> {
    Ok(portal_sessions::table
        .filter(portal_sessions::secret_sha256.eq(crate::token::fingerprint(secret)))
        .filter(portal_sessions::revoked_at.is_null())
        .filter(portal_sessions::expires_at.gt(now))
        .select(PortalSession::as_select())
        .first(conn)
        .optional()?)
}
