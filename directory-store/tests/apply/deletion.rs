//! Deletions: a deleted account is gone from reads and from every team, and stays gone whatever
//! order the events come in; a team event replaces the team's member set.

use diesel::prelude::*;
use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::schema::memberships;

use crate::{TestDirectory, account, account_event, apply, assert_not_found, deleted_account_event, team, team_event};

/// Membership rows of an account, as stored (reads also hide those of deleted accounts).
fn membership_rows(directory: &Directory, account_id: &str) -> i64 {
    let rows = memberships::table
        .filter(memberships::tenant_id.eq(crate::TENANT))
        .filter(memberships::account_id.eq(account_id));
    directory.read(|conn| Ok(rows.count().get_result(conn)?)).expect("counting memberships")
}

fn members(directory: &Directory, team_id: &str) -> Vec<String> {
    team(directory, team_id).expect("the team").member_ids
}

#[test]
fn a_deleted_account_leaves_every_team_and_stays_deleted_sqlite() {
    a_deleted_account_leaves_every_team_and_stays_deleted(&TestDirectory::sqlite());
}

#[test]
fn a_deleted_account_leaves_every_team_and_stays_deleted_postgres() {
    a_deleted_account_leaves_every_team_and_stays_deleted(&TestDirectory::postgres());
}

fn a_deleted_account_leaves_every_team_and_stays_deleted(directory: &Directory) {
    apply(directory, &account_event("alice", 1, "alice"));
    apply(directory, &account_event("bob", 1, "bob"));
    apply(directory, &team_event("staff", 1, "Staff", &["alice", "bob"]));
    apply(directory, &team_event("admins", 1, "Admins", &["alice"]));
    assert_eq!(account(directory, "alice").expect("the account").teams, ["admins", "staff"]);

    assert_eq!(apply(directory, &deleted_account_event("alice", 2)), Applied::Applied);
    assert_not_found(account(directory, "alice"));
    assert_eq!(members(directory, "staff"), ["bob"]);
    assert!(members(directory, "admins").is_empty());
    assert_eq!(membership_rows(directory, "alice"), 0);

    // A late, older event does not bring it back.
    assert_eq!(apply(directory, &account_event("alice", 1, "alice")), Applied::Stale);
    assert_not_found(account(directory, "alice"));

    // A team event replaces the member set.
    assert_eq!(apply(directory, &team_event("staff", 2, "Staff", &["carol", "bob"])), Applied::Applied);
    assert_eq!(members(directory, "staff"), ["bob", "carol"]);
    assert_eq!(account(directory, "bob").expect("the account").teams, ["staff"]);

    // A team event that still lists the deleted account (its partition lagged) does not list it.
    assert_eq!(apply(directory, &team_event("admins", 2, "Admins", &["alice", "bob"])), Applied::Applied);
    assert_eq!(members(directory, "admins"), ["bob"]);
    assert_eq!(account(directory, "bob").expect("the account").teams, ["admins", "staff"]);
}
