//! The rows of SCIM users: `scim_users`, their email keys (`scim_user_emails`, what `emails eq`
//! filters look up) and the tombstones of soft-deleted accounts. What a write means is decided
//! in `crate::write::users`; this module only reads and writes rows.

use diesel::prelude::*;
use platform::db::DbConnection;
use scim::ResourceType;
use serde_json::{Map, Value};

use super::tenants::TenantId;
use super::{StoredResource, fold_case, parse_attributes, query};
use crate::error::CoreError;
use crate::schema::{account_tombstones, group_members, scim_user_emails, scim_users};

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
    pub account_id: Option<String>,
    /// The account record last published, as named fields (JSON).
    pub record: Option<String>,
    pub record_version: i64,
}

impl UserRow {
    pub fn to_resource(&self) -> Result<StoredResource, CoreError> {
        Ok(StoredResource {
            id: self.id.clone(),
            attributes: parse_attributes(&self.attributes)?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            members_omitted: false,
        })
    }

    /// The account this user provisions (its own id unless linked or restored).
    pub fn account_id(&self) -> &str {
        self.account_id.as_deref().unwrap_or(&self.id)
    }
}

/// A user's row as written by a create or an update.
/// As a changeset it leaves the key columns alone: setting them, even to the same values, makes
/// SQLite check every row that references the row (a group's members: a scan of the group).
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = scim_users, primary_key(tenant_id, id))]
pub struct UserWrite<'a> {
    pub tenant_id: &'a str,
    pub id: &'a str,
    pub user_name: &'a str,
    pub user_name_key: &'a str,
    #[diesel(treat_none_as_null = true)]
    pub external_id: Option<&'a str>,
    pub active: bool,
    #[diesel(treat_none_as_null = true)]
    pub display_name: Option<&'a str>,
    pub attributes: &'a str,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub record: Option<&'a str>,
    pub record_version: i64,
}

pub fn find(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Option<UserRow>, CoreError> {
    Ok(scim_users::table.find((tenant.as_str(), id)).select(UserRow::as_select()).first(conn).optional()?)
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<StoredResource, CoreError> {
    find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::User, id))?.to_resource()
}

/// Takes the row lock of a user (PostgreSQL; SQLite writers are serialized already) and reads it.
pub fn lock(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<UserRow, CoreError> {
    let locked = diesel::update(scim_users::table.find((tenant.as_str(), id)))
        .set(scim_users::version.eq(scim_users::version))
        .execute(conn)?;
    if locked == 0 {
        return Err(CoreError::not_found(ResourceType::User, id));
    }
    find(conn, tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::User, id))
}

/// Fails with 409 `uniqueness` when another user of the tenant has this userName (any case).
pub fn ensure_unique(
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

pub fn insert(conn: &mut DbConnection, row: &UserWrite<'_>, account_id: &str) -> Result<(), CoreError> {
    diesel::insert_into(scim_users::table).values((row, scim_users::account_id.eq(account_id))).execute(conn)?;
    Ok(())
}

pub fn update(conn: &mut DbConnection, row: &UserWrite<'_>) -> Result<(), CoreError> {
    diesel::update(scim_users::table.find((row.tenant_id, row.id))).set(row).execute(conn)?;
    Ok(())
}

/// A user's record and its version, when only they change (the record re-published).
pub fn set_record(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    record: &str,
    record_version: i64,
) -> Result<(), CoreError> {
    diesel::update(scim_users::table.find((tenant.as_str(), id)))
        .set((scim_users::record.eq(record), scim_users::record_version.eq(record_version)))
        .execute(conn)?;
    Ok(())
}

pub fn remove(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<(), CoreError> {
    diesel::delete(scim_users::table.find((tenant.as_str(), id))).execute(conn)?;
    Ok(())
}

/// The folded email values of a user's attributes, sorted and without repeats.
pub fn email_keys(attributes: &Map<String, Value>) -> Vec<String> {
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
    keys
}

/// Adds a user's email keys (one statement per chunk: a user usually has one or two).
pub fn insert_emails(conn: &mut DbConnection, tenant: &TenantId, id: &str, keys: &[String]) -> Result<(), CoreError> {
    for chunk in keys.chunks(super::CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|key| {
                (
                    scim_user_emails::tenant_id.eq(tenant.as_str()),
                    scim_user_emails::user_id.eq(id),
                    scim_user_emails::value_key.eq(key),
                )
            })
            .collect();
        platform::db::insert_rows(conn, diesel::insert_into(scim_user_emails::table).values(rows))?;
    }
    Ok(())
}

/// Replaces a user's email keys.
pub fn replace_emails(conn: &mut DbConnection, tenant: &TenantId, id: &str, keys: &[String]) -> Result<(), CoreError> {
    diesel::delete(
        scim_user_emails::table
            .filter(scim_user_emails::tenant_id.eq(tenant.as_str()))
            .filter(scim_user_emails::user_id.eq(id)),
    )
    .execute(conn)?;
    insert_emails(conn, tenant, id, keys)
}

/// Whether a user of the tenant already provisions this account.
pub fn account_taken(conn: &mut DbConnection, tenant: &TenantId, account_id: &str) -> Result<bool, CoreError> {
    let found: i64 = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant.as_str()))
        .filter(scim_users::account_id.eq(account_id))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// The groups a user is a member of, in id order.
