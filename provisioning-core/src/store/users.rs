//! SCIM Users: create, read, update (PUT and PATCH share one path), delete, query.

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::{ResourceType, UserInput};
use serde_json::{Map, Value};

use super::records::{self, UserChange};
use super::tenants::DeleteMode;
use super::tenants::TenantId;
use super::{StoredResource, fold_case, now_micros, outbox, parse_attributes, query};
use crate::error::CoreError;
use crate::events;
use crate::schema::{account_tombstones, group_members, scim_user_emails, scim_users};
use proto::Link;

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

pub fn create(conn: &mut DbConnection, tenant: &TenantId, input: UserInput) -> Result<StoredResource, CoreError> {
    create_linked(conn, tenant, input, None)
}

/// Creates a user. Its account is a new one, or the soft-deleted account of the same userName
/// (restored, within its tombstone period), or `candidate`: an account the product made by
/// hand with the user's email (when the tenant links by email and no other user has it).
pub fn create_linked(
    conn: &mut DbConnection,
    tenant: &TenantId,
    mut input: UserInput,
    candidate: Option<String>,
) -> Result<StoredResource, CoreError> {
    let registry = super::schemas::registry(conn, tenant)?;
    scim::validate::coerce_booleans(&registry, ResourceType::User, &mut input.attributes);
    scim::validate::check(&registry, ResourceType::User, &input.attributes)?;
    let key = fold_case(&input.user_name);
    ensure_unique(conn, tenant, &key, None)?;
    let (rules, lifecycle) = super::tenants::rules(conn, tenant.as_str())?;
    let id = uuid::Uuid::new_v4().to_string();
    let tombstone = match lifecycle.delete {
        DeleteMode::Soft => account_tombstones::table
            .filter(account_tombstones::tenant_id.eq(tenant.as_str()))
            .filter(account_tombstones::user_name_key.eq(&key))
            .order(account_tombstones::deleted_at.desc())
            .select((
                account_tombstones::account_id,
                account_tombstones::record_version,
                account_tombstones::scim_user_id,
                account_tombstones::external_id,
            ))
            .first::<(String, i64, String, Option<String>)>(conn)
            .optional()?,
        DeleteMode::Hard => None,
    };
    // A tombstone a concurrent purge removed first is no tombstone.
    let tombstone = match tombstone {
        Some((account_id, version, former, external_id)) => {
            let taken = diesel::delete(account_tombstones::table.find((tenant.as_str(), &account_id))).execute(conn)?;
            (taken == 1).then_some((account_id, version, former, external_id))
        }
        None => None,
    };
    let (account_id, record_version, link) = match (tombstone, candidate) {
        (Some((account_id, record_version, former, external_id)), _) => {
            // The former SCIM user's last event (keyed by its id) holds personal data and would
            // stay in a compacted topic: close that key with a purged record.
            let closed = records::purged_event(tenant.as_str(), &former, &account_id, external_id, record_version + 1);
            outbox::enqueue(conn, &closed, ResourceType::User)?;
            let link = Link { account_id: account_id.clone(), reason: "restored".to_owned() };
            (account_id, record_version + 1, Some(link))
        }
        (None, Some(candidate)) if lifecycle.link_by_email && !account_taken(conn, tenant, &candidate)? => {
            let link = Link { account_id: candidate.clone(), reason: "email".to_owned() };
            (candidate, 0, Some(link))
        }
        _ => (id.clone(), 0, None),
    };
    let now = now_micros();
    let attributes = Value::Object(input.attributes.clone()).to_string();
    let stamps = Stamps { version: 1, created_at: now, updated_at: now };
    diesel::insert_into(scim_users::table)
        .values((
            &UserRecord::new(tenant, &id, &input, &key, &attributes, stamps),
            scim_users::account_id.eq(&account_id),
            scim_users::record_version.eq(record_version),
        ))
        .execute(conn)?;
    sync_emails(conn, tenant, &id, &input.attributes)?;
    records::publish_user(conn, tenant, &rules, &id, UserChange::Written { event_type: "user.created", link })?;
    Ok(StoredResource { id, attributes: input.attributes, version: 1, created_at: now, updated_at: now })
}

