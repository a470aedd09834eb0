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
use crate::store::jobs;
use crate::store::tenants::TenantId;
use crate::store::users::{self, UserRow};
use crate::store::{now_micros, outbox, parse_attributes};

/// The most member ids one event carries ...
pub const MEMBERS_PER_EVENT: usize = 5_000;

/// ... and the most bytes they take in it (ids and their framing).
pub const MEMBER_BYTES_PER_EVENT: usize = 256 * 1024;

/// The largest event payload the core publishes: a write whose event would be larger (a record
/// of more than about 256 KiB besides its member ids) fails with 413 and changes nothing. The
/// Kafka producer's `message.max.bytes` (1 MiB, [`crate::kafka`]) and the topic's
/// `max.message.bytes` (`deploy/base/kafka.yaml`) leave room for the key and the headers.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// A record to store with its resource, and the event that publishes it.
#[derive(Debug)]
pub struct Published {
    pub record: String,
    pub version: i64,
    pub event: ChangeEvent,
}

/// A team's record to store with its group, and the events that publish the change: one, or
/// one per chunk of a membership change too large for one event, each with its own version.
#[derive(Debug)]
pub struct TeamPublished {
    pub record: String,
    /// The version of the last event.
    pub version: i64,
    pub events: Vec<ChangeEvent>,
}

/// Splits a membership change (account ids) into pieces that each fit one event: removals
/// first, then additions; always at least one piece (empty for an attributes-only change).
pub fn membership_pieces(added: Vec<String>, removed: Vec<String>) -> Vec<(Vec<String>, Vec<String>)> {
    let mut pieces = Vec::new();
    let (mut current_added, mut current_removed, mut bytes) = (Vec::new(), Vec::new(), 0);
    let tagged = removed.into_iter().map(|id| (false, id)).chain(added.into_iter().map(|id| (true, id)));
    for (joined, id) in tagged {
        // A repeated string field costs its tag, its length (a varint) and its bytes.
        let cost = id.len() + 1 + prost::length_delimiter_len(id.len());
        let count = current_added.len() + current_removed.len();
        if count > 0 && (count >= MEMBERS_PER_EVENT || bytes + cost > MEMBER_BYTES_PER_EVENT) {
            pieces.push((std::mem::take(&mut current_added), std::mem::take(&mut current_removed)));
            bytes = 0;
        }
        bytes += cost;
        if joined { current_added.push(id) } else { current_removed.push(id) }
    }
    pieces.push((current_added, current_removed));
    pieces
}

