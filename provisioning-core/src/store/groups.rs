//! The rows of SCIM groups: `scim_groups`, and their members as rows of `group_members`. Member
//! lists are read and written in chunks, so that no statement grows with the group (SQLite
//! binds at most 32,766 parameters per statement). What a write means is decided in
//! `crate::write::groups`.

use std::collections::HashSet;

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::ResourceType;
use serde_json::{Value, json};

use super::tenants::TenantId;
use super::{CHUNK, StoredResource, parse_attributes, query};
use crate::error::CoreError;
use crate::schema::{group_members, scim_groups};

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
    /// The team record last published, as named fields (JSON).
    pub record: Option<String>,
    pub record_version: i64,
}

/// A group's row as written by a create or an update.
/// As a changeset it leaves the key columns alone: setting them, even to the same values, makes
/// SQLite check every row that references the row (a group's members: a scan of the group).
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = scim_groups, primary_key(tenant_id, id))]
pub struct GroupWrite<'a> {
    pub tenant_id: &'a str,
    pub id: &'a str,
    pub display_name: &'a str,
    pub display_name_key: &'a str,
    #[diesel(treat_none_as_null = true)]
    pub external_id: Option<&'a str>,
    pub attributes: &'a str,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub record: Option<&'a str>,
    pub record_version: i64,
}

/// The most members one answer of the core carries (a query's page counted together): about
/// 500 KB of JSON, so that no gRPC message grows with a group. A group with more comes without
/// them ([`Members::Omitted`]) and the gateway streams them (`ReadGroup`).
pub const MEMBERS_PER_ANSWER: usize = 10_000;

/// The members an answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    /// Not asked for (`excludedAttributes=members`, a 204 answer).
    Excluded,
    Listed(Vec<String>),
    /// Too many for one answer: to be read with `ReadGroup`.
    Omitted,
}

impl Members {
    /// The members of a list already in memory, as an answer carries them.
    pub fn of(ids: Vec<String>) -> Self {
        if ids.len() > MEMBERS_PER_ANSWER { Members::Omitted } else { Members::Listed(ids) }
    }

    fn count(&self) -> usize {
        match self {
            Members::Listed(ids) => ids.len(),
            _ => 0,
        }
    }
}

/// A group's resource: its attributes with `members` rendered from the rows, when listed.
pub fn resource(
    id: &str,
    attributes: &str,
    stamps: (i64, i64, i64),
    members: &Members,
) -> Result<StoredResource, CoreError> {
    let (version, created_at, updated_at) = stamps;
    let mut attributes = parse_attributes(attributes)?;
    if let Members::Listed(members) = members
        && !members.is_empty()
    {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id, "type": "User"})).collect();
        attributes.insert("members".into(), Value::Array(members));
    }
    let members_omitted = *members == Members::Omitted;
    Ok(StoredResource { id: id.to_owned(), attributes, version, created_at, updated_at, members_omitted })
}

impl GroupRow {
    pub fn to_resource(&self, members: &Members) -> Result<StoredResource, CoreError> {
        resource(&self.id, &self.attributes, (self.version, self.created_at, self.updated_at), members)
    }
}

/// A group's members for an answer: all of them when at most `budget`, else omitted. Reads at
/// most `budget + 1` rows.
pub fn answer_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    group_id: &str,
    budget: usize,
) -> Result<Members, CoreError> {
    let limit = i64::try_from(budget).unwrap_or(i64::MAX - 1) + 1;
    let ids: Vec<String> = group_members::table
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::member_id)
        .order(group_members::member_id.asc())
        .limit(limit)
        .load(conn)?;
    Ok(if ids.len() > budget { Members::Omitted } else { Members::Listed(ids) })
}

/// How many members a group has.
pub fn member_count(conn: &mut DbConnection, tenant: &TenantId, group_id: &str) -> Result<i64, CoreError> {
    Ok(group_members::table
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::group_id.eq(group_id))
        .count()
        .get_result(conn)?)
}

/// Every member of a group, in id order.
pub fn members(conn: &mut DbConnection, tenant: &TenantId, group_id: &str) -> Result<Vec<String>, CoreError> {
    Ok(group_members::table
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::member_id)
        .order(group_members::member_id.asc())
        .load(conn)?)
}

/// Which of `ids` are members of the group: reads only those rows.
pub fn members_among(
    conn: &mut DbConnection,
    tenant: &TenantId,
    group_id: &str,
    ids: &[String],
) -> Result<HashSet<String>, CoreError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<String> = group_members::table
            .filter(group_members::tenant_id.eq(tenant.as_str()))
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq_any(chunk))
            .select(group_members::member_id)
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// Fails with 409 `uniqueness` when another group of the tenant has this displayName (compared
/// case-insensitively) or this externalId: IdPs match groups by `displayName eq`, and a POST
/// retried after a timeout must not create a second group. The unique indexes back it.
pub fn ensure_unique(
    conn: &mut DbConnection,
    tenant: &TenantId,
    display_name_key: &str,
    external_id: Option<&str>,
    except: Option<&str>,
) -> Result<(), CoreError> {
    let holders: Vec<(String, String, Option<String>)> = scim_groups::table
        .filter(scim_groups::tenant_id.eq(tenant.as_str()))
        .filter(scim_groups::display_name_key.eq(display_name_key).or(scim_groups::external_id.eq(external_id)))
        .select((scim_groups::id, scim_groups::display_name_key, scim_groups::external_id))
        .limit(3)
        .load(conn)?;
    let Some((holder, key, _)) = holders.into_iter().find(|(id, _, _)| Some(id.as_str()) != except) else {
        return Ok(());
    };
    let what = if key == display_name_key { "displayName" } else { "externalId" };
    Err(scim::ScimError::uniqueness(format!("a group with this {what} exists in this tenant already (id {holder})"))
        .into())
}

