//! The schema extensions a tenant declares. A tenant's registry is the RFC 7643 schemas plus
//! these; it drives validation, filters and discovery for that tenant.

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::schema::{SchemaDef, SchemaRegistry};
use scim::{ResourceType, ScimError};
use serde_json::Value;

use super::now_micros;
use super::tenants::TenantId;
use crate::error::CoreError;
use crate::schema::{scim_groups, scim_users, tenant_schemas};

fn resource_type(name: &str) -> Option<ResourceType> {
    ResourceType::ALL.into_iter().find(|kind| kind.name().eq_ignore_ascii_case(name))
}

/// The tenant's declared extensions: (resource type, definition in RFC 7643 §7 form).
pub fn declared(conn: &mut DbConnection, tenant: &TenantId) -> Result<Vec<(ResourceType, Value)>, CoreError> {
    Ok(list(conn, tenant)?.into_iter().map(|declared| (declared.resource_type, declared.definition)).collect())
}

/// An extension as the admin API lists it.
#[derive(Debug, Clone)]
pub struct Declared {
    pub id: String,
    pub resource_type: ResourceType,
    pub definition: Value,
    pub declared_at: i64,
}

/// The tenant's declared extensions with their ids and times, oldest first.
pub fn list(conn: &mut DbConnection, tenant: &TenantId) -> Result<Vec<Declared>, CoreError> {
    let rows: Vec<(String, String, String, i64)> = tenant_schemas::table
        .filter(tenant_schemas::tenant_id.eq(tenant.as_str()))
        .order(tenant_schemas::created_at.asc())
        .select((
            tenant_schemas::id,
            tenant_schemas::resource_type,
            tenant_schemas::definition,
            tenant_schemas::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, kind, definition, declared_at)| {
            let resource_type =
                resource_type(&kind).ok_or_else(|| CoreError::Internal(format!("stored resource type {kind}")))?;
            let definition = serde_json::from_str(&definition)
                .map_err(|e| CoreError::Internal(format!("stored schema definition: {e}")))?;
            Ok(Declared { id, resource_type, definition, declared_at })
        })
        .collect()
}

/// The tenant's extension `id`, if it declared one.
pub fn find(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Option<Declared>, CoreError> {
    Ok(list(conn, tenant)?.into_iter().find(|declared| declared.id == id))
}

diesel::define_sql_function! {
    /// ASCII lowercase on both backends (PostgreSQL's also folds other letters).
    #[sql_name = "lower"]
    fn ascii_lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// `LIKE` pattern of a JSON object key as serde_json writes it (quoted and escaped), in ASCII
/// lowercase, with `%`, `_` and `\` escaped (escape character `\`).
fn key_pattern(key: &str) -> String {
    let spelt = Value::String(key.to_ascii_lowercase()).to_string();
    let mut pattern = String::from("%");
    for c in spelt.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(":%");
    pattern
}

/// How many of the tenant's users or groups hold attributes of extension `id`: their stored
/// attributes are JSON objects with the extension's URN as a key, in whatever case the IdP
/// wrote it (URNs compare ignoring case).
pub fn holders(conn: &mut DbConnection, tenant: &TenantId, kind: ResourceType, id: &str) -> Result<i64, CoreError> {
    let pattern = key_pattern(id);
    let count = match kind {
        ResourceType::User => scim_users::table
            .filter(scim_users::tenant_id.eq(tenant.as_str()))
            .filter(ascii_lower(scim_users::attributes).like(&pattern).escape('\\'))
            .count()
            .get_result(conn)?,
        ResourceType::Group => scim_groups::table
            .filter(scim_groups::tenant_id.eq(tenant.as_str()))
            .filter(ascii_lower(scim_groups::attributes).like(&pattern).escape('\\'))
            .count()
            .get_result(conn)?,
    };
    Ok(count)
}

/// 409 when users or groups (`kind`) of the tenant hold attributes of extension `id`.
fn refuse_if_held(
    conn: &mut DbConnection,
    tenant: &TenantId,
    kind: ResourceType,
    id: &str,
    advice: &str,
) -> Result<(), CoreError> {
    let holding = holders(conn, tenant, kind, id)?;
    if holding == 0 {
        return Ok(());
    }
    Err(ScimError::new(
        409,
        None,
        format!("{holding} {}(s) of tenant '{}' hold attributes of {id}; {advice}", kind.name(), tenant.as_str()),
    )
    .into())
}

/// Removes extension `id` from the tenant: `Ok(None)` when it has none by that id, 409 when
/// users or groups still hold its attributes (they would keep data no schema describes, and
/// the IdP's next write of them would be refused); else the removed extension.
pub fn remove(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Option<Declared>, CoreError> {
    // SCIM writes take the tenant's row for share: none commits a holder after the count.
    super::tenants::lock_tenant(conn, tenant.as_str())?;
    let Some(found) = find(conn, tenant, id)? else {
        return Ok(None);
    };
    refuse_if_held(conn, tenant, found.resource_type, id, "remove them from those resources first")?;
    diesel::delete(
        tenant_schemas::table.filter(tenant_schemas::tenant_id.eq(tenant.as_str())).filter(tenant_schemas::id.eq(id)),
    )
    .execute(conn)?;
    super::tenants::bump_config_revision(conn, tenant.as_str())?;
    Ok(Some(found))
}

/// The tenant's registry: the RFC 7643 schemas and its declared extensions.
pub fn registry(conn: &mut DbConnection, tenant: &TenantId) -> Result<SchemaRegistry, CoreError> {
    let mut registry = SchemaRegistry::default();
    for (kind, definition) in declared(conn, tenant)? {
        let schema = SchemaDef::from_json(&definition)?;
        registry.register_extension(kind, schema)?;
    }
    Ok(registry)
}

/// Declares (or redeclares) an extension for the tenant's `resource` ("User" or "Group").
/// The definition is checked as RFC 7643 §7 describes; a built-in schema cannot be redeclared.
/// Returns its id, and whether it replaced an earlier declaration.
pub fn declare(
    conn: &mut DbConnection,
    tenant: &TenantId,
    resource: &str,
    definition: &Value,
) -> Result<(String, bool), CoreError> {
    super::tenants::lock_tenant(conn, tenant.as_str())?;
    let kind = resource_type(resource)
        .ok_or_else(|| ScimError::invalid_value(format!("resource type '{resource}' is neither User nor Group")))?;
    let schema = SchemaDef::from_json(definition)?;
    let id = schema.id.clone();
    if let Some(earlier) = find(conn, tenant, &id)?
        && earlier.resource_type != kind
    {
        let advice = format!("it cannot move to {}s while they do", kind.name());
        refuse_if_held(conn, tenant, earlier.resource_type, &id, &advice)?;
    }
    let replaced = diesel::delete(
        tenant_schemas::table.filter(tenant_schemas::tenant_id.eq(tenant.as_str())).filter(tenant_schemas::id.eq(&id)),
    )
    .execute(conn)?
        > 0;
    // Registering checks the URN and that it clashes with no other schema of the tenant.
    registry(conn, tenant)?.register_extension(kind, schema)?;
    diesel::insert_into(tenant_schemas::table)
        .values((
            tenant_schemas::tenant_id.eq(tenant.as_str()),
            tenant_schemas::id.eq(&id),
            tenant_schemas::resource_type.eq(kind.name()),
            tenant_schemas::definition.eq(definition.to_string()),
            tenant_schemas::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    super::tenants::bump_config_revision(conn, tenant.as_str())?;
    Ok((id, replaced))
}
