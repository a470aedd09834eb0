//! SCIM Groups through the pipeline. A change of a group takes its row lock first, so that
//! concurrent membership changes apply one after the other and none is lost; its membership
//! part is resolved into the rows it adds and removes ([`super::membership`]), and only those
//! rows are read and written.

use platform::db::DbConnection;
use scim::{GroupInput, ResourceType};
use serde_json::Value;

use super::membership::{self, Delta};
use super::{Group, Kind, Search, Write, check_version, publish};
use crate::context::TenantContext;
use crate::error::CoreError;
use crate::events;
use crate::store::groups::{self, GroupRow, GroupWrite, Members};
use crate::store::jobs;
use crate::store::tenants::TenantId;
use crate::store::users::{self, UserRow};
use crate::store::{StoredResource, fold_case, now_micros, parse_attributes};

/// The most unknown member ids one warning lists.
const LISTED_UNKNOWN: usize = 10;

impl Kind for Group {
    const TYPE: ResourceType = ResourceType::Group;
    type Input = GroupInput;

    fn create(w: &mut Write<'_>, input: GroupInput) -> Result<StoredResource, CoreError> {
        let (ctx, tenant) = (w.ctx, &w.ctx.tenant);
        scim::validate::check(ctx.registry(), ResourceType::Group, &input.attributes)?;
        let key = fold_case(&input.display_name);
        groups::ensure_unique(w.conn, tenant, &key, input.external_id.as_deref(), None)?;
        let id = uuid::Uuid::new_v4().to_string();
        let named = membership::net(&[], vec![scim::patch::MemberChange::Add(input.member_ids)]).added;
        let (members, _) = known_users(w, &id, &named, &[])?;
        let (ids, accounts): (Vec<String>, Vec<String>) = members.into_iter().unzip();
        let team = ctx.rules().team(tenant.as_str(), &id, &input.attributes, Vec::new());
        let grants = !team.permissions.is_empty();
        let published = publish::team_written(team, (None, 0), Some("group.created"), accounts, Vec::new())?;
        let now = now_micros();
        let attributes = Value::Object(input.attributes.clone()).to_string();
        groups::insert(
            w.conn,
            &GroupWrite {
                tenant_id: tenant.as_str(),
                id: &id,
                display_name: &input.display_name,
                display_name_key: &key,
                external_id: input.external_id.as_deref(),
                attributes: &attributes,
                version: 1,
                created_at: now,
                updated_at: now,
                record: Some(&published.record),
                record_version: published.version,
            },
        )?;
        groups::insert_members(w.conn, tenant, &id, &ids)?;
        for event in &published.events {
            publish::enqueue(w.conn, event)?;
        }
        if grants {
            publish::republish_users(w.conn, ctx, &ids, &format!("group {id} created"))?;
        }
        groups::resource(&id, &attributes, (1, now, now), &Members::of(ids))
    }

    /// A PUT: the member list is replaced, so every member is read to tell what changed.
    fn replace(
        w: &mut Write<'_>,
        id: &str,
        if_match: Option<&[i64]>,
        input: GroupInput,
    ) -> Result<StoredResource, CoreError> {
        let row = groups::lock(w.conn, &w.ctx.tenant, id)?;
        check_version(row.version, if_match)?;
        let current = groups::members(w.conn, &w.ctx.tenant, id)?;
        let delta = membership::net(&current, vec![scim::patch::MemberChange::Replace(input.member_ids.clone())]);
        apply(w, row, input, delta, Republish::Affected, true)
    }

    fn patch(
        w: &mut Write<'_>,
        id: &str,
        if_match: Option<&[i64]>,
        operations: Vec<scim::PatchOperation>,
        with_members: bool,
    ) -> Result<StoredResource, CoreError> {
        let row = groups::lock(w.conn, &w.ctx.tenant, id)?;
        check_version(row.version, if_match)?;
        let (attributes, changes) = scim::patch::patch_group_parts(parse_attributes(&row.attributes)?, operations)?;
        let input = GroupInput::from_attributes(attributes, Vec::new())?;
        let delta = membership::resolve(w.conn, &w.ctx.tenant, id, changes)?;
        apply(w, row, input, delta, Republish::Affected, with_members)
    }

