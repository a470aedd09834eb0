//! SCIM Groups. Members are rows of `group_members`; every change to a group first takes the
//! group's row lock, so concurrent membership changes apply one after the other and none is lost.

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::{GroupInput, ResourceType};
use serde_json::{Map, Value, json};

use super::records;
use super::tenants::TenantId;
use super::{StoredResource, fold_case, now_micros, parse_attributes, query};
use crate::error::CoreError;
use crate::events;
use crate::schema::{group_members, scim_groups, scim_users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scim_groups)]
pub struct GroupRow {
    pub tenant_id: String,
    pub id: String,
    pub display_name: String,
    pub display_name_key: String,
    pub external_id: Option<String>,
    pub attributes: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = scim_groups)]
struct GroupRecord<'a> {
    tenant_id: &'a str,
    id: &'a str,
    display_name: &'a str,
    display_name_key: &'a str,
    #[diesel(treat_none_as_null = true)]
    external_id: Option<&'a str>,
    attributes: &'a str,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

/// A group's resource: its attributes with `members` (unless excluded) rendered from the rows.
fn resource(row: &GroupRow, members: Option<&[String]>) -> Result<StoredResource, CoreError> {
    let mut attributes = parse_attributes(&row.attributes)?;
    if let Some(members) = members.filter(|m| !m.is_empty()) {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id, "type": "User"})).collect();
        attributes.insert("members".into(), Value::Array(members));
    }
    Ok(StoredResource {
        id: row.id.clone(),
        attributes,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn members(conn: &mut DbConnection, tenant: &TenantId, group_id: &str) -> Result<Vec<String>, CoreError> {
    Ok(group_members::table
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::member_id)
        .order(group_members::member_id.asc())
        .load(conn)?)
}

fn find(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Option<GroupRow>, CoreError> {
    Ok(scim_groups::table.find((tenant.as_str(), id)).select(GroupRow::as_select()).first(conn).optional()?)
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    exclude_members: bool,
) -> Result<StoredResource, CoreError> {
    let row = find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::Group, id))?;
    let members = if exclude_members { None } else { Some(members(conn, tenant, id)?) };
    resource(&row, members.as_deref())
}

/// The ids that are users of the tenant, in the given order. Their rows are locked until the
/// transaction ends, so a concurrent delete of one of them waits for this membership to commit
/// (and then removes it) instead of missing it. Unknown ids are left out with a warning: a stale
/// member id (a user deleted here, not yet in the IdP) must never block a group's sync.
fn known_users(
    conn: &mut DbConnection,
    tenant: &TenantId,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<String>, CoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let locked = diesel::update(
        scim_users::table.filter(scim_users::tenant_id.eq(tenant.as_str())).filter(scim_users::id.eq_any(ids)),
    )
    .set(scim_users::version.eq(scim_users::version))
    .execute(conn)?;
    if locked == ids.len() {
        return Ok(ids.to_vec());
    }
    let found: Vec<String> = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant.as_str()))
        .filter(scim_users::id.eq_any(ids))
        .select(scim_users::id)
        .load(conn)?;
    let unknown: Vec<&String> = ids.iter().filter(|id| !found.contains(id)).collect();
    crate::provisioning_log::warn(format!(
        "group {group_id}: members {} are not users of this tenant and were left out",
        unknown.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
    ));
    tracing::warn!(
        tenant.id = tenant.as_str(),
        group.id = group_id,
        unknown_members = ?unknown,
        "members that are not users of the tenant were left out"
    );
    Ok(ids.iter().filter(|id| found.contains(id)).cloned().collect())
}

