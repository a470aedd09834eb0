//! Reads for the product: an account with its teams, the accounts with an email, a team with its
//! members, whole or a page at a time. Deleted ones (tombstones, purged or not) are not found.
//! And for reconciliation, the states of every account and team of a tenant, deleted ones too,
//! a page at a time by id.

use std::collections::BTreeMap;

use diesel::prelude::*;
use platform::db::{DbBackend, DbConnection};
use proto::Team;

use crate::error::DirectoryError;
use crate::records::{AccountRecord, AccountState, Origin, TeamState, email_key};
use crate::schema::{accounts, memberships, teams};

/// At most this many accounts answer a lookup by email (emails are not unique in SCIM).
pub const MAX_ACCOUNTS_BY_EMAIL: i64 = 100;

/// An `accounts` row as the reads need it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
struct AccountRow {
    id: String,
    tenant_id: String,
    user_name: String,
    external_id: Option<String>,
    active: bool,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    roles: String,
    permissions: String,
    custom_fields: String,
    scim_user_id: Option<String>,
    origin: String,
}

impl AccountRow {
    fn into_record(self, teams: Vec<String>) -> Result<AccountRecord, DirectoryError> {
        let AccountRow {
            id,
            tenant_id,
            user_name,
            external_id,
            active,
            email,
            given_name,
            family_name,
            display_name,
            roles,
            permissions,
            custom_fields,
            scim_user_id,
            origin,
        } = self;
        Ok(AccountRecord {
            id,
            tenant_id,
            user_name,
            external_id,
            active,
            email,
            given_name,
            family_name,
            display_name,
            roles: stored_json("roles", &roles)?,
            teams,
            permissions: stored_json("permissions", &permissions)?,
            custom_fields: stored_json::<BTreeMap<String, String>>("custom_fields", &custom_fields)?,
            scim_user_id,
            origin: Origin::parse(&origin)?,
        })
    }
}

fn stored_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, DirectoryError> {
    serde_json::from_str(text).map_err(|e| DirectoryError::Internal(format!("stored {column}: {e}")))
}

pub fn account(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<AccountRecord, DirectoryError> {
    let row = accounts::table
        .find((tenant, id))
        .filter(accounts::deleted.eq(false))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(DirectoryError::NotFound("account"))?;
    let teams = account_teams(conn, tenant, id)?;
    row.into_record(teams)
}

/// The live accounts of `tenant` whose email is `email` (case-insensitive), by id.
pub fn accounts_by_email(
    conn: &mut DbConnection,
    tenant: &str,
    email: &str,
) -> Result<Vec<AccountRecord>, DirectoryError> {
    let rows: Vec<AccountRow> = accounts::table
        .filter(accounts::tenant_id.eq(tenant))
        .filter(accounts::email_key.eq(email_key(email)))
        .filter(accounts::deleted.eq(false))
        .select(AccountRow::as_select())
        .order(accounts::id.asc())
        .limit(MAX_ACCOUNTS_BY_EMAIL)
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let teams = account_teams(conn, tenant, &row.id)?;
            row.into_record(teams)
        })
        .collect()
}

