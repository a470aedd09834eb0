//! Publishing directory records. Every SCIM write ends here: the resource's record is mapped
//! with the tenant's rules, compared with the last one published (stored with the resource),
//! and published as an event in the write's transaction, with the fields that changed. A
//! resource's events are numbered by `record_version`, which also moves when only the record
//! changes (a team's permissions, a mapping edit), so the SCIM resource's ETag stays put.
//! Membership changes re-publish the members whose effective permissions change.

use std::collections::BTreeMap;

use diesel::prelude::*;
use platform::db::DbConnection;
use proto::{Account, ChangeEvent, Link, Team};
use scim::ResourceType;
use serde_json::Value;

use super::tenants::TenantId;
use super::{now_micros, outbox, parse_attributes};
use crate::error::CoreError;
use crate::events;
use crate::mapping::{self, Rules, UserFacts};
use crate::schema::{group_members, scim_groups, scim_users};

/// Why a user's record is being published.
#[derive(Debug, Clone)]
pub enum UserChange {
    /// A SCIM write of the user: always published (with this event type), with diagnostics.
    Written { event_type: &'static str, link: Option<Link> },
    /// Something else changed (memberships, the tenant's rules): published only when the record
    /// differs, as `user.updated`.
    Derived,
}

fn stored_fields(record: Option<&str>) -> BTreeMap<String, Value> {
    record.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

fn fields_text(fields: &BTreeMap<String, Value>) -> Result<String, CoreError> {
    serde_json::to_string(fields).map_err(|e| CoreError::Internal(format!("record: {e}")))
}

/// The effective permissions of a user: the union of its teams' permissions.
pub fn user_permissions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    user_id: &str,
) -> Result<Vec<String>, CoreError> {
    let teams: Vec<(String, Option<String>)> =
        group_members::table
            .inner_join(scim_groups::table.on(
                scim_groups::tenant_id.eq(group_members::tenant_id).and(scim_groups::id.eq(group_members::group_id)),
            ))
            .filter(group_members::tenant_id.eq(tenant.as_str()))
            .filter(group_members::member_id.eq(user_id))
            .select((scim_groups::display_name, scim_groups::external_id))
            .load(conn)?;
    let mut permissions: Vec<String> =
        teams.iter().flat_map(|(name, external_id)| rules.team_permissions(name, external_id.as_deref())).collect();
    permissions.sort();
    permissions.dedup();
    Ok(permissions)
}

type UserState = (String, Option<String>, String, bool, String, Option<String>, i64);

/// A user's account as it would be published now, with the row's record and record_version.
/// Takes the user's row lock first (PostgreSQL), so that two transactions re-publishing one
/// user (two groups it leaves at once) publish one after the other, each with its own version
/// and the memberships the other committed.
fn current_account(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    user_id: &str,
    diagnose: bool,
) -> Result<(Account, Option<String>, i64), CoreError> {
    let locked = diesel::update(scim_users::table.find((tenant.as_str(), user_id)))
        .set(scim_users::record_version.eq(scim_users::record_version))
        .execute(conn)?;
    if locked == 0 {
        return Err(CoreError::not_found(ResourceType::User, user_id));
    }
    let (id, account_id, user_name, active, attributes, record, record_version): UserState = scim_users::table
        .find((tenant.as_str(), user_id))
        .select((
            scim_users::id,
            scim_users::account_id,
            scim_users::user_name,
            scim_users::active,
            scim_users::attributes,
            scim_users::record,
            scim_users::record_version,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found(ResourceType::User, user_id))?;
    let attributes = parse_attributes(&attributes)?;
    let permissions = user_permissions(conn, tenant, rules, user_id)?;
    let account_id = account_id.unwrap_or_else(|| id.clone());
    let facts = UserFacts {
        tenant_id: tenant.as_str(),
        account_id: &account_id,
        scim_user_id: &id,
        user_name: &user_name,
        active,
        attributes: &attributes,
        permissions: &permissions,
    };
    Ok((rules.account(&facts, diagnose), record, record_version))
}

/// Maps a user and publishes its record (see [`UserChange`]); true when an event was written.
pub fn publish_user(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    user_id: &str,
    change: UserChange,
) -> Result<bool, CoreError> {
    let diagnose = matches!(change, UserChange::Written { .. });
    let (account, record, record_version) = current_account(conn, tenant, rules, user_id, diagnose)?;
    let before = stored_fields(record.as_deref());
    let after = mapping::account_fields(&account);
    let (event_type, link) = match change {
        UserChange::Written { event_type, link } => (event_type, link),
        UserChange::Derived if before == after => return Ok(false),
        UserChange::Derived => ("user.updated", None),
    };
    let changes = if event_type == "user.created" { Vec::new() } else { mapping::changes(&before, &after) };
    let version = record_version + 1;
    diesel::update(scim_users::table.find((tenant.as_str(), user_id)))
        .set((scim_users::record.eq(fields_text(&after)?), scim_users::record_version.eq(version)))
        .execute(conn)?;
    let mut event = events::user_event(event_type, user_id, account, version, false);
    event.changes = changes;
    event.link = link;
    outbox::enqueue(conn, &event, ResourceType::User)?;
    Ok(true)
}

/// Re-publishes the users whose records changed (after memberships or rules changed).
pub fn republish_users(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    user_ids: &[String],
) -> Result<(), CoreError> {
    // One lock order for every transaction: fewer deadlocks between concurrent group changes.
    let mut ordered: Vec<&String> = user_ids.iter().collect();
    ordered.sort();
    ordered.dedup();
    for user_id in ordered {
        publish_user(conn, tenant, rules, user_id, UserChange::Derived)?;
    }
    Ok(())
}

/// The account ids of users (SCIM ids), in the given order; unknown ids keep their SCIM id.
pub fn account_ids(conn: &mut DbConnection, tenant: &TenantId, user_ids: &[String]) -> Result<Vec<String>, CoreError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    // In chunks: SQLite binds at most 32,766 parameters per statement.
    let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(user_ids.len());
    for chunk in user_ids.chunks(1000) {
        let found: Vec<(String, Option<String>)> = scim_users::table
            .filter(scim_users::tenant_id.eq(tenant.as_str()))
            .filter(scim_users::id.eq_any(chunk))
            .select((scim_users::id, scim_users::account_id))
            .load(conn)?;
        pairs.extend(found);
    }
    let pairs: std::collections::HashMap<String, Option<String>> = pairs.into_iter().collect();
    Ok(user_ids.iter().map(|id| pairs.get(id).cloned().flatten().unwrap_or_else(|| id.clone())).collect())
}

/// The team a group is now, with its record and record_version.
fn current_team(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    group_id: &str,
) -> Result<(Team, Option<String>, i64), CoreError> {
    let locked = diesel::update(scim_groups::table.find((tenant.as_str(), group_id)))
        .set(scim_groups::record_version.eq(scim_groups::record_version))
        .execute(conn)?;
    if locked == 0 {
        return Err(CoreError::not_found(ResourceType::Group, group_id));
    }
    let (attributes, record, record_version): (String, Option<String>, i64) = scim_groups::table
        .find((tenant.as_str(), group_id))
        .select((scim_groups::attributes, scim_groups::record, scim_groups::record_version))
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found(ResourceType::Group, group_id))?;
    let members = super::groups::members(conn, tenant, group_id)?;
    let member_accounts = account_ids(conn, tenant, &members)?;
    Ok((
        rules.team(tenant.as_str(), group_id, &parse_attributes(&attributes)?, member_accounts),
        record,
        record_version,
    ))
}

