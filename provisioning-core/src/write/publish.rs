//! Publishing directory records: the one place where records are mapped, compared with the
//! last one published, and written as events to the outbox, in the write's transaction.
//!
//! A resource's events are numbered by `record_version`, which also moves when only the
//! record changes (a team's permissions, a mapping edit), so the SCIM resource's ETag stays
//! put. A user's record depends on its teams only through their permissions, so membership
//! changes re-publish members only when the team grants permissions.

use std::collections::BTreeMap;

use platform::db::DbConnection;
use proto::{Account, ChangeEvent, Link, ResourceKind, Team};
use scim::ResourceType;
use serde_json::Value;

use crate::context::TenantContext;
use crate::error::CoreError;
use crate::events;
use crate::mapping::{self, UserFacts};
use crate::store::groups::{self, GroupRow};
use crate::store::tenants::TenantId;
use crate::store::users::{self, UserRow};
use crate::store::{now_micros, outbox, parse_attributes};

/// A record to store with its resource, and the event that publishes it.
#[derive(Debug)]
pub struct Published {
    pub record: String,
    pub version: i64,
    pub event: ChangeEvent,
}

fn stored_fields(record: Option<&str>) -> BTreeMap<String, Value> {
    record.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

fn fields_text(fields: &BTreeMap<String, Value>) -> Result<String, CoreError> {
    serde_json::to_string(fields).map_err(|e| CoreError::Internal(format!("record: {e}")))
}

/// Writes an event to the outbox.
pub fn enqueue(conn: &mut DbConnection, event: &ChangeEvent) -> Result<(), CoreError> {
    let kind = if event.resource_kind == ResourceKind::Group as i32 { ResourceType::Group } else { ResourceType::User };
    outbox::enqueue(conn, event, kind)
}

/// The record of a user written by SCIM (a create, an update), with its event: always
/// published, with `event_type`; what mapping warns about goes to `warnings`.
pub fn user_written(
    ctx: &TenantContext,
    facts: &UserFacts<'_>,
    stored: (Option<&str>, i64),
    event_type: &'static str,
    link: Option<Link>,
    warnings: &mut Vec<String>,
) -> Result<Published, CoreError> {
    let (account, mapped_warnings) = ctx.rules().account(facts);
    warnings.extend(mapped_warnings);
    let (record, record_version) = stored;
    let before = stored_fields(record);
    let after = mapping::account_fields(&account);
    let changes = if event_type == "user.created" { Vec::new() } else { mapping::changes(&before, &after) };
    let version = record_version + 1;
    let mut event = events::user_event(event_type, facts.scim_user_id, account, version, false);
    event.changes = changes;
    event.link = link;
    Ok(Published { record: fields_text(&after)?, version, event })
}

/// The record of a group written by SCIM, with its event (`added`/`removed` are account ids).
pub fn team_written(
    team: Team,
    stored: (Option<&str>, i64),
    event_type: &'static str,
    added: Vec<String>,
    removed: Vec<String>,
) -> Result<Published, CoreError> {
    let (record, record_version) = stored;
    let before = stored_fields(record);
    let after = mapping::team_fields(&team);
    let changes = if event_type == "group.created" { Vec::new() } else { mapping::changes(&before, &after) };
    let version = record_version + 1;
    let mut event = events::group_event(event_type, team, version, false, added, removed);
    event.changes = changes;
    Ok(Published { record: fields_text(&after)?, version, event })
}

/// A user's effective permissions: the union of its teams' permissions, from the record last
/// published (kept current by every change that can move them), else from its teams.
pub fn permissions(conn: &mut DbConnection, ctx: &TenantContext, user: &UserRow) -> Result<Vec<String>, CoreError> {
    let recorded = stored_fields(user.record.as_deref()).remove("permissions").and_then(|value| match value {
        Value::Array(items) => items.into_iter().map(|item| item.as_str().map(str::to_owned)).collect(),
        _ => None,
    });
    match recorded {
        Some(permissions) => Ok(permissions),
        None => team_permissions(conn, ctx, &ctx.tenant, &user.id),
    }
}

/// A user's effective permissions from its teams' rows.
fn team_permissions(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Vec<String>, CoreError> {
    let teams = groups::teams_of(conn, tenant, user_id)?;
    let mut permissions: Vec<String> = teams
        .iter()
        .flat_map(|(name, external_id)| ctx.rules().team_permissions(name, external_id.as_deref()))
        .collect();
    permissions.sort();
    permissions.dedup();
    Ok(permissions)
}

/// The facts a user's account is mapped from.
pub fn facts<'a>(
    tenant: &'a TenantId,
    row: &'a UserRow,
    attributes: &'a serde_json::Map<String, Value>,
    permissions: &'a [String],
) -> UserFacts<'a> {
    UserFacts {
        tenant_id: tenant.as_str(),
        account_id: row.account_id(),
        scim_user_id: &row.id,
        user_name: &row.user_name,
        active: row.active,
        attributes,
        permissions,
    }
}