    fn delete(w: &mut Write<'_>, id: &str, if_match: Option<&[i64]>) -> Result<(), CoreError> {
        let (ctx, tenant) = (w.ctx, &w.ctx.tenant);
        let row = groups::lock(w.conn, tenant, id)?;
        check_version(row.version, if_match)?;
        let team = ctx.rules().team(tenant.as_str(), id, &parse_attributes(&row.attributes)?, Vec::new());
        // The members' permissions change when the team grants some: re-published here when
        // they are few, else by a background job (the list copied before the rows go).
        let reason = format!("group {id} deleted");
        let mut former = Vec::new();
        if !team.permissions.is_empty() {
            if groups::member_count(w.conn, tenant, id)? as usize > publish::REPUBLISHED_IN_REQUEST {
                jobs::members_job(w.conn, tenant, &reason, id, &[])?;
            } else {
                former = groups::members(w.conn, tenant, id)?;
            }
        }
        groups::delete_all_members(w.conn, tenant, id)?;
        // A deleted team has no members: the event lists none, whatever the team's size.
        let event = events::group_event("group.deleted", team, row.record_version + 1, true, Vec::new(), Vec::new());
        publish::enqueue(w.conn, &event)?;
        groups::remove(w.conn, tenant, id)?;
        publish::republish_users(w.conn, ctx, &former, &reason)?;
        Ok(())
    }

    fn get(
        conn: &mut DbConnection,
        ctx: &TenantContext,
        id: &str,
        exclude_members: bool,
    ) -> Result<StoredResource, CoreError> {
        let row = groups::find(conn, &ctx.tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::Group, id))?;
        let members = if exclude_members { Members::Excluded } else { answer(conn, &ctx.tenant, id)? };
        row.to_resource(&members)
    }

    fn search(
        conn: &mut DbConnection,
        ctx: &TenantContext,
        search: &Search<'_>,
    ) -> Result<(i64, Vec<StoredResource>), CoreError> {
        let Search { filter, sort, page, exclude_members } = *search;
        groups::search(conn, &ctx.tenant, ctx.registry(), filter, sort, page, exclude_members)
    }
}

/// A group without its members, and all its members, in id order (for `ReadGroup`; the caller
/// reads both in one snapshot).
pub fn read_all(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    id: &str,
) -> Result<(StoredResource, Vec<String>), CoreError> {
    let row = groups::find(conn, &ctx.tenant, id)?.ok_or_else(|| CoreError::not_found(ResourceType::Group, id))?;
    Ok((row.to_resource(&Members::Excluded)?, groups::members(conn, &ctx.tenant, id)?))
}

/// Which users a group change re-publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Republish {
    /// Those whose permissions it may change.
    Affected,
    /// None: the user leaving is being deleted, and its deletion follows.
    None,
}

/// A user being deleted leaves one of its groups.
pub(super) fn leave(w: &mut Write<'_>, group_id: &str, user: &UserRow) -> Result<(), CoreError> {
    let row = groups::lock(w.conn, &w.ctx.tenant, group_id)?;
    let input = GroupInput::from_attributes(parse_attributes(&row.attributes)?, Vec::new())?;
    let delta = Delta { added: Vec::new(), removed: vec![user.id.clone()] };
    apply(w, row, input, delta, Republish::None, false).map(|_| ())
}

