//! SCIM Users: create, read, update (PUT and PATCH share one path), delete, query.

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::{ResourceType, UserInput};
use serde_json::{Map, Value};

use super::tenants::TenantId;
use super::{StoredResource, fold_case, now_micros, outbox, parse_attributes, query};
use crate::error::CoreError;
use crate::events;
use crate::mapping;
use crate::schema::{group_members, scim_user_emails, scim_users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scim_users)]
pub struct UserRow {
    pub tenant_id: String,
    pub id: String,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub display_name: Option<String>,
    pub attributes: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn to_resource(&self) -> Result<StoredResource, CoreError> {
        Ok(StoredResource {
            id: self.id.clone(),
            attributes: parse_attributes(&self.attributes)?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = scim_users)]
struct UserRecord<'a> {
    tenant_id: &'a str,
    id: &'a str,
    user_name: &'a str,
    user_name_key: &'a str,
    #[diesel(treat_none_as_null = true)]
    external_id: Option<&'a str>,
    active: bool,
    #[diesel(treat_none_as_null = true)]
    display_name: Option<&'a str>,
    attributes: &'a str,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

/// A row's version and timestamps.
#[derive(Debug, Clone, Copy)]
struct Stamps {
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl<'a> UserRecord<'a> {
    fn new(
        tenant: &'a TenantId,
        id: &'a str,
        input: &'a UserInput,
        key: &'a str,
        attributes: &'a str,
        stamps: Stamps,
    ) -> Self {
        let Stamps { version, created_at, updated_at } = stamps;
        Self {
            tenant_id: tenant.as_str(),
            id,
            user_name: &input.user_name,
            user_name_key: key,
            external_id: input.external_id.as_deref(),
            active: input.active,
            display_name: input.display_name.as_deref(),
            attributes,
            version,
            created_at,
            updated_at,
        }
    }
}

pub fn find(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Option<UserRow>, CoreError> {
    Ok(scim_users::table.find((tenant.as_str(), id)).select(UserRow::as_select()).first(conn).optional()?)
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<StoredResource, CoreError> {
    find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::User, id))?.to_resource()
}

/// Fails with 409 `uniqueness` when another user of the tenant has this userName (any case).
fn ensure_unique(
    conn: &mut DbConnection,
    tenant: &TenantId,
    user_name_key: &str,
    except: Option<&str>,
) -> Result<(), CoreError> {
    let holder: Option<String> = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant.as_str()))
        .filter(scim_users::user_name_key.eq(user_name_key))
        .select(scim_users::id)
        .first(conn)
        .optional()?;
    match holder {
        Some(holder) if Some(holder.as_str()) != except => {
            Err(scim::ScimError::uniqueness("userName is already taken in this tenant").into())
        }
        _ => Ok(()),
    }
}

/// Rewrites the user's rows in `scim_user_emails` (what `emails eq` filters look up).
fn sync_emails(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), CoreError> {
    diesel::delete(
        scim_user_emails::table
            .filter(scim_user_emails::tenant_id.eq(tenant.as_str()))
            .filter(scim_user_emails::user_id.eq(id)),
    )
    .execute(conn)?;
    let mut keys: Vec<String> = attributes
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|email| scim::filter::lookup(email, "value").and_then(Value::as_str))
        .map(fold_case)
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        diesel::insert_into(scim_user_emails::table)
            .values((
                scim_user_emails::tenant_id.eq(tenant.as_str()),
                scim_user_emails::user_id.eq(id),
                scim_user_emails::value_key.eq(key),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn create(conn: &mut DbConnection, tenant: &TenantId, mut input: UserInput) -> Result<StoredResource, CoreError> {
    let registry = super::schemas::registry(conn, tenant)?;
    scim::validate::coerce_booleans(&registry, ResourceType::User, &mut input.attributes);
    scim::validate::check(&registry, ResourceType::User, &input.attributes)?;
    let key = fold_case(&input.user_name);
    ensure_unique(conn, tenant, &key, None)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_micros();
    let attributes = Value::Object(input.attributes.clone()).to_string();
    let stamps = Stamps { version: 1, created_at: now, updated_at: now };
    diesel::insert_into(scim_users::table)
        .values(&UserRecord::new(tenant, &id, &input, &key, &attributes, stamps))
        .execute(conn)?;
    sync_emails(conn, tenant, &id, &input.attributes)?;
    let account = mapping::account(tenant.as_str(), &id, &input.attributes, input.active);
    let event = events::user_event(events::user_event_type(None, Some(input.active)), account, 1, false);
    outbox::enqueue(conn, &event, ResourceType::User)?;
    Ok(StoredResource { id, attributes: input.attributes, version: 1, created_at: now, updated_at: now })
}

/// Takes the row lock of a user (PostgreSQL; SQLite writers are serialized already) and reads it.
fn lock(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<UserRow, CoreError> {
    let locked = diesel::update(scim_users::table.find((tenant.as_str(), id)))
        .set(scim_users::version.eq(scim_users::version))
        .execute(conn)?;
    if locked == 0 {
        return Err(CoreError::not_found(ResourceType::User, id));
    }
    find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::User, id))
}

fn check_version(row_version: i64, if_match: Option<i64>) -> Result<(), CoreError> {
    match if_match {
        Some(expected) if expected != row_version => Err(CoreError::version_mismatch(row_version)),
        _ => Ok(()),
    }
}

/// Replaces a user with what `change` computes from its current attributes (PUT and PATCH).
/// Nothing is written, and no event produced, when the result equals what is stored.
pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    if_match: Option<i64>,
    change: impl FnOnce(Map<String, Value>) -> Result<UserInput, CoreError>,
) -> Result<StoredResource, CoreError> {
    let row = lock(conn, tenant, id)?;
    check_version(row.version, if_match)?;
    let before = row.to_resource()?;
    let mut input = change(before.attributes.clone())?;
    let registry = super::schemas::registry(conn, tenant)?;
    scim::validate::coerce_booleans(&registry, ResourceType::User, &mut input.attributes);
    if input.attributes == before.attributes {
        return Ok(before);
    }
    scim::validate::check(&registry, ResourceType::User, &input.attributes)?;
    scim::validate::check_immutable(&registry, ResourceType::User, &before.attributes, &input.attributes)?;
    let key = fold_case(&input.user_name);
    if key != row.user_name_key {
        ensure_unique(conn, tenant, &key, Some(id))?;
    }
    let version = row.version + 1;
    let now = now_micros();
    let attributes = Value::Object(input.attributes.clone()).to_string();
    let stamps = Stamps { version, created_at: row.created_at, updated_at: now };
    diesel::update(scim_users::table.find((tenant.as_str(), id)))
        .set(&UserRecord::new(tenant, id, &input, &key, &attributes, stamps))
        .execute(conn)?;
    sync_emails(conn, tenant, id, &input.attributes)?;
    let account = mapping::account(tenant.as_str(), id, &input.attributes, input.active);
    let event_type = events::user_event_type(Some(row.active), Some(input.active));
    outbox::enqueue(conn, &events::user_event(event_type, account, version, false), ResourceType::User)?;
    Ok(StoredResource {
        id: id.to_owned(),
        attributes: input.attributes,
        version,
        created_at: row.created_at,
        updated_at: now,
    })
}

/// Deletes a user: it leaves every group it was in (each such group gets a new version and a
/// `group.member_removed` event), then the user goes with a `user.deleted` event.
pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str, if_match: Option<i64>) -> Result<(), CoreError> {
    let row = lock(conn, tenant, id)?;
    check_version(row.version, if_match)?;
    let groups: Vec<String> = group_members::table
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::member_id.eq(id))
        .select(group_members::group_id)
        .order(group_members::group_id.asc())
        .load(conn)?;
    for group_id in groups {
        super::groups::remove_members(conn, tenant, &group_id, &[id.to_owned()])?;
    }
    diesel::delete(scim_users::table.find((tenant.as_str(), id))).execute(conn)?;
    let mut account = mapping::account(tenant.as_str(), id, &parse_attributes(&row.attributes)?, row.active);
    account.active = false;
    let event = events::user_event(events::user_event_type(Some(row.active), None), account, row.version + 1, true);
    outbox::enqueue(conn, &event, ResourceType::User)
}

