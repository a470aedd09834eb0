//! Links: a SCIM user linked to an existing account (a manual one with its email, or a
//! soft-deleted one it restores) takes over that account's row, which keeps its id. From then on
//! the row follows that SCIM user's versions only.

use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::records::Origin;

use crate::{
    TestDirectory, account, account_event, apply, assert_not_found, deleted_account_event, linked_event,
    manual_account, stored_account, team_event, user_event,
};

const PURGE_AT: i64 = 1_900_000_000_000_000;

#[test]
fn scim_takes_over_a_manual_account_it_links_to_sqlite() {
    scim_takes_over_a_manual_account_it_links_to(&TestDirectory::sqlite());
}

#[test]
fn scim_takes_over_a_manual_account_it_links_to_postgres() {
    scim_takes_over_a_manual_account_it_links_to(&TestDirectory::postgres());
}

fn scim_takes_over_a_manual_account_it_links_to(directory: &Directory) {
    let manual = manual_account(directory, "Alice@Example.com");
    assert_eq!((manual.origin, manual.scim_user_id.as_deref(), manual.active), (Origin::Manual, None, true));
    let id = manual.id.as_str();

    // An event of a SCIM user that names the account without linking to it changes nothing.
    assert_eq!(apply(directory, &user_event("user.updated", "s0", id, 7, "intruder")), Applied::Stale);
    assert_eq!(account(directory, id).expect("the manual account"), manual);

    let mut created = linked_event("s1", id, 1, "alice", "email");
    if let Some(proto::change_event::Record::Account(record)) = &mut created.record {
        record.email = Some("alice@example.com".to_owned());
        record.given_name = Some("Alice".to_owned());
        record.roles = vec!["admin".to_owned()];
        record.permissions = vec!["billing.read".to_owned()];
    }
    assert_eq!(apply(directory, &created), Applied::Applied);
    let linked = account(directory, id).expect("the linked account");
    assert_eq!(linked.id, manual.id);
    assert_eq!(linked.scim_user_id.as_deref(), Some("s1"));
    assert_eq!(linked.origin, Origin::Manual, "the product can still tell it made the account");
    assert_eq!(
        (linked.user_name.as_str(), linked.email.as_deref(), linked.given_name.as_deref()),
        ("alice", Some("alice@example.com"), Some("Alice"))
    );
    assert_eq!(
        (linked.roles.as_slice(), linked.permissions.as_slice()),
        (&["admin".to_owned()][..], &["billing.read".to_owned()][..])
    );
    assert_eq!(stored_account(directory, id).version, 1);
    // The SCIM user id is not an account of its own.
    assert_not_found(account(directory, "s1"));

    // The SCIM user's next version applies; a replay of the link, or an older version, does not.
    assert_eq!(apply(directory, &user_event("user.updated", "s1", id, 2, "alice.b")), Applied::Applied);
    assert_eq!(apply(directory, &created), Applied::Stale);
    assert_eq!(apply(directory, &user_event("user.updated", "s1", id, 1, "older")), Applied::Stale);
    assert_eq!(apply(directory, &user_event("user.updated", "s1", id, 2, "same version")), Applied::Stale);
    let updated = account(directory, id).expect("the account");
    assert_eq!((updated.user_name.as_str(), updated.scim_user_id.as_deref()), ("alice.b", Some("s1")));

    // Teams list it by its account id; another SCIM user's events still do not touch it.
    assert_eq!(apply(directory, &team_event("t1", 1, "Staff", &[id])), Applied::Applied);
    assert_eq!(account(directory, id).expect("the account").teams, ["t1"]);
    assert_eq!(apply(directory, &user_event("user.updated", "s0", id, 9, "intruder")), Applied::Stale);
    assert_eq!(account(directory, id).expect("the account").user_name, "alice.b");
}

#[test]
fn a_link_restores_a_soft_deleted_account_sqlite() {
    a_link_restores_a_soft_deleted_account(&TestDirectory::sqlite());
}

#[test]
fn a_link_restores_a_soft_deleted_account_postgres() {
    a_link_restores_a_soft_deleted_account(&TestDirectory::postgres());
}

fn a_link_restores_a_soft_deleted_account(directory: &Directory) {
    assert_eq!(apply(directory, &account_event("old", 4, "alice")), Applied::Applied);
    assert_eq!(apply(directory, &team_event("t1", 1, "Staff", &["old"])), Applied::Applied);
    let soft_deleted = proto::ChangeEvent { purge_after_micros: Some(PURGE_AT), ..deleted_account_event("old", 5) };
    assert_eq!(apply(directory, &soft_deleted), Applied::Applied);
    assert_not_found(account(directory, "old"));
    let tombstone = stored_account(directory, "old");
    assert_eq!((tombstone.deleted, tombstone.purge_after, tombstone.purged), (true, Some(PURGE_AT), false));

    // A new SCIM user with the same userName restores the account: its own versions start at 1,
    // below the stored one, and still apply.
    assert_eq!(apply(directory, &linked_event("new", "old", 1, "alice", "restored")), Applied::Applied);
    let restored = account(directory, "old").expect("the restored account");
    assert_eq!(
        (restored.scim_user_id.as_deref(), restored.origin, restored.active, restored.user_name.as_str()),
        (Some("new"), Origin::Scim, true, "alice")
    );
    assert!(restored.teams.is_empty(), "it left its teams when deleted: {restored:?}");
    let row = stored_account(directory, "old");
    assert_eq!((row.deleted, row.purge_after, row.purged, row.version), (false, None, false, 1));
    assert_not_found(account(directory, "new"));

    // The old SCIM user's late events (its purge included) no longer touch the account.
    let late_purge = proto::ChangeEvent { deleted: true, ..user_event("user.purged", "old", "old", 6, "") };
    assert_eq!(apply(directory, &late_purge), Applied::Stale);
    assert_eq!(apply(directory, &account_event("old", 7, "old data")), Applied::Stale);
    assert_eq!(account(directory, "old").expect("the restored account"), restored);

    // The new SCIM user's updates apply.
    assert_eq!(apply(directory, &user_event("user.updated", "new", "old", 2, "alice.r")), Applied::Applied);
    assert_eq!(account(directory, "old").expect("the account").user_name, "alice.r");
    assert_eq!(apply(directory, &linked_event("new", "old", 1, "alice", "restored")), Applied::Stale);
}
