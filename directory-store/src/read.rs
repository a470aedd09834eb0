//! Reads for the product: an account with its teams, a team with its members. Deleted ones
//! (tombstones) are not found.

use diesel::prelude::*;
use platform::db::DbConnection;
use proto::{Account, Team};

use crate::error::DirectoryError;
use crate::schema::{accounts, memberships, teams};

type AccountColumns =
    (String, Option<String>, bool, Option<String>, Option<String>, Option<String>, Option<String>, String);

pub fn account(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Account, DirectoryError> {
    let row: Option<AccountColumns> = accounts::table
        .find((tenant, id))
        .filter(accounts::deleted.eq(false))
        .select((
            accounts::user_name,
            accounts::external_id,
            accounts::active,
            accounts::email,
            accounts::given_name,
            accounts::family_name,
            accounts::display_name,
            accounts::roles,
        ))
        .first(conn)
        .optional()?;
    let (user_name, external_id, active, email, given_name, family_name, display_name, roles) =
        row.ok_or(DirectoryError::NotFound("account"))?;
    let teams: Vec<String> = memberships::table
        .inner_join(
            teams::table.on(teams::tenant_id.eq(memberships::tenant_id).and(teams::id.eq(memberships::team_id))),
        )
        .filter(memberships::tenant_id.eq(tenant))
        .filter(memberships::account_id.eq(id))
        .filter(teams::deleted.eq(false))
        .select(memberships::team_id)
        .order(memberships::team_id.asc())
        .load(conn)?;
    Ok(Account {
        id: id.to_owned(),
        tenant_id: tenant.to_owned(),
        user_name,
        external_id,
        active,
        email,
        given_name,
        family_name,
        display_name,
        roles: serde_json::from_str(&roles).map_err(|e| DirectoryError::Internal(format!("stored roles: {e}")))?,
        teams,
    })
}

pub fn team(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Team, DirectoryError> {
    let (name, external_id): (String, Option<String>) = teams::table
        .find((tenant, id))
        .filter(teams::deleted.eq(false))
        .select((teams::name, teams::external_id))
        .first(conn)
        .optional()?
        .ok_or(DirectoryError::NotFound("team"))?;
    // Members whose account is known to be deleted are left out, whatever order events came in.
    let member_ids: Vec<String> = memberships::table
        .left_join(
            accounts::table
                .on(accounts::tenant_id.eq(memberships::tenant_id).and(accounts::id.eq(memberships::account_id))),
        )
        .filter(memberships::tenant_id.eq(tenant))
        .filter(memberships::team_id.eq(id))
        .filter(accounts::deleted.eq(false).or(accounts::deleted.is_null()))
        .select(memberships::account_id)
        .order(memberships::account_id.asc())
        .load(conn)?;
    Ok(Team { id: id.to_owned(), tenant_id: tenant.to_owned(), name, external_id, member_ids })
}