fn stored_fields(record: Option<&str>) -> BTreeMap<String, Value> {
    record.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

fn fields_text(fields: &BTreeMap<String, Value>) -> Result<String, CoreError> {
    serde_json::to_string(fields).map_err(|e| CoreError::Internal(format!("record: {e}")))
}

/// Writes an event to the outbox; one larger than [`MAX_EVENT_BYTES`] fails the write (413).
pub fn enqueue(conn: &mut DbConnection, event: &ChangeEvent) -> Result<(), CoreError> {
    check_size(event)?;
    let kind = if event.resource_kind == ResourceKind::Group as i32 { ResourceType::Group } else { ResourceType::User };
    outbox::enqueue(conn, event, kind)
}

/// Below this protobuf size an event's JSON form (`KAFKA_EVENT_FORMAT=json`, webhooks, the events
/// API) cannot pass [`MAX_EVENT_BYTES`] either: JSON writes a byte of text as at most six
/// (`\u00XX`), plus its field names; above it, the JSON is measured too.
const JSON_MEASURED_FROM: usize = MAX_EVENT_BYTES / 8;

/// Fails with 413 when an event would be larger than [`MAX_EVENT_BYTES`], as protobuf or as JSON
/// (escaping can make the JSON of a record full of quotes or control characters several times
/// larger): either is what some sink publishes.
fn check_size(event: &ChangeEvent) -> Result<(), CoreError> {
    let mut size = prost::Message::encoded_len(event);
    if size > JSON_MEASURED_FROM && size <= MAX_EVENT_BYTES {
        let json = serde_json::to_vec(&scim_events::json::data(event))
            .map_err(|e| CoreError::Internal(format!("an event as JSON: {e}")))?;
        size = size.max(json.len());
    }
    if size > MAX_EVENT_BYTES {
        return Err(CoreError::Scim(scim::ScimError::new(
            413,
            None,
            format!(
                "the {} record would be published as an event of {size} bytes, more than the {MAX_EVENT_BYTES} \
                 allowed: shorten its attributes",
                if event.resource_kind == ResourceKind::Group as i32 { "team" } else { "account" }
            ),
        )));
    }
    Ok(())
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

/// The record of a group written by SCIM, with its events (`added`/`removed` are account ids).
/// `first` names the first event when it is more than a membership change (`group.created`,
/// `group.updated`); membership pieces are typed by what they carry.
pub fn team_written(
    team: Team,
    stored: (Option<&str>, i64),
    first: Option<&'static str>,
    added: Vec<String>,
    removed: Vec<String>,
) -> Result<TeamPublished, CoreError> {
    let (record, record_version) = stored;
    let before = stored_fields(record);
    let after = mapping::team_fields(&team);
    let changes = if first == Some("group.created") { Vec::new() } else { mapping::changes(&before, &after) };
    let pieces = membership_pieces(added, removed);
    let parts = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    let mut events = Vec::with_capacity(pieces.len());
    let mut version = record_version;
    for (index, (added, removed)) in pieces.into_iter().enumerate() {
        version += 1;
        let event_type = match first {
            Some(first) if index == 0 => first,
            _ => events::group_event_type(false, &added, &removed),
        };
        let mut event = events::group_event(event_type, team.clone(), version, false, added, removed);
        if index == 0 {
            event.changes.clone_from(&changes);
        }
        if parts > 1 {
            event.part = u32::try_from(index + 1).unwrap_or(u32::MAX);
            event.parts = parts;
        }
        events.push(event);
    }
    Ok(TeamPublished { record: fields_text(&after)?, version, events })
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
    let mut event = events::user_event("user.updated", user_id, account, version, false);
    event.changes = mapping::changes(&before, &after);
    check_size(&event)?;
    users::set_record(conn, &ctx.tenant, user_id, &fields_text(&after)?, version)?;
    enqueue(conn, &event)?;
    Ok(true)
}

/// Publishes a user's current record whatever the consumers have: a `user.updated` of the
/// next version (an operator's repair; consumers replace the account with it).
pub(crate) fn user_current(conn: &mut DbConnection, ctx: &TenantContext, user_id: &str) -> Result<bool, CoreError> {
    let row = users::lock(conn, &ctx.tenant, user_id)?;
    let attributes = parse_attributes(&row.attributes)?;
    let permissions = team_permissions(conn, ctx, &ctx.tenant, user_id)?;
    let (account, _) = ctx.rules().account(&facts(&ctx.tenant, &row, &attributes, &permissions));
    let after = mapping::account_fields(&account);
    let version = row.record_version + 1;
    let event = events::user_event("user.updated", user_id, account, version, false);
    check_size(&event)?;
    users::set_record(conn, &ctx.tenant, user_id, &fields_text(&after)?, version)?;
    enqueue(conn, &event)?;
    Ok(true)
}

/// Publishes a group's current record and all its members (as additions, in bounded pieces):
/// a consumer that missed events gets the team and every member back. Members it holds that
/// the group no longer has are not removed by this (the reconciliation lists them).
pub(crate) fn team_current(conn: &mut DbConnection, ctx: &TenantContext, group_id: &str) -> Result<bool, CoreError> {
    let row: GroupRow = groups::lock(conn, &ctx.tenant, group_id)?;
    let team = ctx.rules().team(ctx.tenant.as_str(), group_id, &parse_attributes(&row.attributes)?, Vec::new());
    let after = mapping::team_fields(&team);
    let members = groups::members(conn, &ctx.tenant, group_id)?;
    let accounts = users::accounts_of(conn, &ctx.tenant, &members)?;
    let published =
        team_written(team, (row.record.as_deref(), row.record_version), Some("group.updated"), accounts, Vec::new())?;
    groups::set_record(conn, &ctx.tenant, group_id, &fields_text(&after)?, published.version)?;
    for event in &published.events {
        enqueue(conn, event)?;
    }
    Ok(true)
}

/// The most users a request re-publishes itself after a group change; more go to a
/// background job ([`crate::republish`]), so that no request grows with a group.
pub const REPUBLISHED_IN_REQUEST: usize = 1000;

/// Re-publishes users after their teams' permissions may have changed: in this transaction
/// when they are few, else by a background job (`reason` tells operators why).
pub fn republish_users(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    user_ids: &[String],
    reason: &str,
) -> Result<(), CoreError> {
    if user_ids.len() > REPUBLISHED_IN_REQUEST {
        let job = jobs::listed_job(conn, &ctx.tenant, reason, user_ids)?;
        tracing::info!(tenant.id = ctx.tenant.as_str(), job.id = %job, users = user_ids.len(), reason, "re-publishing in the background");
        return Ok(());
    }
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
pub(crate) fn team_derived(conn: &mut DbConnection, ctx: &TenantContext, group_id: &str) -> Result<bool, CoreError> {
    let row: GroupRow = groups::lock(conn, &ctx.tenant, group_id)?;
    let team = ctx.rules().team(ctx.tenant.as_str(), group_id, &parse_attributes(&row.attributes)?, Vec::new());
    let before = stored_fields(row.record.as_deref());
    let after = mapping::team_fields(&team);
    if before == after {
        return Ok(false);
    }
    let version = row.record_version + 1;
    let mut event = events::group_event("group.updated", team, version, false, Vec::new(), Vec::new());
    event.changes = mapping::changes(&before, &after);
    check_size(&event)?;
    groups::set_record(conn, &ctx.tenant, group_id, &fields_text(&after)?, version)?;
    enqueue(conn, &event)?;
    Ok(true)
}

/// A `user.purged` event: the account is gone for good; the record keeps only its ids.
pub fn purged_event(tenant: &str, scim_user_id: &str, account_id: &str, version: i64) -> ChangeEvent {
    // Ids only: no name, e-mail or externalId outlives the purge in the event stream.
    let account = Account {
        id: account_id.to_owned(),
        tenant_id: tenant.to_owned(),
        scim_user_id: scim_user_id.to_owned(),
        ..Account::default()
    };
    let mut event = events::user_event("user.purged", scim_user_id, account, version, true);
    event.occurred_at_micros = now_micros();
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: &str, count: usize) -> Vec<String> {
        (0..count).map(|n| format!("{prefix}{n:036}")).collect()
    }

    #[test]
    fn a_membership_change_is_split_into_bounded_pieces_removals_first() {
        assert_eq!(membership_pieces(Vec::new(), Vec::new()), vec![(Vec::new(), Vec::new())], "one empty piece");
        let (added, removed) = (ids("a", 7_000), ids("r", 4_000));
        let pieces = membership_pieces(added.clone(), removed.clone());
        let sizes: Vec<(usize, usize)> = pieces.iter().map(|(a, r)| (a.len(), r.len())).collect();
        assert_eq!(sizes, [(1_000, 4_000), (5_000, 0), (1_000, 0)]);
        let joined: Vec<String> = pieces.iter().flat_map(|(a, _)| a.clone()).collect();
        let left: Vec<String> = pieces.iter().flat_map(|(_, r)| r.clone()).collect();
        assert_eq!((joined, left), (added, removed), "every id once, in order");
    }

    #[test]
    fn long_ids_are_split_by_bytes() {
        let long: Vec<String> = (0..100).map(|n| format!("{n}-{}", "x".repeat(10_000))).collect();
        let pieces = membership_pieces(long, Vec::new());
        assert!(pieces.len() > 1, "100 ids of 10 KB do not fit one piece");
        for (added, _) in &pieces {
            let bytes: usize = added.iter().map(|id| id.len() + 1 + prost::length_delimiter_len(id.len())).sum();
            assert!(bytes <= MEMBER_BYTES_PER_EVENT, "{bytes}");
        }
        assert_eq!(pieces.iter().map(|(a, _)| a.len()).sum::<usize>(), 100);
    }

    #[test]
    fn a_large_change_is_published_as_events_with_their_own_versions() {
        let team = Team { id: "g1".into(), tenant_id: "acme".into(), name: "All".into(), ..Team::default() };
        let published = team_written(team, (None, 0), Some("group.created"), ids("a", 12_000), Vec::new()).unwrap();
        let summary: Vec<(&str, i64, u32, u32, usize)> = published
            .events
            .iter()
            .map(|e| (e.event_type.as_str(), e.version, e.part, e.parts, e.added_member_ids.len()))
            .collect();
        assert_eq!(
            summary,
            [
                ("group.created", 1, 1, 3, 5_000),
                ("group.member_added", 2, 2, 3, 5_000),
                ("group.member_added", 3, 3, 3, 2_000)
            ]
        );
        assert_eq!(published.version, 3, "the record's version is the last event's");
        for event in &published.events {
            assert!(prost::Message::encoded_len(event) <= MAX_EVENT_BYTES);
        }
        let small = Team { id: "g2".into(), tenant_id: "acme".into(), name: "Few".into(), ..Team::default() };
        let one = team_written(small, (None, 4), None, Vec::new(), ids("r", 3)).unwrap();
        assert_eq!(one.events.len(), 1);
        assert_eq!((one.events[0].event_type.as_str(), one.events[0].parts), ("group.member_removed", 0));
        assert_eq!(one.version, 5);
    }

    #[test]
    fn an_event_whose_json_would_be_too_large_is_refused() {
        let team = |name: String| {
            let team = Team { id: "g1".into(), tenant_id: "acme".into(), name, ..Team::default() };
            crate::events::group_event("group.created", team, 1, false, Vec::new(), Vec::new())
        };
        // 100 KiB of control characters: small as protobuf, six times that as JSON (\u0001).
        let escaped = team("\u{1}".repeat(100 * 1024));
        assert!(prost::Message::encoded_len(&escaped) < MAX_EVENT_BYTES);
        let refused = check_size(&escaped).expect_err("the JSON is over the limit");
        assert!(matches!(&refused, CoreError::Scim(e) if e.status == 413), "{refused:?}");
        check_size(&team("a".repeat(100 * 1024))).expect("plain text is as large in JSON");
        check_size(&team("\u{1}".repeat(10 * 1024))).expect("small events are not measured as JSON, and fit");
    }
}