pub fn groups_of(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Vec<String>, CoreError> {
    Ok(group_members::table
        .filter(group_members::tenant_id.eq(tenant.as_str()))
        .filter(group_members::member_id.eq(id))
        .select(group_members::group_id)
        .order(group_members::group_id.asc())
        .load(conn)?)
}

/// Locks the users among `ids` (PostgreSQL row locks until the transaction ends) and returns
/// those that exist with their account ids, in the order given; in chunks (SQLite binds at
/// most 32,766 parameters per statement). Locked, a concurrent delete of one of them waits for
/// the membership being written to commit, and then removes it, instead of missing it.
/// The account ids of these users (those that exist), read in chunks.
pub fn accounts_of(conn: &mut DbConnection, tenant: &TenantId, ids: &[String]) -> Result<Vec<String>, CoreError> {
    let mut accounts = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::CHUNK) {
        accounts.extend(account_ids_of(conn, tenant, chunk)?.into_iter().map(|(_, account)| account));
    }
    Ok(accounts)
}

pub fn lock_existing(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<Vec<(String, String)>, CoreError> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    // Locked in id order, as every transaction that locks several users does (group writes,
    // background re-publishing): two of them never wait for each other in a cycle.
    let mut ordered: Vec<&String> = ids.iter().collect();
    ordered.sort();
    let ordered: Vec<String> = ordered.into_iter().cloned().collect();
    for chunk in ordered.chunks(super::CHUNK) {
        diesel::update(
            scim_users::table.filter(scim_users::tenant_id.eq(tenant.as_str())).filter(scim_users::id.eq_any(chunk)),
        )
        .set(scim_users::version.eq(scim_users::version))
        .execute(conn)?;
        found.extend(account_ids_of(conn, tenant, chunk)?);
    }
    Ok(ids.iter().filter_map(|id| found.get(id).map(|account| (id.clone(), account.clone()))).collect())
}

/// The account ids of those of `ids` (at most [`super::CHUNK`]) that are users of the tenant.
fn account_ids_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<Vec<(String, String)>, CoreError> {
    let rows: Vec<(String, Option<String>)> = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant.as_str()))
        .filter(scim_users::id.eq_any(ids))
        .select((scim_users::id, scim_users::account_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, account)| {
            let account = account.unwrap_or_else(|| id.clone());
            (id, account)
        })
        .collect())
}