fn insert_members(conn: &mut DbConnection, tenant: &TenantId, group_id: &str, ids: &[String]) -> Result<(), CoreError> {
    for member_id in ids {
        diesel::insert_into(group_members::table)
            .values((
                group_members::tenant_id.eq(tenant.as_str()),
                group_members::group_id.eq(group_id),
                group_members::member_id.eq(member_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn delete_members(conn: &mut DbConnection, tenant: &TenantId, group_id: &str, ids: &[String]) -> Result<(), CoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::delete(
        group_members::table
            .filter(group_members::tenant_id.eq(tenant.as_str()))
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq_any(ids)),
    )
    .execute(conn)?;
    Ok(())
}

pub fn create(conn: &mut DbConnection, tenant: &TenantId, mut input: GroupInput) -> Result<StoredResource, CoreError> {
    scim::validate::check(&super::schemas::registry(conn, tenant)?, ResourceType::Group, &input.attributes)?;
    let id = uuid::Uuid::new_v4().to_string();
    input.member_ids = known_users(conn, tenant, &id, &input.member_ids)?;
    let now = now_micros();
    let attributes = Value::Object(input.attributes.clone()).to_string();
    let key = fold_case(&input.display_name);
    diesel::insert_into(scim_groups::table)
        .values(&GroupRecord {
            tenant_id: tenant.as_str(),
            id: &id,
            display_name: &input.display_name,
            display_name_key: &key,
            external_id: input.external_id.as_deref(),
            attributes: &attributes,
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .execute(conn)?;
    insert_members(conn, tenant, &id, &input.member_ids)?;
    let (rules, _) = super::tenants::rules(conn, tenant.as_str())?;
    records::publish_group(conn, tenant, &rules, &id, Some("group.created"), &input.member_ids, &[])?;
    records::republish_users(conn, tenant, &rules, &input.member_ids)?;
    let row = find(conn, tenant, &id)?.ok_or_else(|| CoreError::Internal("created group vanished".into()))?;
    resource(&row, Some(&input.member_ids))
}

fn lock(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<GroupRow, CoreError> {
    let locked = diesel::update(scim_groups::table.find((tenant.as_str(), id)))
        .set(scim_groups::version.eq(scim_groups::version))
        .execute(conn)?;
    if locked == 0 {
        return Err(CoreError::not_found(ResourceType::Group, id));
    }
    find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::Group, id))
}

/// Changes a group to what `change` computes from its attributes and member ids (PUT and
/// PATCH). Members are diffed into row inserts and deletes; nothing is written, and no event
/// produced, when nothing changed.
pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    if_match: Option<i64>,
    change: impl FnOnce(Map<String, Value>, Vec<String>) -> Result<GroupInput, CoreError>,
) -> Result<StoredResource, CoreError> {
    update_members_of(conn, tenant, id, if_match, change, true)
}

/// [`update`]; `republish` re-publishes the members whose permissions change (not for a user
/// being deleted, whose deletion follows).
fn update_members_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    if_match: Option<i64>,
    change: impl FnOnce(Map<String, Value>, Vec<String>) -> Result<GroupInput, CoreError>,
    republish: bool,
) -> Result<StoredResource, CoreError> {
    let row = lock(conn, tenant, id)?;
    if if_match.is_some_and(|v| v != row.version) {
        return Err(CoreError::version_mismatch(row.version));
    }
    let before_attributes = parse_attributes(&row.attributes)?;
    let before_members = members(conn, tenant, id)?;
    let input = change(before_attributes.clone(), before_members.clone())?;
    if input.attributes != before_attributes {
        let registry = super::schemas::registry(conn, tenant)?;
        scim::validate::check(&registry, ResourceType::Group, &input.attributes)?;
        scim::validate::check_immutable(&registry, ResourceType::Group, &before_attributes, &input.attributes)?;
    }
    let added: Vec<String> = input.member_ids.iter().filter(|m| !before_members.contains(m)).cloned().collect();
    let removed: Vec<String> = before_members.iter().filter(|m| !input.member_ids.contains(m)).cloned().collect();
    let attributes_changed = input.attributes != before_attributes;
    if !attributes_changed && added.is_empty() && removed.is_empty() {
        return resource(&row, Some(&before_members));
    }
    let added = known_users(conn, tenant, id, &added)?;
    if !attributes_changed && added.is_empty() && removed.is_empty() {
        // Only unknown ids were added: nothing changes.
        return resource(&row, Some(&before_members));
    }
    insert_members(conn, tenant, id, &added)?;
    delete_members(conn, tenant, id, &removed)?;
    let version = row.version + 1;
    let now = now_micros();
    let attributes = Value::Object(input.attributes.clone()).to_string();
    let key = fold_case(&input.display_name);
    diesel::update(scim_groups::table.find((tenant.as_str(), id)))
        .set(&GroupRecord {
            tenant_id: tenant.as_str(),
            id,
            display_name: &input.display_name,
            display_name_key: &key,
            external_id: input.external_id.as_deref(),
            attributes: &attributes,
            version,
            created_at: row.created_at,
            updated_at: now,
        })
        .execute(conn)?;
    let after_members = members(conn, tenant, id)?;
    let (rules, _) = super::tenants::rules(conn, tenant.as_str())?;
    let event_type = events::group_event_type(attributes_changed, &added, &removed);
    records::publish_group(conn, tenant, &rules, id, Some(event_type), &added, &removed)?;
    if republish {
        // A renamed team can change every member's permissions; otherwise only those who moved.
        let affected: Vec<String> = if attributes_changed {
            after_members.iter().chain(&removed).cloned().collect()
        } else {
            added.iter().chain(&removed).cloned().collect()
        };
        records::republish_users(conn, tenant, &rules, &affected)?;
    }
    let row = find(conn, tenant, id)?.ok_or_else(|| CoreError::Internal("updated group vanished".into()))?;
    resource(&row, Some(&after_members))
}

/// Removes members from a group (a user being deleted leaves its groups).
pub fn remove_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    leaving: &[String],
) -> Result<(), CoreError> {
    let change = |attributes, mut members: Vec<String>| {
        members.retain(|m| !leaving.contains(m));
        Ok(GroupInput::from_attributes(attributes, members)?)
    };
    update_members_of(conn, tenant, id, None, change, false).map(|_| ())
}

pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str, if_match: Option<i64>) -> Result<(), CoreError> {
    let row = lock(conn, tenant, id)?;
    if if_match.is_some_and(|v| v != row.version) {
        return Err(CoreError::version_mismatch(row.version));
    }
    let former_members = members(conn, tenant, id)?;
    diesel::delete(
        group_members::table
            .filter(group_members::tenant_id.eq(tenant.as_str()))
            .filter(group_members::group_id.eq(id)),
    )
    .execute(conn)?;
    let (rules, _) = super::tenants::rules(conn, tenant.as_str())?;
    records::publish_group_deleted(conn, tenant, &rules, id, &former_members)?;
    diesel::delete(scim_groups::table.find((tenant.as_str(), id))).execute(conn)?;
    records::republish_users(conn, tenant, &rules, &former_members)
}