/// One page of the users matching `filter`, and how many match in all.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: Option<&scim::Filter>,
    page: query::Page,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    search(conn, tenant, filter, None, page)
}

/// One page of the users matching `filter` in `sort` order (then creation order, then id, so
/// that pages are stable), and how many match in all.
pub fn search(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: Option<&scim::Filter>,
    sort: Option<&query::Sort>,
    page: query::Page,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    let backend = conn.backend();
    let registry = super::schemas::registry(conn, tenant)?;
    let matching = || -> Result<_, CoreError> {
        let mut statement = scim_users::table.filter(scim_users::tenant_id.eq(tenant.as_str())).into_boxed();
        if let Some(filter) = filter {
            statement = statement.filter(query::user_predicate(backend, &registry, filter)?);
        }
        Ok(statement)
    };
    let total: i64 = matching()?.count().get_result(conn)?;
    let mut statement = matching()?;
    if let Some(sort) = sort {
        statement = statement.order(query::user_sort(backend, &registry, sort)?);
        statement = statement.then_order_by((scim_users::created_at.asc(), scim_users::id.asc()));
    } else {
        statement = statement.order((scim_users::created_at.asc(), scim_users::id.asc()));
    }
    let rows: Vec<UserRow> =
        statement.offset(page.offset()).limit(page.limit()).select(UserRow::as_select()).load(conn)?;
    let resources = rows.iter().map(UserRow::to_resource).collect::<Result<_, _>>()?;
    Ok((total, resources))
}