/// Up to `limit` user ids of a tenant after `after`, in id order.
pub fn ids_after(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, CoreError> {
    Ok(super::query::ids_after!(conn, scim_users, tenant, after, limit))
}

/// A soft-deleted account of this userName, taken (removed from the tombstones) to be restored:
/// (account id, record version, former SCIM user id, former externalId). A tombstone that stored
/// an externalId is restored only for that same externalId: a new hire given a former
/// employee's recycled userPrincipalName gets a new account, not that person's. A tombstone that
/// a concurrent purge removed first is none.
pub fn take_tombstone(
    conn: &mut DbConnection,
    tenant: &TenantId,
    user_name_key: &str,
    external_id: Option<&str>,
) -> Result<Option<Tombstone>, CoreError> {
    // `= NULL` is never true: a request without externalId restores only tombstones without one.
    let same_person = account_tombstones::external_id.is_null().or(account_tombstones::external_id.eq(external_id));
    let found = account_tombstones::table
        .filter(account_tombstones::tenant_id.eq(tenant.as_str()))
        .filter(account_tombstones::user_name_key.eq(user_name_key))
        .filter(same_person)
        // The same externalId before a tombstone that stored none; then the latest.
        .order((account_tombstones::external_id.is_null().asc(), account_tombstones::deleted_at.desc()))
        .select((
            account_tombstones::account_id,
            account_tombstones::record_version,
            account_tombstones::scim_user_id,
            account_tombstones::external_id,
        ))
        .first::<(String, i64, String, Option<String>)>(conn)
        .optional()?;
    let Some((account_id, record_version, scim_user_id, external_id)) = found else { return Ok(None) };
    let taken = diesel::delete(account_tombstones::table.find((tenant.as_str(), &account_id))).execute(conn)?;
    Ok((taken == 1).then_some(Tombstone { account_id, record_version, scim_user_id, external_id }))
}

/// A soft-deleted account, kept until its purge.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub account_id: String,
    pub record_version: i64,
    pub scim_user_id: String,
    pub external_id: Option<String>,
}

/// Keeps a deleted user's account as a tombstone until `purge_after`.
pub fn bury(
    conn: &mut DbConnection,
    tenant: &TenantId,
    row: &UserRow,
    record_version: i64,
    now: i64,
    purge_after: i64,
) -> Result<(), CoreError> {
    let account_id = row.account_id();
    diesel::delete(account_tombstones::table.find((tenant.as_str(), account_id))).execute(conn)?;
    diesel::insert_into(account_tombstones::table)
        .values((
            account_tombstones::tenant_id.eq(tenant.as_str()),
            account_tombstones::account_id.eq(account_id),
            account_tombstones::user_name_key.eq(&row.user_name_key),
            account_tombstones::scim_user_id.eq(&row.id),
            account_tombstones::external_id.eq(&row.external_id),
            account_tombstones::record_version.eq(record_version),
            account_tombstones::deleted_at.eq(now),
            account_tombstones::purge_after.eq(purge_after),
        ))
        .execute(conn)?;
    Ok(())
}

/// Tombstones whose purge is due (at most 1,000), as (tenant, account, tombstone).
pub fn due_tombstones(conn: &mut DbConnection, now: i64) -> Result<Vec<(String, Tombstone)>, CoreError> {
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
    Ok(due
        .into_iter()
        .map(|(tenant, account_id, scim_user_id, external_id, record_version)| {
            (tenant, Tombstone { account_id, record_version, scim_user_id, external_id })
        })
        .collect())
}

/// Removes one tombstone; false when another replica's purge or a restore took it first.
pub fn remove_tombstone(conn: &mut DbConnection, tenant: &str, account_id: &str) -> Result<bool, CoreError> {
    Ok(diesel::delete(account_tombstones::table.find((tenant, account_id))).execute(conn)? == 1)
}

/// One page of the users matching `filter` in `sort` order (then creation order, then id, so
/// that pages are stable), and how many match in all.
pub fn search(
    conn: &mut DbConnection,
    tenant: &TenantId,
    registry: &scim::schema::SchemaRegistry,
    filter: Option<&scim::Filter>,
    sort: Option<&query::Sort>,
    page: query::Page,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    let (total, rows) =
        query::page_of!(conn, scim_users, UserRow, ResourceType::User, tenant, registry, filter, sort, page);
    let resources = rows.iter().map(UserRow::to_resource).collect::<Result<_, _>>()?;
    Ok((total, resources))
}
