//! Tenants, their settings and their SCIM tokens. A token is stored only as its SHA-256 hash
//! (with a short visible prefix, so operators can tell tokens apart); it is looked up by that
//! hash and the match confirmed in constant time. Every request is authenticated against the
//! database, so a revoked or expired token, or a disabled tenant, stops working at once on
//! every replica: there is no token cache to expire.

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::ScimError;
use serde::{Deserialize, Serialize};
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

/// A tenant as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    /// The region the tenant lives in ('' for tenants made before regions: this deployment's).
    pub region: String,
    pub disabled: bool,
    pub created_at: i64,
    pub settings: TenantSettings,
}

type TenantRow = (String, String, String, bool, i64, String);

fn tenant_columns()
-> (tenants::id, tenants::display_name, tenants::region, tenants::disabled, tenants::created_at, tenants::settings) {
    (tenants::id, tenants::display_name, tenants::region, tenants::disabled, tenants::created_at, tenants::settings)
}

impl Tenant {
    fn from_row((id, display_name, region, disabled, created_at, settings): TenantRow) -> Result<Self, CoreError> {
        let settings = TenantSettings::parse(&settings)
            .map_err(|e| CoreError::Internal(format!("tenant {id}'s stored settings do not parse: {e}")))?;
        Ok(Self { id, display_name, region, disabled, created_at, settings })
    }
}

/// Per-tenant settings, stored as JSON. `PUT /admin/v1/tenants/{slug}/settings` replaces them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The tenant's own rate limit; the deployment's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSetting>,
    /// What deleting a user does; the defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// How often the tenant's IdP is expected to send requests, in minutes
    /// ([`DEFAULT_CADENCE_MINUTES`] when absent: Entra ID's provisioning cycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_cadence_minutes: Option<u32>,
}

/// Entra ID runs an incremental provisioning cycle about every 40 minutes.
pub const DEFAULT_CADENCE_MINUTES: u32 = 40;
/// The longest expected cadence: a week.
pub const MAX_CADENCE_MINUTES: u32 = 7 * 24 * 60;

impl TenantSettings {
    /// The expected cadence, the default when unset.
    pub fn cadence_minutes(&self) -> u32 {
        self.expected_cadence_minutes.unwrap_or(DEFAULT_CADENCE_MINUTES)
    }
}

/// A tenant's lifecycle policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// `soft` (default): a deleted user's account is kept as a tombstone for `tombstone_days`,
    /// then purged (each step an event); re-creating its userName meanwhile restores it.
    /// `hard`: deleted and purged at once.
    #[serde(default)]
    pub delete: DeleteMode,
    /// Days a tombstone is kept (0 = until the next purge run); default 30.
    #[serde(default = "default_tombstone_days")]
    pub tombstone_days: u32,
    /// Link a new SCIM user to an account the product made by hand with the same email
    /// (instead of a second account); default true.
    #[serde(default = "default_true")]
    pub link_by_email: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteMode {
    #[default]
    Soft,
    Hard,
}

fn default_tombstone_days() -> u32 {
    30
}

fn default_true() -> bool {
    true
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self { delete: DeleteMode::Soft, tombstone_days: default_tombstone_days(), link_by_email: true }
    }
}

/// The longest a tombstone may be kept.
pub const MAX_TOMBSTONE_DAYS: u32 = 3650;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSetting {
    pub requests_per_second: u32,
    pub burst: u32,
}

/// The most a tenant's rate limit may be set to, per second and per burst.
pub const MAX_RATE: u32 = 100_000;