/// Whether a user of the tenant already provisions this account.
fn account_taken(conn: &mut DbConnection, tenant: &TenantId, account_id: &str) -> Result<bool, CoreError> {
    let found: i64 = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant.as_str()))
        .filter(scim_users::account_id.eq(account_id))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// The email a new user would get under the tenant's rules (to look for an account to link).
pub fn email_for_linking(
    conn: &mut DbConnection,
    tenant: &TenantId,
    attributes: &Map<String, Value>,
) -> Result<Option<String>, CoreError> {
    let (rules, lifecycle) = super::tenants::rules(conn, tenant.as_str())?;
    Ok(if lifecycle.link_by_email { rules.email(attributes) } else { None })
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
    let (rules, _) = super::tenants::rules(conn, tenant.as_str())?;
    let event_type = events::user_event_type(Some(row.active), Some(input.active));
    records::publish_user(conn, tenant, &rules, id, UserChange::Written { event_type, link: None })?;
    Ok(StoredResource {
        id: id.to_owned(),
        attributes: input.attributes,
        version,
        created_at: row.created_at,
        updated_at: now,
    })
}

/// Deletes a user: it leaves every group it was in (each such group gets a `group.member_removed`
/// event), then the user goes with a `user.deleted` event. Under a soft-delete policy its
/// account stays as a tombstone until purged (`user.purged`, by [`purge_due`]); under a hard
/// one `user.purged` follows at once.
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
    let (rules, lifecycle) = super::tenants::rules(conn, tenant.as_str())?;
    let (account, version) = records::final_account(conn, tenant, &rules, id)?;
    let account_id = account.id.clone();
    diesel::delete(scim_users::table.find((tenant.as_str(), id))).execute(conn)?;
    let mut event = events::user_event("user.deleted", id, account, version, true);
    match lifecycle.delete {
        DeleteMode::Soft => {
            let now = now_micros();
            let purge_after = now + i64::from(lifecycle.tombstone_days) * 86_400_000_000;
            diesel::delete(account_tombstones::table.find((tenant.as_str(), &account_id))).execute(conn)?;
            diesel::insert_into(account_tombstones::table)
                .values((
                    account_tombstones::tenant_id.eq(tenant.as_str()),
                    account_tombstones::account_id.eq(&account_id),
                    account_tombstones::user_name_key.eq(&row.user_name_key),
                    account_tombstones::scim_user_id.eq(id),
                    account_tombstones::external_id.eq(&row.external_id),
                    account_tombstones::record_version.eq(version),
                    account_tombstones::deleted_at.eq(now),
                    account_tombstones::purge_after.eq(purge_after),
                ))
                .execute(conn)?;
            event.purge_after_micros = Some(purge_after);
            outbox::enqueue(conn, &event, ResourceType::User)
        }
        DeleteMode::Hard => {
            outbox::enqueue(conn, &event, ResourceType::User)?;
            let purged = records::purged_event(tenant.as_str(), id, &account_id, row.external_id.clone(), version + 1);
            outbox::enqueue(conn, &purged, ResourceType::User)
        }
    }
}

/// Purges the tombstones whose time has come, each with a `user.purged` event. Returns how many.
pub fn purge_due(conn: &mut DbConnection, now: i64) -> Result<usize, CoreError> {
    type Due = (String, String, String, Option<String>, i64);
    let due: Vec<Due> = account_tombstones::table
        .filter(account_tombstones::purge_after.le(now))
        .order(account_tombstones::purge_after.asc())
        .limit(1000)
        .select((
            account_tombstones::tenant_id,
            account_tombstones::account_id,
            account_tombstones::scim_user_id,
            account_tombstones::external_id,
            account_tombstones::record_version,
        ))
        .load(conn)?;
    let mut purged = 0;
    for (tenant, account_id, scim_user_id, external_id, version) in &due {
        // Another replica's purge or a restore may have taken it meanwhile: then no event.
        if diesel::delete(account_tombstones::table.find((tenant, account_id))).execute(conn)? == 1 {
            let event = records::purged_event(tenant, scim_user_id, account_id, external_id.clone(), version + 1);
            outbox::enqueue(conn, &event, ResourceType::User)?;
            purged += 1;
        }
    }
    Ok(purged)
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
