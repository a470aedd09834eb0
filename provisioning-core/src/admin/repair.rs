//! Operators' repairs: a tenant's records compared with what the directory holds
//! (`reconcile`), re-published in the background (`republish`), and the events the broker
//! refused for good (set aside in the outbox) listed, retried or discarded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use proto::directory_client::DirectoryClient;
use proto::{ListStatesRequest, ListTeamMembersRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminError, Answer, Operator, job_json, time};
use crate::error::CoreError;
use crate::schema::{group_members, scim_groups, scim_users};
use crate::store::jobs;
use crate::store::outbox::{self, SetAside};
use crate::store::tenants::{self, TenantId};

/// Directory records per page when reconciling.
const PAGE: u32 = 10_000;
/// Differences listed in one answer (all are counted).
const LISTED: usize = 1_000;

/// `POST /admin/v1/tenants/{slug}/republish`: every group and user of the tenant published
/// again as it is now, by a background job (batches of 200, resumable, its progress at
/// `…/jobs/{id}`). 202 with the job.
pub(super) async fn republish(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let job = admin
        .store(move |store| {
            store.write(|conn| {
                tenants::get_tenant(conn, &slug)?;
                let tenant = TenantId(slug.clone());
                let id = jobs::current_job(conn, &tenant, "republish requested by an operator")?;
                jobs::find(conn, &slug, &id)?.ok_or_else(|| CoreError::Internal("the job just made is gone".into()))
            })
        })
        .await?;
    Ok(HttpResponse::Accepted().json(job_json(&job)))
}

/// What the core holds of a tenant, keyed as the directory keys it.
#[derive(Default)]
struct CoreSide {
    /// Account id → (SCIM user id, record version).
    accounts: HashMap<String, (String, i64)>,
    /// Group id → record version.
    teams: BTreeMap<String, i64>,
    /// Group id → its members' account ids.
    members: HashMap<String, BTreeSet<String>>,
}

fn core_side(conn: &mut platform::db::DbConnection, tenant: &str) -> Result<CoreSide, CoreError> {
    let mut side = CoreSide::default();
    let users: Vec<(String, Option<String>, i64)> = scim_users::table
        .filter(scim_users::tenant_id.eq(tenant))
        .select((scim_users::id, scim_users::account_id, scim_users::record_version))
        .load(conn)?;
    let mut account_of = HashMap::with_capacity(users.len());
    for (id, account, version) in users {
        let account = account.unwrap_or_else(|| id.clone());
        account_of.insert(id.clone(), account.clone());
        side.accounts.insert(account, (id, version));
    }
    side.teams = scim_groups::table
        .filter(scim_groups::tenant_id.eq(tenant))
        .select((scim_groups::id, scim_groups::record_version))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let rows: Vec<(String, String)> = group_members::table
        .filter(group_members::tenant_id.eq(tenant))
        .select((group_members::group_id, group_members::member_id))
        .load(conn)?;
    for (group, member) in rows {
        let account = account_of.get(&member).cloned().unwrap_or(member);
        side.members.entry(group).or_default().insert(account);
    }
    Ok(side)
}

fn unavailable(status: &tonic::Status) -> AdminError {
    tracing::warn!(error = %status, "the directory did not answer a reconciliation");
    AdminError::new(503, format!("the directory did not answer: {}", status.message()))
}

/// Every member of a team as the directory lists them.
async fn team_members(
    client: &mut DirectoryClient<proto::credential::Authorized>,
    tenant: &str,
    team: &str,
) -> Result<BTreeSet<String>, AdminError> {
    let mut members = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let request =
            ListTeamMembersRequest { tenant_id: tenant.to_owned(), team_id: team.to_owned(), cursor, limit: PAGE };
        let page = client.list_team_members(request).await.map_err(|s| unavailable(&s))?.into_inner();
        members.extend(page.member_ids);
        if page.next_cursor.is_empty() {
            return Ok(members);
        }
        cursor = page.next_cursor;
    }
}

/// The differences between the core's records and the directory's, as operators read them.
#[derive(Default)]
struct Differences {
    listed: Vec<Value>,
    count: usize,
}