/// The live teams an account belongs to, sorted.
fn account_teams(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Vec<String>, DirectoryError> {
    Ok(memberships::table
        .inner_join(
            teams::table.on(teams::tenant_id.eq(memberships::tenant_id).and(teams::id.eq(memberships::team_id))),
        )
        .filter(memberships::tenant_id.eq(tenant))
        .filter(memberships::account_id.eq(id))
        .filter(teams::deleted.eq(false))
        .select(memberships::team_id)
        .order(memberships::team_id.asc())
        .load(conn)?)
}

/// A team with all its live members. The HTTP team body lists them; anything that may meet a
/// large team pages them with [`team_members`] instead.
pub fn team(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Team, DirectoryError> {
    let team = team_without_members(conn, tenant, id)?;
    let member_ids = live_member_ids(conn, tenant, id, None, None)?;
    Ok(Team { member_ids, ..team })
}

/// A team with `member_ids` empty (what gRPC `GetTeam` answers: a large team's member list would
/// not fit in one message).
pub fn team_without_members(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Team, DirectoryError> {
    let (name, external_id, permissions): (String, Option<String>, String) = teams::table
        .find((tenant, id))
        .filter(teams::deleted.eq(false))
        .select((teams::name, teams::external_id, teams::permissions))
        .first(conn)
        .optional()?
        .ok_or(DirectoryError::NotFound("team"))?;
    Ok(Team {
        id: id.to_owned(),
        tenant_id: tenant.to_owned(),
        name,
        external_id,
        member_ids: Vec::new(),
        permissions: stored_json("team permissions", &permissions)?,
    })
}

/// One page of a team's live members (as [`team`] lists them), by account id ascending: at most
/// `limit` ids after `after` (from the start when `None`), and the `after` of the next page, which
/// is the last id returned, only when more members follow.
pub fn team_members(
    conn: &mut DbConnection,
    tenant: &str,
    team_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<String>, Option<String>), DirectoryError> {
    if limit < 1 {
        return Err(DirectoryError::Invalid(format!("the page size must be positive, not {limit}")));
    }
    let live: Option<String> = teams::table
        .find((tenant, team_id))
        .filter(teams::deleted.eq(false))
        .select(teams::id)
        .first(conn)
        .optional()?;
    if live.is_none() {
        return Err(DirectoryError::NotFound("team"));
    }
    // One more than the page tells whether another page follows.
    let mut members = live_member_ids(conn, tenant, team_id, after, Some(limit.saturating_add(1)))?;
    let next = next_after(&mut members, limit, String::clone);
    Ok((members, next))
}

/// The account ids of a team's members, ascending, after `after` and at most `limit` of them.
/// Members whose account is known to be deleted are left out, whatever order events came in.
fn live_member_ids(
    conn: &mut DbConnection,
    tenant: &str,
    team_id: &str,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<String>, DirectoryError> {
    let mut query = memberships::table
        .left_join(
            accounts::table
                .on(accounts::tenant_id.eq(memberships::tenant_id).and(accounts::id.eq(memberships::account_id))),
        )
        .filter(memberships::tenant_id.eq(tenant))
        .filter(memberships::team_id.eq(team_id))
        .filter(accounts::deleted.eq(false).or(accounts::deleted.is_null()))
        .select(memberships::account_id)
        .order(memberships::account_id.asc())
        .into_boxed::<DbBackend>();
    if let Some(after) = after {
        query = query.filter(memberships::account_id.gt(after));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    Ok(query.load(conn)?)
}

/// A page of the tenant's account states, deleted and purged ones too: at most `limit`, by id
/// ascending, after `after` (from the first when `None`). One query.
pub fn account_states(
    conn: &mut DbConnection,
    tenant: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountState>, DirectoryError> {
    let mut query = accounts::table
        .filter(accounts::tenant_id.eq(tenant))
        .select(AccountStateRow::as_select())
        .order(accounts::id.asc())
        .limit(limit)
        .into_boxed::<DbBackend>();
    if let Some(after) = after {
        query = query.filter(accounts::id.gt(after));
    }
    let rows: Vec<AccountStateRow> = query.load(conn)?;
    rows.into_iter()
        .map(|row| {
            let AccountStateRow { id, scim_user_id, version, deleted, purged, active, origin } = row;
            Ok(AccountState { id, scim_user_id, version, deleted, purged, active, origin: Origin::parse(&origin)? })
        })
        .collect()
}

/// An `accounts` row as [`account_states`] reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
struct AccountStateRow {
    id: String,
    scim_user_id: Option<String>,
    version: i64,
    deleted: bool,
    purged: bool,
    active: bool,
    origin: String,
}

/// A page of the tenant's team states, deleted ones too: at most `limit`, by id ascending, after
/// `after`. Two queries whatever the page holds: the teams, then their live members counted at
/// once over the page's id range (a deleted team has no membership rows left).
pub fn team_states(
    conn: &mut DbConnection,
    tenant: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TeamState>, DirectoryError> {
    let mut query = teams::table
        .filter(teams::tenant_id.eq(tenant))
        .select((teams::id, teams::version, teams::deleted))
        .order(teams::id.asc())
        .limit(limit)
        .into_boxed::<DbBackend>();
    if let Some(after) = after {
        query = query.filter(teams::id.gt(after));
    }
    let page: Vec<(String, i64, bool)> = query.load(conn)?;
    let (Some((first, _, _)), Some((last, _, _))) = (page.first(), page.last()) else {
        return Ok(Vec::new());
    };
    let counts: BTreeMap<String, i64> = memberships::table
        .left_join(
            accounts::table
                .on(accounts::tenant_id.eq(memberships::tenant_id).and(accounts::id.eq(memberships::account_id))),
        )
        .filter(memberships::tenant_id.eq(tenant))
        .filter(memberships::team_id.ge(first))
        .filter(memberships::team_id.le(last))
        .filter(accounts::deleted.eq(false).or(accounts::deleted.is_null()))
        .group_by(memberships::team_id)
        .select((memberships::team_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(page
        .into_iter()
        .map(|(id, version, deleted)| {
            let members = counts.get(&id).copied().unwrap_or(0);
            TeamState { member_count: u64::try_from(members).unwrap_or(0), id, version, deleted }
        })
        .collect())
}

/// What a listing of accounts narrows to; every field given must match (exactly; `email`
/// case-insensitively). `team`: the team's members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub external_id: Option<String>,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub scim_user_id: Option<String>,
    pub active: Option<bool>,
    pub team: Option<String>,
}

/// A page of the tenant's live accounts matching `filter`, by id ascending: at most `limit`
/// after `after`, and the `after` of the next page when more follow. Two queries whatever the
/// page holds: the accounts, then their live teams at once.
pub fn list_accounts(
    conn: &mut DbConnection,
    tenant: &str,
    filter: &AccountFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<AccountRecord>, Option<String>), DirectoryError> {
    let mut query = accounts::table
        .filter(accounts::tenant_id.eq(tenant))
        .filter(accounts::deleted.eq(false))
        .select(AccountRow::as_select())
        .order(accounts::id.asc())
        .limit(limit.saturating_add(1))
        .into_boxed::<DbBackend>();
    if let Some(after) = after {
        query = query.filter(accounts::id.gt(after.to_owned()));
    }
    if let Some(external_id) = &filter.external_id {
        query = query.filter(accounts::external_id.eq(external_id.clone()));
    }
    if let Some(user_name) = &filter.user_name {
        query = query.filter(accounts::user_name.eq(user_name.clone()));
    }
    if let Some(email) = &filter.email {
        query = query.filter(accounts::email_key.eq(email_key(email)));
    }
    if let Some(scim_user_id) = &filter.scim_user_id {
        query = query.filter(accounts::scim_user_id.eq(scim_user_id.clone()));
    }
    if let Some(active) = filter.active {
        query = query.filter(accounts::active.eq(active));
    }
    if let Some(team) = &filter.team {
        let members = memberships::table
            .filter(memberships::tenant_id.eq(tenant.to_owned()))
            .filter(memberships::team_id.eq(team.clone()))
            .select(memberships::account_id);
        query = query.filter(accounts::id.eq_any(members));
    }
    let mut rows: Vec<AccountRow> = query.load(conn)?;
    let next = next_after(&mut rows, limit, |row| row.id.clone());
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let mut teams_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !ids.is_empty() {
        let pairs: Vec<(String, String)> = memberships::table
            .inner_join(
                teams::table.on(teams::tenant_id.eq(memberships::tenant_id).and(teams::id.eq(memberships::team_id))),
            )
            .filter(memberships::tenant_id.eq(tenant))
            .filter(memberships::account_id.eq_any(&ids))
            .filter(teams::deleted.eq(false))
            .select((memberships::account_id, memberships::team_id))
            .order((memberships::account_id.asc(), memberships::team_id.asc()))
            .load(conn)?;
        for (account, team) in pairs {
            teams_of.entry(account).or_default().push(team);
        }
    }
    let records = rows
        .into_iter()
        .map(|row| {
            let teams = teams_of.remove(&row.id).unwrap_or_default();
            row.into_record(teams)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, next))
}

/// Drops the extra row a page query read past `limit` (one more than the page tells whether
/// another follows) and returns the last id kept when there was one.
fn next_after<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(id)
}

/// A team as a listing shows it: without its members, with how many live ones it has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TeamSummary {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub permissions: Vec<String>,
    pub member_count: i64,
}

/// A page of the tenant's live teams (with `external_id` or `name` when given, exactly), by id
/// ascending, as [`list_accounts`] pages. Two queries: the teams, then their members counted.
pub fn list_teams(
    conn: &mut DbConnection,
    tenant: &str,
    external_id: Option<&str>,
    name: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<TeamSummary>, Option<String>), DirectoryError> {
    let mut query = teams::table
        .filter(teams::tenant_id.eq(tenant))
        .filter(teams::deleted.eq(false))
        .select((teams::id, teams::name, teams::external_id, teams::permissions))
        .order(teams::id.asc())
        .limit(limit.saturating_add(1))
        .into_boxed::<DbBackend>();
    if let Some(after) = after {
        query = query.filter(teams::id.gt(after.to_owned()));
    }
    if let Some(external_id) = external_id {
        query = query.filter(teams::external_id.eq(external_id.to_owned()));
    }
    if let Some(name) = name {
        query = query.filter(teams::name.eq(name.to_owned()));
    }
    let mut rows: Vec<(String, String, Option<String>, String)> = query.load(conn)?;
    let next = next_after(&mut rows, limit, |row| row.0.clone());
    let ids: Vec<&str> = rows.iter().map(|row| row.0.as_str()).collect();
    let counts: BTreeMap<String, i64> = if ids.is_empty() {
        BTreeMap::new()
    } else {
        memberships::table
            .left_join(
                accounts::table
                    .on(accounts::tenant_id.eq(memberships::tenant_id).and(accounts::id.eq(memberships::account_id))),
            )
            .filter(memberships::tenant_id.eq(tenant))
            .filter(memberships::team_id.eq_any(&ids))
            .filter(accounts::deleted.eq(false).or(accounts::deleted.is_null()))
            .group_by(memberships::team_id)
            .select((memberships::team_id, diesel::dsl::count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect()
    };
    let teams = rows
        .into_iter()
        .map(|(id, name, external_id, permissions)| {
            Ok(TeamSummary {
                member_count: counts.get(&id).copied().unwrap_or(0),
                permissions: stored_json("team permissions", &permissions)?,
                id,
                name,
                external_id,
            })
        })
        .collect::<Result<Vec<_>, DirectoryError>>()?;
    Ok((teams, next))
}