pub fn find(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Option<GroupRow>, CoreError> {
    Ok(scim_groups::table.find((tenant.as_str(), id)).select(GroupRow::as_select()).first(conn).optional()?)
}

/// Takes a group's row lock (PostgreSQL; SQLite writers are serialized already) and reads it:
/// concurrent changes of one group apply one after the other and none is lost.
pub fn lock(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<GroupRow, CoreError> {
    let locked = diesel::update(scim_groups::table.find((tenant.as_str(), id)))
        .set(scim_groups::version.eq(scim_groups::version))
        .execute(conn)?;
    if locked == 0 {
        return Err(CoreError::not_found(ResourceType::Group, id));
    }
    find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::Group, id))
}

pub fn insert(conn: &mut DbConnection, row: &GroupWrite<'_>) -> Result<(), CoreError> {
    diesel::insert_into(scim_groups::table).values(row).execute(conn)?;
    Ok(())
}

pub fn update(conn: &mut DbConnection, row: &GroupWrite<'_>) -> Result<(), CoreError> {
    diesel::update(scim_groups::table.find((row.tenant_id, row.id))).set(row).execute(conn)?;
    Ok(())
}

/// A group's record and its version, when only they change (the record re-published).
pub fn set_record(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    record: &str,
    record_version: i64,
) -> Result<(), CoreError> {
    diesel::update(scim_groups::table.find((tenant.as_str(), id)))
        .set((scim_groups::record.eq(record), scim_groups::record_version.eq(record_version)))
        .execute(conn)?;
    Ok(())
}

pub fn remove(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<(), CoreError> {
    diesel::delete(scim_groups::table.find((tenant.as_str(), id))).execute(conn)?;
    Ok(())
}

/// Adds member rows (none of them may exist yet), a chunk per statement.
pub fn insert_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    group_id: &str,
    ids: &[String],
) -> Result<(), CoreError> {
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|member_id| {
                (
                    group_members::tenant_id.eq(tenant.as_str()),
                    group_members::group_id.eq(group_id),
                    group_members::member_id.eq(member_id),
                )
            })
            .collect();
        platform::db::insert_rows(conn, diesel::insert_into(group_members::table).values(rows))?;
    }
    Ok(())
}

/// Removes member rows, a chunk per statement.
pub fn delete_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    group_id: &str,
    ids: &[String],
) -> Result<(), CoreError> {
    for chunk in ids.chunks(CHUNK) {
        diesel::delete(
            group_members::table
                .filter(group_members::tenant_id.eq(tenant.as_str()))
                .filter(group_members::group_id.eq(group_id))
                .filter(group_members::member_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Removes every member row of a group.
pub fn delete_all_members(conn: &mut DbConnection, tenant: &TenantId, group_id: &str) -> Result<(), CoreError> {
    diesel::delete(
        group_members::table
            .filter(group_members::tenant_id.eq(tenant.as_str()))
            .filter(group_members::group_id.eq(group_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// The teams (name, externalId) a user is a member of.
pub fn teams_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Vec<(String, Option<String>)>, CoreError> {
    Ok(group_members::table
        .inner_join(
            scim_groups::table.on(scim_groups::tenant_id
                .eq(group_members::tenant_id)
                .and(scim_groups::id.eq(group_members::group_id))),
        )
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::member_id.eq(user_id))
        .select((scim_groups::display_name, scim_groups::external_id))
        .load(conn)?)
}

/// Up to `limit` group ids of a tenant after `after`, in id order.
pub fn ids_after(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, CoreError> {
    Ok(super::query::ids_after!(conn, scim_groups, tenant, after, limit))
}

/// One page of the groups matching `filter` in `sort` order (then creation order, then id),
/// and how many match in all; members from their rows unless excluded (within
/// [`MEMBERS_PER_ANSWER`] for the page).
pub fn search(
    conn: &mut DbConnection,
    tenant: &TenantId,
    registry: &scim::schema::SchemaRegistry,
    filter: Option<&scim::Filter>,
    sort: Option<&query::Sort>,
    page: query::Page,
    exclude_members: bool,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    let (total, rows) =
        query::page_of!(conn, scim_groups, GroupRow, ResourceType::Group, tenant, registry, filter, sort, page);
    // The page's members share one budget: a group that does not fit comes without them, and
    // the gateway streams them (`ReadGroup`). The page keeps every group it was asked for: Okta
    // pages by `startIndex += count`, so a shorter page would make it skip groups.
    let mut budget = MEMBERS_PER_ANSWER;
    let mut resources = Vec::with_capacity(rows.len());
    for row in &rows {
        let members = if exclude_members { Members::Excluded } else { answer_members(conn, tenant, &row.id, budget)? };
        budget -= members.count();
        resources.push(row.to_resource(&members)?);
    }
    Ok((total, resources))
}