/// Writes a group change: its attributes (validated when they changed) and its membership
/// delta, then publishes it. Nothing is written, and no event produced, when nothing changed.
fn apply(
    w: &mut Write<'_>,
    row: GroupRow,
    input: GroupInput,
    delta: Delta,
    republish: Republish,
    with_members: bool,
) -> Result<StoredResource, CoreError> {
    let (ctx, tenant) = (w.ctx, &w.ctx.tenant);
    let before_attributes = parse_attributes(&row.attributes)?;
    let attributes_changed = input.attributes != before_attributes;
    if attributes_changed {
        scim::validate::check(ctx.registry(), ResourceType::Group, &input.attributes)?;
        scim::validate::check_immutable(ctx.registry(), ResourceType::Group, &before_attributes, &input.attributes)?;
        let key = fold_case(&input.display_name);
        groups::ensure_unique(w.conn, tenant, &key, input.external_id.as_deref(), Some(&row.id))?;
    }
    let (added, removed_accounts) = known_users(w, &row.id, &delta.added, &delta.removed)?;
    if !attributes_changed && added.is_empty() && delta.removed.is_empty() {
        // Nothing changes (only unknown ids were added, or nothing at all).
        let members = if with_members { answer(w.conn, tenant, &row.id)? } else { Members::Excluded };
        return row.to_resource(&members);
    }
    let (added_ids, added_accounts): (Vec<String>, Vec<String>) = added.into_iter().unzip();
    groups::insert_members(w.conn, tenant, &row.id, &added_ids)?;
    groups::delete_members(w.conn, tenant, &row.id, &delta.removed)?;
    let team_before = ctx.rules().team(tenant.as_str(), &row.id, &before_attributes, Vec::new());
    let team = ctx.rules().team(tenant.as_str(), &row.id, &input.attributes, Vec::new());
    let (permissions_moved, grants) = (team.permissions != team_before.permissions, !team.permissions.is_empty());
    let stored = (row.record.as_deref(), row.record_version);
    let first = attributes_changed.then_some("group.updated");
    let published = publish::team_written(team, stored, first, added_accounts, removed_accounts)?;
    let (version, now) = (row.version + 1, now_micros());
    let attributes = Value::Object(input.attributes.clone()).to_string();
    let key = fold_case(&input.display_name);
    groups::update(
        w.conn,
        &GroupWrite {
            tenant_id: tenant.as_str(),
            id: &row.id,
            display_name: &input.display_name,
            display_name_key: &key,
            external_id: input.external_id.as_deref(),
            attributes: &attributes,
            version,
            created_at: row.created_at,
            updated_at: now,
            record: Some(&published.record),
            record_version: published.version,
        },
    )?;
    for event in &published.events {
        publish::enqueue(w.conn, event)?;
    }
    if republish == Republish::Affected {
        // A team whose permissions moved (a rename) changes every member; otherwise a team that
        // grants permissions changes those who joined or left; one that grants none, nobody.
        // Many users are re-published by a background job, not in this request.
        if permissions_moved {
            let reason = format!("group {} renamed", row.id);
            let members = groups::member_count(w.conn, tenant, &row.id)? as usize;
            if members + delta.removed.len() > publish::REPUBLISHED_IN_REQUEST {
                jobs::members_job(w.conn, tenant, &reason, &row.id, &delta.removed)?;
            } else {
                let mut affected = groups::members(w.conn, tenant, &row.id)?;
                affected.extend(delta.removed.iter().cloned());
                publish::republish_users(w.conn, ctx, &affected, &reason)?;
            }
        } else if grants {
            let affected: Vec<String> = added_ids.iter().chain(&delta.removed).cloned().collect();
            publish::republish_users(w.conn, ctx, &affected, &format!("group {} membership changed", row.id))?;
        }
    }
    let members = if with_members { answer(w.conn, tenant, &row.id)? } else { Members::Excluded };
    groups::resource(&row.id, &attributes, (version, row.created_at, now), &members)
}

/// A group's members as an answer carries them (omitted past [`groups::MEMBERS_PER_ANSWER`]).
fn answer(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Members, CoreError> {
    groups::answer_members(conn, tenant, id, groups::MEMBERS_PER_ANSWER)
}

/// The users among `ids`, with their account ids, locked until the transaction ends (a
/// concurrent delete of one of them waits for this membership to commit, then removes it).
/// `leaving` (members the change removes) are locked with them, all in id order: their records
/// may be re-published by this change, and one lock order for all users keeps this
/// transaction and the background re-publishing from deadlocking. Also returns the account
/// ids of the leaving users, in their order (read with the locks).
#[allow(clippy::type_complexity)]
/// Unknown ids are left out with a warning: a stale member id (a user deleted here, not yet in
/// the IdP) must never block a group's sync.
fn known_users(
    w: &mut Write<'_>,
    group_id: &str,
    ids: &[String],
    leaving: &[String],
) -> Result<(Vec<(String, String)>, Vec<String>), CoreError> {
    if ids.is_empty() && leaving.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut named: Vec<String> = ids.iter().chain(leaving).cloned().collect();
    named.sort();
    named.dedup();
    let locked: std::collections::HashMap<String, String> =
        users::lock_existing(w.conn, &w.ctx.tenant, &named)?.into_iter().collect();
    let found: Vec<(String, String)> =
        ids.iter().filter_map(|id| locked.get(id).map(|account| (id.clone(), account.clone()))).collect();
    if found.len() < ids.len() {
        let known: std::collections::HashSet<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        let unknown: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !known.contains(id)).collect();
        let listed = unknown.iter().take(LISTED_UNKNOWN).copied().collect::<Vec<_>>().join(", ");
        let more = unknown.len().saturating_sub(LISTED_UNKNOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        tracing::warn!(
            tenant.id = w.ctx.tenant.as_str(),
            group.id = group_id,
            unknown_members = %format!("{listed}{more}"),
            "members that are not users of the tenant were left out"
        );
        w.warn(format!("group {group_id}: members {listed}{more} are not users of this tenant and were left out"));
    }
    // One that is no user any more keeps its SCIM id.
    let leaving_accounts = leaving.iter().map(|id| locked.get(id).cloned().unwrap_or_else(|| id.clone())).collect();
    Ok((found, leaving_accounts))
}
