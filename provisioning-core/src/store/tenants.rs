//! Tenants and their SCIM tokens. A token is stored only as its SHA-256 hash; it is looked up by
//! that hash and the match confirmed in constant time.

use diesel::prelude::*;
use platform::db::DbConnection;
use subtle::ConstantTimeEq;

use super::now_micros;
use crate::error::CoreError;
use crate::schema::{tenant_tokens, tenants};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantId(pub String);

impl TenantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tenant a token (given as the hex SHA-256 of the bearer token) belongs to.
pub fn authenticate(conn: &mut DbConnection, token_sha256: &str) -> Result<TenantId, CoreError> {
    let found: Option<(String, String, bool)> = tenant_tokens::table
        .inner_join(tenants::table.on(tenants::id.eq(tenant_tokens::tenant_id)))
        .filter(tenant_tokens::token_sha256.eq(token_sha256))
        .filter(tenant_tokens::revoked_at.is_null())
        .select((tenant_tokens::token_sha256, tenants::id, tenants::disabled))
        .first(conn)
        .optional()?;
    match found {
        Some((stored, tenant, false)) if bool::from(stored.as_bytes().ct_eq(token_sha256.as_bytes())) => {
            Ok(TenantId(tenant))
        }
        _ => Err(CoreError::Unauthenticated),
    }
}

/// Creates the tenant if it does not exist. Returns true when it was created.
pub fn ensure_tenant(conn: &mut DbConnection, slug: &str, display_name: &str) -> Result<bool, CoreError> {
    let exists = tenants::table.find(slug).select(tenants::id).first::<String>(conn).optional()?.is_some();
    if exists {
        return Ok(false);
    }
    diesel::insert_into(tenants::table)
        .values((
            tenants::id.eq(slug),
            tenants::display_name.eq(display_name),
            tenants::disabled.eq(false),
            tenants::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Makes a token (by hash) a live token of the tenant: added, or un-revoked when it was there.
pub fn add_token(conn: &mut DbConnection, tenant: &str, token_sha256: &str) -> Result<(), CoreError> {
    let revived = diesel::update(
        tenant_tokens::table
            .filter(tenant_tokens::tenant_id.eq(tenant))
            .filter(tenant_tokens::token_sha256.eq(token_sha256)),
    )
    .set(tenant_tokens::revoked_at.eq(None::<i64>))
    .execute(conn)?;
    if revived == 0 {
        diesel::insert_into(tenant_tokens::table)
            .values((
                tenant_tokens::id.eq(uuid::Uuid::new_v4().to_string()),
                tenant_tokens::tenant_id.eq(tenant),
                tenant_tokens::token_sha256.eq(token_sha256),
                tenant_tokens::created_at.eq(now_micros()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Revokes every live token of a tenant but the one with this hash.
pub fn revoke_other_tokens(conn: &mut DbConnection, tenant: &str, keep_sha256: &str) -> Result<usize, CoreError> {
    Ok(diesel::update(
        tenant_tokens::table
            .filter(tenant_tokens::tenant_id.eq(tenant))
            .filter(tenant_tokens::token_sha256.ne(keep_sha256))
            .filter(tenant_tokens::revoked_at.is_null()),
    )
    .set(tenant_tokens::revoked_at.eq(now_micros()))
    .execute(conn)?)
}

/// How many live tokens a tenant has.
pub fn live_token_count(conn: &mut DbConnection, tenant: &str) -> Result<i64, CoreError> {
    Ok(tenant_tokens::table
        .filter(tenant_tokens::tenant_id.eq(tenant))
        .filter(tenant_tokens::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}