impl Differences {
    fn add(&mut self, difference: Value) {
        self.count += 1;
        if self.listed.len() < LISTED {
            self.listed.push(difference);
        }
    }
}

/// `POST /admin/v1/tenants/{slug}/reconcile`: compares every user and group of the tenant with
/// the account and team the directory holds (through its read API): missing, stale (an older
/// version than the core's last), deleted there but live here, live there but gone here, and
/// team members that differ. 200 with the counts and the differences (the first 1,000).
pub(super) async fn reconcile(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let Some(mut client) = admin.directory.clone() else {
        return Err(AdminError::new(409, "no directory is configured (DIRECTORY_GRPC_URL): nothing to reconcile with"));
    };
    let tenant = slug.clone();
    let core = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, &tenant)?;
                core_side(conn, &tenant)
            })
        })
        .await?;
    let mut differences = Differences::default();

    // Accounts.
    let mut seen_accounts = 0usize;
    let mut after = String::new();
    let mut matched = BTreeSet::new();
    loop {
        let request = ListStatesRequest { tenant_id: slug.clone(), after_id: after.clone(), limit: PAGE };
        let page = client.list_account_states(request).await.map_err(|s| unavailable(&s))?.into_inner().accounts;
        for state in &page {
            seen_accounts += 1;
            match core.accounts.get(&state.id) {
                Some((user, version)) => {
                    matched.insert(state.id.clone());
                    let problem = if state.deleted || state.purged {
                        Some("deleted in the directory")
                    } else if state.scim_user_id != *user {
                        Some("provisioned from another SCIM user in the directory")
                    } else if state.version < *version {
                        Some("stale in the directory")
                    } else if state.version > *version {
                        Some("ahead in the directory")
                    } else {
                        None
                    };
                    if let Some(problem) = problem {
                        differences.add(json!({
                            "kind": "user", "id": user, "account_id": state.id, "problem": problem,
                            "core_version": version, "directory_version": state.version,
                        }));
                    }
                }
                None if state.origin == "scim" && !state.deleted && !state.purged => differences.add(json!({
                    "kind": "user", "id": state.scim_user_id, "account_id": state.id,
                    "problem": "live in the directory, gone from the core", "directory_version": state.version,
                })),
                None => {}
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after.clone_from(&last.id),
            _ => break,
        }
    }
    for (account, (user, version)) in &core.accounts {
        if !matched.contains(account) {
            differences.add(json!({
                "kind": "user", "id": user, "account_id": account, "problem": "missing from the directory",
                "core_version": version,
            }));
        }
    }

    // Teams and their members.
    let mut seen_teams = 0usize;
    let mut after = String::new();
    let mut found_teams = BTreeSet::new();
    loop {
        let request = ListStatesRequest { tenant_id: slug.clone(), after_id: after.clone(), limit: PAGE };
        let page = client.list_team_states(request).await.map_err(|s| unavailable(&s))?.into_inner().teams;
        for state in &page {
            seen_teams += 1;
            let Some(version) = core.teams.get(&state.id) else {
                if !state.deleted {
                    differences.add(json!({
                        "kind": "group", "id": state.id, "problem": "live in the directory, gone from the core",
                        "directory_version": state.version,
                    }));
                }
                continue;
            };
            found_teams.insert(state.id.clone());
            if state.deleted {
                differences.add(json!({"kind": "group", "id": state.id, "problem": "deleted in the directory",
                    "core_version": version, "directory_version": state.version}));
                continue;
            }
            if state.version != *version {
                let problem =
                    if state.version < *version { "stale in the directory" } else { "ahead in the directory" };
                differences.add(json!({"kind": "group", "id": state.id, "problem": problem,
                    "core_version": version, "directory_version": state.version}));
            }
            let empty = BTreeSet::new();
            let expected = core.members.get(&state.id).unwrap_or(&empty);
            let held = team_members(&mut client, &slug, &state.id).await?;
            let missing: Vec<&String> = expected.difference(&held).collect();
            let extra: Vec<&String> = held.difference(expected).collect();
            if !missing.is_empty() || !extra.is_empty() {
                differences.add(json!({
                    "kind": "group", "id": state.id, "problem": "members differ",
                    "missing_in_directory": missing.len(), "extra_in_directory": extra.len(),
                    "examples_missing": missing.iter().take(10).collect::<Vec<_>>(),
                    "examples_extra": extra.iter().take(10).collect::<Vec<_>>(),
                }));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after.clone_from(&last.id),
            _ => break,
        }
    }
    for (team, version) in &core.teams {
        if !found_teams.contains(team) {
            differences.add(json!({"kind": "group", "id": team, "problem": "missing from the directory",
                "core_version": version}));
        }
    }
    crate::observe::RECONCILE_DIFFERENCES.with_label_values(&[slug.as_str()]).set(differences.count as i64);
    Ok(HttpResponse::Ok().json(json!({
        "tenant": slug,
        "core": {"users": core.accounts.len(), "groups": core.teams.len()},
        "directory": {"accounts": seen_accounts, "teams": seen_teams},
        "difference_count": differences.count,
        "differences": differences.listed,
    })))
}

fn set_aside_json(event: &SetAside) -> Value {
    json!({
        "seq": event.seq,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "tenant": event.tenant_id,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "created_at": time(event.created_at),
        "failed_at": event.failed_at.and_then(time),
        "reason": event.failure,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetAsideQuery {
    tenant: Option<String>,
    limit: Option<i64>,
}

/// `GET /admin/v1/outbox/set-aside?tenant=&limit=`: the events the broker refused for good,
/// oldest first (at most `limit`, default 100, up to 1000), and how many there are.
pub(super) async fn list_set_aside(_: Operator, admin: web::Data<Admin>, query: web::Query<SetAsideQuery>) -> Answer {
    let SetAsideQuery { tenant, limit } = query.into_inner();
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::bad_request("limit must be between 1 and 1000"));
    }
    let (total, events) =
        admin.store(move |store| store.read(|conn| outbox::set_aside(conn, tenant.as_deref(), limit))).await?;
    let listed: Vec<Value> = events.iter().map(set_aside_json).collect();
    Ok(HttpResponse::Ok().json(json!({"total": total, "events": listed})))
}

/// `POST /admin/v1/outbox/set-aside/retry?tenant=`: every set-aside event (of the tenant) back
/// in line for the relay. `POST …/set-aside/{seq}/retry`: one.
pub(super) async fn retry_all(_: Operator, admin: web::Data<Admin>, query: web::Query<SetAsideQuery>) -> Answer {
    let tenant = query.into_inner().tenant;
    let retried =
        admin.store(move |store| store.write(|conn| outbox::retry_set_aside(conn, None, tenant.as_deref()))).await?;
    admin.relay_wake.notify_one();
    Ok(HttpResponse::Ok().json(json!({"retried": retried})))
}

pub(super) async fn retry_one(_: Operator, admin: web::Data<Admin>, seq: web::Path<i64>) -> Answer {
    let seq = seq.into_inner();
    let retried = admin.store(move |store| store.write(|conn| outbox::retry_set_aside(conn, Some(seq), None))).await?;
    if retried == 0 {
        return Err(AdminError::new(404, format!("no set-aside event {seq}")));
    }
    admin.relay_wake.notify_one();
    Ok(HttpResponse::Ok().json(json!({"retried": retried})))
}

/// `DELETE /admin/v1/outbox/set-aside/{seq}`: drops one for good (repair its resource with a
/// `republish`).
pub(super) async fn discard_one(_: Operator, admin: web::Data<Admin>, seq: web::Path<i64>) -> Answer {
    let seq = seq.into_inner();
    let discarded = admin.store(move |store| store.write(|conn| outbox::discard_set_aside(conn, seq, None))).await?;
    if discarded == 0 {
        return Err(AdminError::new(404, format!("no set-aside event {seq}")));
    }
    tracing::warn!(seq, "an operator discarded a set-aside event");
    Ok(HttpResponse::NoContent().finish())
}