/// One page of the groups matching `filter`, and how many match in all.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: Option<&scim::Filter>,
    page: query::Page,
    exclude_members: bool,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    search(conn, tenant, filter, None, page, exclude_members)
}

/// One page of the groups matching `filter` in `sort` order (then creation order, then id),
/// and how many match in all.
pub fn search(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: Option<&scim::Filter>,
    sort: Option<&query::Sort>,
    page: query::Page,
    exclude_members: bool,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    let backend = conn.backend();
    let registry = super::schemas::registry(conn, tenant)?;
    let matching = || -> Result<_, CoreError> {
        let mut statement = scim_groups::table.filter(scim_groups::tenant_id.eq(tenant.as_str())).into_boxed();
        if let Some(filter) = filter {
            statement = statement.filter(query::group_predicate(backend, &registry, filter)?);
        }
        Ok(statement)
    };
    let total: i64 = matching()?.count().get_result(conn)?;
    let mut statement = matching()?;
    if let Some(sort) = sort {
        statement = statement.order(query::group_sort(backend, &registry, sort)?);
        statement = statement.then_order_by((scim_groups::created_at.asc(), scim_groups::id.asc()));
    } else {
        statement = statement.order((scim_groups::created_at.asc(), scim_groups::id.asc()));
    }
    let rows: Vec<GroupRow> =
        statement.offset(page.offset()).limit(page.limit()).select(GroupRow::as_select()).load(conn)?;
    let mut resources = Vec::with_capacity(rows.len());
    for row in &rows {
        let members = if exclude_members { None } else { Some(members(conn, tenant, &row.id)?) };
        resources.push(resource(row, members.as_deref())?);
    }
    Ok((total, resources))
}