/// Publishes a group's record: always with `event_type` (a SCIM write; `added`/`removed` are
/// SCIM user ids), or, with `None`, only when the team's record changed (as `group.updated`).
/// True when an event was written.
pub fn publish_group(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    group_id: &str,
    event_type: Option<&str>,
    added: &[String],
    removed: &[String],
) -> Result<bool, CoreError> {
    let (team, record, record_version) = current_team(conn, tenant, rules, group_id)?;
    let before = stored_fields(record.as_deref());
    let after = mapping::team_fields(&team);
    let event_type = match event_type {
        Some(event_type) => event_type,
        None if before == after => return Ok(false),
        None => "group.updated",
    };
    let changes = if event_type == "group.created" { Vec::new() } else { mapping::changes(&before, &after) };
    let version = record_version + 1;
    diesel::update(scim_groups::table.find((tenant.as_str(), group_id)))
        .set((scim_groups::record.eq(fields_text(&after)?), scim_groups::record_version.eq(version)))
        .execute(conn)?;
    let (added, removed) = (account_ids(conn, tenant, added)?, account_ids(conn, tenant, removed)?);
    let mut event = events::group_event(event_type, team, version, false, added, removed);
    event.changes = changes;
    outbox::enqueue(conn, &event, ResourceType::Group)?;
    Ok(true)
}

/// The `group.deleted` event of a group about to be removed (its members already gone).
pub fn publish_group_deleted(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    group_id: &str,
    former_members: &[String],
) -> Result<(), CoreError> {
    let (mut team, _, record_version) = current_team(conn, tenant, rules, group_id)?;
    team.member_ids.clear();
    let removed = account_ids(conn, tenant, former_members)?;
    let event = events::group_event("group.deleted", team, record_version + 1, true, Vec::new(), removed);
    outbox::enqueue(conn, &event, ResourceType::Group)
}

/// The last account of a user about to be deleted, and the version its deletion takes.
pub fn final_account(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rules: &Rules,
    user_id: &str,
) -> Result<(Account, i64), CoreError> {
    let (mut account, _, record_version) = current_account(conn, tenant, rules, user_id, false)?;
    account.active = false;
    Ok((account, record_version + 1))
}

/// A `user.purged` event: the account is gone for good; the record keeps only its ids.
pub fn purged_event(
    tenant: &str,
    scim_user_id: &str,
    account_id: &str,
    external_id: Option<String>,
    version: i64,
) -> ChangeEvent {
    let account = Account {
        id: account_id.to_owned(),
        tenant_id: tenant.to_owned(),
        scim_user_id: scim_user_id.to_owned(),
        external_id,
        ..Account::default()
    };
    let mut event = events::user_event("user.purged", scim_user_id, account, version, true);
    event.occurred_at_micros = now_micros();
    event
}

/// Re-maps every user and group of a tenant after its rules changed; publishes what changed.
/// Returns how many users and groups were published.
pub fn republish_tenant(conn: &mut DbConnection, tenant: &TenantId) -> Result<(usize, usize), CoreError> {
    let (rules, _) = super::tenants::rules(conn, tenant.as_str())?;
    let groups: Vec<String> = scim_groups::table
        .filter(scim_groups::tenant_id.eq(tenant.as_str()))
        .select(scim_groups::id)
        .order(scim_groups::id)
        .load(conn)?;
    let users: Vec<String> = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant.as_str()))
        .select(scim_users::id)
        .order(scim_users::id)
        .load(conn)?;
    let mut counts = (0, 0);
    for group in &groups {
        counts.1 += usize::from(publish_group(conn, tenant, &rules, group, None, &[], &[])?);
    }
    for user in &users {
        counts.0 += usize::from(publish_user(conn, tenant, &rules, user, UserChange::Derived)?);
    }
    Ok(counts)
}