impl TenantSettings {
    /// Parses and validates settings; the error says what to fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let settings: Self = serde_json::from_str(text).map_err(|e| format!("invalid settings: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(RateLimitSetting { requests_per_second, burst }) = self.rate_limit {
            if !(1..=MAX_RATE).contains(&requests_per_second) {
                return Err(format!("rate_limit.requests_per_second must be between 1 and {MAX_RATE}"));
            }
            if !(1..=MAX_RATE).contains(&burst) {
                return Err(format!("rate_limit.burst must be between 1 and {MAX_RATE}"));
            }
        }
        if let Some(lifecycle) = self.lifecycle
            && lifecycle.tombstone_days > MAX_TOMBSTONE_DAYS
        {
            return Err(format!("lifecycle.tombstone_days must be between 0 and {MAX_TOMBSTONE_DAYS}"));
        }
        if let Some(minutes) = self.expected_cadence_minutes
            && !(1..=MAX_CADENCE_MINUTES).contains(&minutes)
        {
            return Err(format!("expected_cadence_minutes must be between 1 and {MAX_CADENCE_MINUTES}"));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// A token as operators see it: never the secret.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = tenant_tokens)]
pub struct TokenRecord {
    pub id: String,
    pub tenant_id: String,
    /// The token's first characters (`scim_eu_AbCd`), to tell tokens apart.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// The token this one replaces, while (and after) a rotation.
    pub rotation_of: Option<String>,
}

impl TokenRecord {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| expires > now)
    }
}

/// Who a request is from: the tenant, the token, and the tenant's settings.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub token_id: String,
    pub settings: TenantSettings,
    /// The tenant's config revision (see `crate::context`).
    pub config_revision: i64,
}

fn unauthorized(detail: impl Into<String>) -> CoreError {
    CoreError::Scim(ScimError::unauthorized(detail))
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339()).unwrap_or_default()
}

/// The tenant a token (given as the hex SHA-256 of the bearer token) belongs to, if the token is
/// live and the tenant enabled.
pub fn authenticate(conn: &mut DbConnection, token_sha256: &str, now: i64) -> Result<Caller, CoreError> {
    type Found = (String, String, Option<i64>, Option<i64>, String, bool, String, i64);
    let found: Option<Found> = tenant_tokens::table
        .inner_join(tenants::table.on(tenants::id.eq(tenant_tokens::tenant_id)))
        .filter(tenant_tokens::token_sha256.eq(token_sha256))
        .select((
            tenant_tokens::token_sha256,
            tenant_tokens::id,
            tenant_tokens::revoked_at,
            tenant_tokens::expires_at,
            tenants::id,
            tenants::disabled,
            tenants::settings,
            tenants::config_revision,
        ))
        .first(conn)
        .optional()?;
    let Some((stored, token_id, revoked_at, expires_at, tenant, disabled, settings, config_revision)) = found else {
        crate::observe::unauthenticated(None);
        return Err(CoreError::Unauthenticated);
    };
    if !bool::from(stored.as_bytes().ct_eq(token_sha256.as_bytes())) {
        crate::observe::unauthenticated(None);
        return Err(CoreError::Unauthenticated);
    }
    if revoked_at.is_some() {
        // A tenant's IdP still using a revoked token: its tenant is known, and alerted on.
        crate::observe::unauthenticated(Some(&tenant));
        return Err(CoreError::Unauthenticated);
    }
    if let Some(expires_at) = expires_at.filter(|expires| *expires <= now) {
        crate::observe::unauthenticated(Some(&tenant));
        return Err(unauthorized(format!(
            "this token expired at {}; ask the service's operators for a new one",
            rfc3339(expires_at)
        )));
    }
    if disabled {
        return Err(unauthorized("the tenant of this token is disabled; ask the service's operators"));
    }
    let settings = TenantSettings::parse(&settings)
        .map_err(|e| CoreError::Internal(format!("tenant {tenant}'s stored settings do not parse: {e}")))?;
    Ok(Caller { tenant: TenantId(tenant), token_id, settings, config_revision })
}

