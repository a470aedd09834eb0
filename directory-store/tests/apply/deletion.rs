//! Deletions: a deleted account is gone from reads and from every team, and stays gone whatever
//! order the events come in; a soft-deleted one keeps its data until purged, and a purged one
//! keeps nothing personal; a team event replaces the team's member set.

use diesel::prelude::*;
use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::schema::memberships;

use crate::{
    StoredAccount, TestDirectory, account, account_event, apply, assert_not_found, deleted_account_event,
    stored_account, team, team_change, team_event, user_event,
};

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

    // A team event adds and removes the members it names, and only those.
    assert_eq!(apply(directory, &team_change("staff", 2, "Staff", &["carol", "bob"], &["dave"])), Applied::Applied);
    assert_eq!(members(directory, "staff"), ["bob", "carol"]);
    assert_eq!(account(directory, "bob").expect("the account").teams, ["staff"]);

    // A team event that still adds the deleted account (its partition lagged) does not list it.
    assert_eq!(apply(directory, &team_event("admins", 2, "Admins", &["alice", "bob"])), Applied::Applied);
    assert_eq!(members(directory, "admins"), ["bob"]);
    assert_eq!(account(directory, "bob").expect("the account").teams, ["admins", "staff"]);
}

#[test]
fn a_purged_account_keeps_nothing_personal_and_stays_deleted_sqlite() {
    a_purged_account_keeps_nothing_personal_and_stays_deleted(&TestDirectory::sqlite());
}

#[test]
fn a_purged_account_keeps_nothing_personal_and_stays_deleted_postgres() {
    a_purged_account_keeps_nothing_personal_and_stays_deleted(&TestDirectory::postgres());
}

fn with_personal_data(mut event: proto::ChangeEvent) -> proto::ChangeEvent {
    if let Some(proto::change_event::Record::Account(record)) = &mut event.record {
        record.external_id = Some("ext-1".to_owned());
        record.email = Some("Alice@Example.com".to_owned());
        record.given_name = Some("Alice".to_owned());
        record.roles = vec!["admin".to_owned()];
        record.permissions = vec!["billing.read".to_owned()];
        record.custom_fields.insert("department".to_owned(), "Sales".to_owned());
    }
    event
}

fn a_purged_account_keeps_nothing_personal_and_stays_deleted(directory: &Directory) {
    const PURGE_AT: i64 = 1_900_000_000_000_000;
    let created = with_personal_data(account_event("u1", 1, "alice"));
    assert_eq!(apply(directory, &created), Applied::Applied);
    assert_eq!(apply(directory, &team_event("staff", 1, "Staff", &["u1"])), Applied::Applied);

    // A soft delete keeps the row, its data and when it will be purged.
    let soft_deleted =
        proto::ChangeEvent { purge_after_micros: Some(PURGE_AT), ..with_personal_data(deleted_account_event("u1", 2)) };
    assert_eq!(apply(directory, &soft_deleted), Applied::Applied);
    assert_not_found(account(directory, "u1"));
    assert_eq!(membership_rows(directory, "u1"), 0);
    let tombstone = stored_account(directory, "u1");
    assert_eq!(
        (tombstone.deleted, tombstone.purge_after, tombstone.purged, tombstone.email.as_deref()),
        (true, Some(PURGE_AT), false, Some("Alice@Example.com"))
    );
    assert_eq!(tombstone.email_key.as_deref(), Some("alice@example.com"));
    // A team event from a lagging partition still lists it: the row is stored, reads hide it.
    assert_eq!(apply(directory, &team_event("staff", 2, "Staff", &["u1"])), Applied::Applied);
    assert_eq!((membership_rows(directory, "u1"), members(directory, "staff")), (1, Vec::<String>::new()));

    // The purge clears everything personal, whatever the event carries.
    let purge =
        proto::ChangeEvent { deleted: true, ..with_personal_data(user_event("user.purged", "u1", "u1", 3, "alice")) };
    assert_eq!(apply(directory, &purge), Applied::Applied);
    let purged = StoredAccount {
        user_name: String::new(),
        external_id: None,
        email: None,
        email_key: None,
        given_name: None,
        roles: "[]".to_owned(),
        permissions: "[]".to_owned(),
        custom_fields: "{}".to_owned(),
        scim_user_id: Some("u1".to_owned()),
        origin: "scim".to_owned(),
        version: 3,
        deleted: true,
        purge_after: None,
        purged: true,
    };
    assert_eq!(stored_account(directory, "u1"), purged);
    assert_eq!(membership_rows(directory, "u1"), 0);

    // Late, older events do not bring it back.
    assert_eq!(apply(directory, &created), Applied::Stale);
    assert_eq!(
        apply(directory, &with_personal_data(user_event("user.updated", "u1", "u1", 2, "alice"))),
        Applied::Stale
    );
    assert_eq!(apply(directory, &team_event("staff", 3, "Staff", &["u1"])), Applied::Applied);
    assert_not_found(account(directory, "u1"));
    assert_eq!(stored_account(directory, "u1"), purged);
    assert!(members(directory, "staff").is_empty());

    // The purge of an account the directory never held (a topic compacted before a rebuild)
    // leaves the same tombstone.
    let unseen = proto::ChangeEvent { deleted: true, ..user_event("user.purged", "u9", "u9", 4, "") };
    assert_eq!(apply(directory, &unseen), Applied::Applied);
    assert_eq!(apply(directory, &account_event("u9", 3, "bob")), Applied::Stale);
    let tombstone = stored_account(directory, "u9");
    assert_eq!((tombstone.deleted, tombstone.purged, tombstone.version), (true, true, 4));
}