/// Re-publishes a user whose record may have changed through something else than a SCIM write
/// of it (its teams, the tenant's rules): only when the record differs, as `user.updated`.
/// Takes the user's row lock first (PostgreSQL), so that two transactions re-publishing one
/// user publish one after the other, each with its own version. True when published.
pub fn user_derived(conn: &mut DbConnection, ctx: &TenantContext, user_id: &str) -> Result<bool, CoreError> {
    let row = users::lock(conn, &ctx.tenant, user_id)?;
    let attributes = parse_attributes(&row.attributes)?;
    let permissions = team_permissions(conn, ctx, &ctx.tenant, user_id)?;
    let (account, _) = ctx.rules().account(&facts(&ctx.tenant, &row, &attributes, &permissions));
    let before = stored_fields(row.record.as_deref());
    let after = mapping::account_fields(&account);
    if before == after {
        return Ok(false);
    }
    let version = row.record_version + 1;
    users::set_record(conn, &ctx.tenant, user_id, &fields_text(&after)?, version)?;
    let mut event = events::user_event("user.updated", user_id, account, version, false);
    event.changes = mapping::changes(&before, &after);
    enqueue(conn, &event)?;
    Ok(true)
}

/// Re-publishes users after their teams' permissions may have changed.
pub fn republish_users(conn: &mut DbConnection, ctx: &TenantContext, user_ids: &[String]) -> Result<(), CoreError> {
    // One lock order for every transaction: fewer deadlocks between concurrent group changes.
    let mut ordered: Vec<&String> = user_ids.iter().collect();
    ordered.sort();
    ordered.dedup();
    for user_id in ordered {
        user_derived(conn, ctx, user_id)?;
    }
    Ok(())
}

/// Re-publishes a group whose record may have changed under new rules: only when it differs.
fn team_derived(conn: &mut DbConnection, ctx: &TenantContext, group_id: &str) -> Result<bool, CoreError> {
    let row: GroupRow = groups::lock(conn, &ctx.tenant, group_id)?;
    let team = ctx.rules().team(ctx.tenant.as_str(), group_id, &parse_attributes(&row.attributes)?, Vec::new());
    let before = stored_fields(row.record.as_deref());
    let after = mapping::team_fields(&team);
    if before == after {
        return Ok(false);
    }
    let version = row.record_version + 1;
    groups::set_record(conn, &ctx.tenant, group_id, &fields_text(&after)?, version)?;
    let mut event = events::group_event("group.updated", team, version, false, Vec::new(), Vec::new());
    event.changes = mapping::changes(&before, &after);
    enqueue(conn, &event)?;
    Ok(true)
}

/// Re-maps every user and group of a tenant after its rules changed; publishes what changed.
/// Returns how many users and groups were published.
pub fn republish_tenant(conn: &mut DbConnection, ctx: &TenantContext) -> Result<(usize, usize), CoreError> {
    let mut counts = (0, 0);
    for group in groups::all_ids(conn, &ctx.tenant)? {
        counts.1 += usize::from(team_derived(conn, ctx, &group)?);
    }
    for user in users::all_ids(conn, &ctx.tenant)? {
        counts.0 += usize::from(user_derived(conn, ctx, &user)?);
    }
    Ok(counts)
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
