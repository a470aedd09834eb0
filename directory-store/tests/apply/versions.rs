//! Versions: a newer one applies; an older or equal one (a replay, a late duplicate) is skipped.

use directory_store::Directory;
use directory_store::apply::Applied;

use crate::{TestDirectory, account, account_event, apply, team, team_change, team_event};

#[test]
fn only_a_newer_version_applies_sqlite() {
    only_a_newer_version_applies(&TestDirectory::sqlite());
}

#[test]
fn only_a_newer_version_applies_postgres() {
    only_a_newer_version_applies(&TestDirectory::postgres());
}

fn only_a_newer_version_applies(directory: &Directory) {
    assert_eq!(apply(directory, &account_event("u1", 2, "alice")), Applied::Applied);
    let alice = account(directory, "u1").expect("the account");
    assert_eq!((alice.user_name.as_str(), alice.active), ("alice", true));

    assert_eq!(apply(directory, &account_event("u1", 1, "older")), Applied::Stale);
    assert_eq!(apply(directory, &account_event("u1", 2, "same version")), Applied::Stale);
    assert_eq!(account(directory, "u1").expect("the account"), alice);

    assert_eq!(apply(directory, &account_event("u1", 3, "alice.b")), Applied::Applied);
    assert_eq!(account(directory, "u1").expect("the account").user_name, "alice.b");

    assert_eq!(apply(directory, &team_event("t1", 2, "Staff", &["u1"])), Applied::Applied);
    let staff = team(directory, "t1").expect("the team");
    assert_eq!((staff.name.as_str(), staff.member_ids.as_slice()), ("Staff", &["u1".to_owned()][..]));

    assert_eq!(apply(directory, &team_event("t1", 1, "Older", &["u2"])), Applied::Stale);
    assert_eq!(apply(directory, &team_event("t1", 2, "Same", &[])), Applied::Stale);
    assert_eq!(team(directory, "t1").expect("the team"), staff);
    assert_eq!(account(directory, "u1").expect("the account").teams, ["t1"]);

    assert_eq!(apply(directory, &team_change("t1", 3, "Everyone", &[], &["u1"])), Applied::Applied);
    let everyone = team(directory, "t1").expect("the team");
    assert_eq!((everyone.name.as_str(), everyone.member_ids.len()), ("Everyone", 0));
}