/// Creates the tenant if it does not exist. Returns true when it was created.
pub fn ensure_tenant(conn: &mut DbConnection, slug: &str, display_name: &str, region: &str) -> Result<bool, CoreError> {
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
            tenants::region.eq(region),
            tenants::settings.eq(TenantSettings::default().to_json()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Whether a slug can name a tenant: 2 to 63 lowercase letters, digits or '-', starting with a
/// letter or digit (it appears in URLs, topics' keys and logs).
pub fn check_slug(slug: &str) -> Result<(), ScimError> {
    let valid = (2..=63).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(ScimError::invalid_value("slug must be 2 to 63 lowercase letters, digits or '-', not starting with '-'"))
    }
}

/// Creates a tenant; 409 when the slug is taken.
pub fn create_tenant(
    conn: &mut DbConnection,
    slug: &str,
    display_name: &str,
    region: &str,
) -> Result<Tenant, CoreError> {
    check_slug(slug)?;
    if !ensure_tenant(conn, slug, display_name, region)? {
        return Err(CoreError::Scim(ScimError::new(409, None, format!("tenant '{slug}' already exists"))));
    }
    get_tenant(conn, slug)
}

pub fn list_tenants(conn: &mut DbConnection) -> Result<Vec<Tenant>, CoreError> {
    let rows: Vec<TenantRow> = tenants::table.select(tenant_columns()).order(tenants::id).load(conn)?;
    rows.into_iter().map(Tenant::from_row).collect()
}

fn no_tenant(slug: &str) -> CoreError {
    CoreError::Scim(ScimError::not_found(format!("no tenant '{slug}'")))
}

pub fn get_tenant(conn: &mut DbConnection, slug: &str) -> Result<Tenant, CoreError> {
    let row: Option<TenantRow> = tenants::table.find(slug).select(tenant_columns()).first(conn).optional()?;
    Tenant::from_row(row.ok_or_else(|| no_tenant(slug))?)
}

/// Disables (every token stops working) or enables a tenant.
pub fn set_disabled(conn: &mut DbConnection, slug: &str, disabled: bool) -> Result<Tenant, CoreError> {
    let changed = diesel::update(tenants::table.find(slug)).set(tenants::disabled.eq(disabled)).execute(conn)?;
    if changed == 0 {
        return Err(no_tenant(slug));
    }
    get_tenant(conn, slug)
}

/// Replaces a tenant's settings (validated).
pub fn set_settings(conn: &mut DbConnection, slug: &str, settings: &TenantSettings) -> Result<Tenant, CoreError> {
    settings.validate().map_err(ScimError::invalid_value)?;
    let changed = diesel::update(tenants::table.find(slug))
        .set((tenants::settings.eq(settings.to_json()), tenants::config_revision.eq(tenants::config_revision + 1)))
        .execute(conn)?;
    if changed == 0 {
        return Err(no_tenant(slug));
    }
    get_tenant(conn, slug)
}

/// The visible part of a token: `<prefix>_<region>_` and four characters of the random part
/// (about 24 of its 256 bits), or the first four characters of a token of another form.
pub fn visible_prefix(token: &str) -> String {
    let mut parts = token.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(prefix), Some(region), Some(random)) if random.len() > 8 => {
            format!("{prefix}_{region}_{}", random.chars().take(4).collect::<String>())
        }
        _ => token.chars().take(4).collect(),
    }
}

/// Stores a new token of the tenant (by hash). `rotation_of` names the token it replaces.
pub fn issue_token(
    conn: &mut DbConnection,
    tenant: &str,
    token: &str,
    expires_at: Option<i64>,
    rotation_of: Option<&str>,
) -> Result<TokenRecord, CoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(tenant_tokens::table)
        .values((
            tenant_tokens::id.eq(&id),
            tenant_tokens::tenant_id.eq(tenant),
            tenant_tokens::token_sha256.eq(crate::token::fingerprint(token)),
            tenant_tokens::created_at.eq(now_micros()),
            tenant_tokens::prefix.eq(visible_prefix(token)),
            tenant_tokens::expires_at.eq(expires_at),
            tenant_tokens::rotation_of.eq(rotation_of),
        ))
        .execute(conn)?;
    find_token(conn, tenant, &id)
}

