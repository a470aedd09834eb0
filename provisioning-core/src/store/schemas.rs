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
use crate::schema::tenant_schemas;

fn resource_type(name: &str) -> Option<ResourceType> {
    ResourceType::ALL.into_iter().find(|kind| kind.name().eq_ignore_ascii_case(name))
}

/// The tenant's declared extensions: (resource type, definition in RFC 7643 §7 form).
pub fn declared(conn: &mut DbConnection, tenant: &TenantId) -> Result<Vec<(ResourceType, Value)>, CoreError> {
    let rows: Vec<(String, String)> = tenant_schemas::table
        .filter(tenant_schemas::tenant_id.eq(tenant.as_str()))
        .order(tenant_schemas::created_at.asc())
        .select((tenant_schemas::resource_type, tenant_schemas::definition))
        .load(conn)?;
    rows.into_iter()
        .map(|(kind, definition)| {
            let kind =
                resource_type(&kind).ok_or_else(|| CoreError::Internal(format!("stored resource type {kind}")))?;
            let definition = serde_json::from_str(&definition)
                .map_err(|e| CoreError::Internal(format!("stored schema definition: {e}")))?;
            Ok((kind, definition))
        })
        .collect()
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
pub fn declare(
    conn: &mut DbConnection,
    tenant: &TenantId,
    resource: &str,
    definition: &Value,
) -> Result<String, CoreError> {
    let kind = resource_type(resource)
        .ok_or_else(|| ScimError::invalid_value(format!("resource type '{resource}' is neither User nor Group")))?;
    let schema = SchemaDef::from_json(definition)?;
    let id = schema.id.clone();
    diesel::delete(
        tenant_schemas::table.filter(tenant_schemas::tenant_id.eq(tenant.as_str())).filter(tenant_schemas::id.eq(&id)),
    )
    .execute(conn)?;
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
    Ok(id)
}