/// Makes a token a live token of the tenant: added, or un-revoked when it was there.
pub fn add_token(conn: &mut DbConnection, tenant: &str, token: &str) -> Result<(), CoreError> {
    let revived = diesel::update(
        tenant_tokens::table
            .filter(tenant_tokens::tenant_id.eq(tenant))
            .filter(tenant_tokens::token_sha256.eq(crate::token::fingerprint(token))),
    )
    .set(tenant_tokens::revoked_at.eq(None::<i64>))
    .execute(conn)?;
    if revived == 0 {
        issue_token(conn, tenant, token, None, None)?;
    }
    Ok(())
}

/// Whether a token (by hash) was ever stored, revoked or not.
pub fn token_known(conn: &mut DbConnection, token: &str) -> Result<bool, CoreError> {
    let found: i64 = tenant_tokens::table
        .filter(tenant_tokens::token_sha256.eq(crate::token::fingerprint(token)))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Revokes every live token of a tenant but this one.
pub fn revoke_other_tokens(conn: &mut DbConnection, tenant: &str, keep: &str) -> Result<usize, CoreError> {
    Ok(diesel::update(
        tenant_tokens::table
            .filter(tenant_tokens::tenant_id.eq(tenant))
            .filter(tenant_tokens::token_sha256.ne(crate::token::fingerprint(keep)))
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

/// A tenant's tokens, oldest first.
pub fn list_tokens(conn: &mut DbConnection, tenant: &str) -> Result<Vec<TokenRecord>, CoreError> {
    get_tenant(conn, tenant)?;
    Ok(tenant_tokens::table
        .filter(tenant_tokens::tenant_id.eq(tenant))
        .order((tenant_tokens::created_at, tenant_tokens::id))
        .select(TokenRecord::as_select())
        .load(conn)?)
}

pub fn find_token(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<TokenRecord, CoreError> {
    tenant_tokens::table
        .filter(tenant_tokens::tenant_id.eq(tenant))
        .filter(tenant_tokens::id.eq(id))
        .select(TokenRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::Scim(ScimError::not_found(format!("tenant '{tenant}' has no token {id}"))))
}

/// Revokes a token (again: a no-op). Effective on the next request, on every replica.
pub fn revoke_token(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<TokenRecord, CoreError> {
    find_token(conn, tenant, id)?;
    diesel::update(
        tenant_tokens::table
            .filter(tenant_tokens::tenant_id.eq(tenant))
            .filter(tenant_tokens::id.eq(id))
            .filter(tenant_tokens::revoked_at.is_null()),
    )
    .set(tenant_tokens::revoked_at.eq(now_micros()))
    .execute(conn)?;
    find_token(conn, tenant, id)
}

/// The live token that is rotating `id` out, if a rotation is under way.
fn pending_rotation(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Option<TokenRecord>, CoreError> {
    Ok(tenant_tokens::table
        .filter(tenant_tokens::tenant_id.eq(tenant))
        .filter(tenant_tokens::rotation_of.eq(id))
        .filter(tenant_tokens::revoked_at.is_null())
        .select(TokenRecord::as_select())
        .first(conn)
        .optional()?)
}

fn conflict(detail: String) -> CoreError {
    CoreError::Scim(ScimError::new(409, None, detail))
}

/// Starts a rotation: stores `new_token` as the successor of token `id`, which keeps working.
pub fn start_rotation(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    new_token: &str,
    expires_at: Option<i64>,
) -> Result<TokenRecord, CoreError> {
    let old = find_token(conn, tenant, id)?;
    if !old.is_live(now_micros()) {
        return Err(conflict(format!("token {id} is revoked or expired: issue a new token instead")));
    }
    if let Some(pending) = pending_rotation(conn, tenant, id)? {
        return Err(conflict(format!(
            "token {id} is already being rotated to token {}: complete or cancel that rotation first",
            pending.id
        )));
    }
    issue_token(conn, tenant, new_token, expires_at, Some(id))
}

/// Ends a rotation: `complete` revokes the old token `id`, otherwise (cancel) the new one.
/// Returns (the revoked token, the one that stays).
pub fn finish_rotation(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    complete: bool,
) -> Result<(TokenRecord, TokenRecord), CoreError> {
    let old = find_token(conn, tenant, id)?;
    let new = pending_rotation(conn, tenant, id)?
        .filter(|_| old.revoked_at.is_none())
        .ok_or_else(|| conflict(format!("token {id} is not being rotated")))?;
    if complete {
        Ok((revoke_token(conn, tenant, &old.id)?, new))
    } else {
        Ok((revoke_token(conn, tenant, &new.id)?, old))
    }
}

/// A tenant's mapping and group-permissions table, compiled, and its lifecycle policy: what
/// every write maps with (compiled once per config revision, see `crate::context`).
pub fn rules(conn: &mut DbConnection, tenant: &str) -> Result<(crate::mapping::Rules, Lifecycle), CoreError> {
    let (mapping, permissions, settings): (Option<String>, Option<String>, String) = tenants::table
        .find(tenant)
        .select((tenants::mapping, tenants::group_permissions, tenants::settings))
        .first(conn)
        .optional()?
        .ok_or_else(|| no_tenant(tenant))?;
    let broken =
        |what: &str, e: String| CoreError::Internal(format!("tenant {tenant}'s stored {what} is invalid: {e}"));
    let config = match mapping {
        Some(text) => crate::mapping::parse_config(&text).map_err(|e| broken("mapping", e.detail))?,
        None => crate::mapping::MappingConfig::default(),
    };
    let permissions: crate::mapping::GroupPermissions = match permissions {
        Some(text) => serde_json::from_str(&text).map_err(|e| broken("group permissions", e.to_string()))?,
        None => Default::default(),
    };
    let rules = crate::mapping::Rules::compile(&config, &permissions).map_err(|e| broken("mapping", e))?;
    let lifecycle = TenantSettings::parse(&settings).map_err(|e| broken("settings", e))?.lifecycle.unwrap_or_default();
    Ok((rules, lifecycle))
}

/// A tenant's stored mapping (the defaults when none) and group permissions.
pub fn mapping_of(
    conn: &mut DbConnection,
    tenant: &str,
) -> Result<(crate::mapping::MappingConfig, crate::mapping::GroupPermissions), CoreError> {
    let (mapping, permissions): (Option<String>, Option<String>) = tenants::table
        .find(tenant)
        .select((tenants::mapping, tenants::group_permissions))
        .first(conn)
        .optional()?
        .ok_or_else(|| no_tenant(tenant))?;
    let config = mapping
        .map(|t| crate::mapping::parse_config(&t))
        .transpose()
        .map_err(|e| CoreError::Internal(format!("tenant {tenant}'s stored mapping is invalid: {}", e.detail)))?
        .unwrap_or_default();
    let permissions = permissions
        .map(|t| serde_json::from_str(&t).map_err(|e| CoreError::Internal(format!("stored group permissions: {e}"))))
        .transpose()?
        .unwrap_or_default();
    Ok((config, permissions))
}

/// A tenant's config revision.
pub fn config_revision(conn: &mut DbConnection, tenant: &str) -> Result<i64, CoreError> {
    tenants::table
        .find(tenant)
        .select(tenants::config_revision)
        .first(conn)
        .optional()?
        .ok_or_else(|| no_tenant(tenant))
}

/// A tenant's config revision, read under a share lock of the tenant's row on PostgreSQL (held
/// until the transaction ends: a change of the revision waits for it). SQLite writers are
/// serialized already.
pub fn lock_config_revision(conn: &mut DbConnection, tenant: &str) -> Result<i64, CoreError> {
    let query = tenants::table.find(tenant).select(tenants::config_revision);
    let found = match conn {
        DbConnection::Postgresql(conn) => query.for_share().first(conn).optional()?,
        DbConnection::Sqlite(conn) => query.first(conn).optional()?,
    };
    found.ok_or_else(|| no_tenant(tenant))
}

/// Locks the tenant's row until the transaction ends (PostgreSQL; SQLite has one writer): for
/// what reads a tenant's tokens or rules and then writes them, so that two such changes at
/// once do not both act on what they read.
pub fn lock_tenant(conn: &mut DbConnection, tenant: &str) -> Result<(), CoreError> {
    let query = tenants::table.find(tenant).select(tenants::id);
    let found: Option<String> = match conn {
        DbConnection::Postgresql(conn) => query.for_update().first(conn).optional()?,
        DbConnection::Sqlite(conn) => query.first(conn).optional()?,
    };
    found.map(|_| ()).ok_or_else(|| no_tenant(tenant))
}

/// The tenant's config revision moves: what requests cached of its rules is compiled again.
pub fn bump_config_revision(conn: &mut DbConnection, tenant: &str) -> Result<(), CoreError> {
    diesel::update(tenants::table.find(tenant))
        .set(tenants::config_revision.eq(tenants::config_revision + 1))
        .execute(conn)?;
    Ok(())
}

/// Stores a tenant's mapping and group permissions (validated together).
pub fn set_mapping(
    conn: &mut DbConnection,
    tenant: &str,
    config: &crate::mapping::MappingConfig,
    permissions: &crate::mapping::GroupPermissions,
) -> Result<(), CoreError> {
    crate::mapping::Rules::compile(config, permissions).map_err(ScimError::invalid_value)?;
    let text = |value: serde_json::Result<String>| value.map_err(|e| CoreError::Internal(e.to_string()));
    let changed = diesel::update(tenants::table.find(tenant))
        .set((
            tenants::mapping.eq(text(serde_json::to_string(config))?),
            tenants::group_permissions.eq(text(serde_json::to_string(permissions))?),
            tenants::config_revision.eq(tenants::config_revision + 1),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Err(no_tenant(tenant));
    }
    Ok(())
}

/// Records when tokens were last used (only ever moves forward).
pub fn touch_tokens(conn: &mut DbConnection, used: &[(String, i64)]) -> Result<(), CoreError> {
    for (id, at) in used {
        diesel::update(
            tenant_tokens::table
                .filter(tenant_tokens::id.eq(id))
                .filter(tenant_tokens::last_used_at.is_null().or(tenant_tokens::last_used_at.lt(*at))),
        )
        .set(tenant_tokens::last_used_at.eq(*at))
        .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_prefixes_show_little_of_the_secret() {
        assert_eq!(visible_prefix("scim_eu_AbCdEfGhIjKlMnOp"), "scim_eu_AbCd");
        assert_eq!(visible_prefix("my-own-secret"), "my-o");
        assert_eq!(visible_prefix("a_b_c"), "a_b_");
    }

    #[test]
    fn settings_are_validated() {
        assert_eq!(TenantSettings::parse("{}").unwrap(), TenantSettings::default());
        let set = TenantSettings::parse(r#"{"rate_limit":{"requests_per_second":25,"burst":50}}"#).unwrap();
        assert_eq!(set.rate_limit, Some(RateLimitSetting { requests_per_second: 25, burst: 50 }));
        assert!(TenantSettings::parse(r#"{"rate_limit":{"requests_per_second":0,"burst":5}}"#).is_err());
        assert!(TenantSettings::parse(r#"{"rate_limit":{"requests_per_second":5}}"#).unwrap_err().contains("burst"));
        assert!(TenantSettings::parse(r#"{"rate_limt":{}}"#).unwrap_err().contains("unknown field"));
        assert!(TenantSettings::parse(r#"{"rate_limit":{"requests_per_second":-1,"burst":5}}"#).is_err());
    }

    #[test]
    fn slugs_are_checked() {
        assert!(check_slug("acme-eu").is_ok());
        for bad in ["a", "-acme", "Acme", "ac me", "acme/x", ""] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
