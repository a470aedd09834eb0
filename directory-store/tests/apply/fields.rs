//! The record's fields as stored and read back: permissions, custom fields, the SCIM user id,
//! on accounts and teams, and over the wire.

use std::collections::{BTreeMap, HashMap};

use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::records::Origin;
use proto::change_event::Record;

use crate::{TestDirectory, account, account_event, apply, event, stored_account, team, team_event};

fn with_fields(mut event: proto::ChangeEvent, permissions: &[&str], custom: &[(&str, &str)]) -> proto::ChangeEvent {
    if let Some(Record::Account(record)) = &mut event.record {
        record.permissions = permissions.iter().map(|&p| p.to_owned()).collect();
        record.custom_fields = custom.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    }
    event
}

#[test]
fn permissions_and_custom_fields_are_stored_and_read_back_sqlite() {
    permissions_and_custom_fields_are_stored_and_read_back(&TestDirectory::sqlite());
}

#[test]
fn permissions_and_custom_fields_are_stored_and_read_back_postgres() {
    permissions_and_custom_fields_are_stored_and_read_back(&TestDirectory::postgres());
}

fn permissions_and_custom_fields_are_stored_and_read_back(directory: &Directory) {
    let custom = [("department", "Sales"), ("cost_center", "42"), ("é", "ü \"quoted\"")];
    let created = with_fields(account_event("u1", 1, "alice"), &["billing.read", "users.write"], &custom);
    assert_eq!(apply(directory, &created), Applied::Applied);
    let alice = account(directory, "u1").expect("the account");
    assert_eq!(alice.permissions, ["billing.read", "users.write"]);
    let expected: BTreeMap<String, String> = custom.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    assert_eq!(alice.custom_fields, expected);
    assert_eq!((alice.scim_user_id.as_deref(), alice.origin), (Some("u1"), Origin::Scim));

    // Over gRPC, as the proto record.
    let wire = proto::Account::from(alice);
    let expected_map: HashMap<String, String> = expected.into_iter().collect();
    assert_eq!((wire.custom_fields, wire.scim_user_id.as_str()), (expected_map, "u1"));
    assert_eq!(wire.permissions, ["billing.read", "users.write"]);

    // An update replaces them.
    let updated = with_fields(account_event("u1", 2, "alice"), &[], &[("department", "Ops")]);
    assert_eq!(apply(directory, &updated), Applied::Applied);
    let alice = account(directory, "u1").expect("the account");
    assert!(alice.permissions.is_empty());
    assert_eq!(alice.custom_fields, BTreeMap::from([("department".to_owned(), "Ops".to_owned())]));

    // Teams keep theirs.
    let mut staff = team_event("t1", 1, "Staff", &["u1"]);
    if let Some(Record::Team(record)) = &mut staff.record {
        record.permissions = vec!["billing.read".to_owned(), "reports.read".to_owned()];
    }
    assert_eq!(apply(directory, &staff), Applied::Applied);
    assert_eq!(team(directory, "t1").expect("the team").permissions, ["billing.read", "reports.read"]);
    assert_eq!(apply(directory, &team_event("t1", 2, "Staff", &["u1"])), Applied::Applied);
    assert!(team(directory, "t1").expect("the team").permissions.is_empty());
}

#[test]
fn an_event_from_before_account_ids_applies_to_its_scim_user_sqlite() {
    an_event_from_before_account_ids_applies_to_its_scim_user(&TestDirectory::sqlite());
}

#[test]
fn an_event_from_before_account_ids_applies_to_its_scim_user_postgres() {
    an_event_from_before_account_ids_applies_to_its_scim_user(&TestDirectory::postgres());
}

/// Events already in the topic (replayed by a rebuilt directory) carry no scim_user_id, and may
/// carry no account id.
fn an_event_from_before_account_ids_applies_to_its_scim_user(directory: &Directory) {
    let record = proto::Account { user_name: "alice".to_owned(), active: true, ..proto::Account::default() };
    let old = event("user.created", proto::ResourceKind::User, "u1", 1, Record::Account(record.clone()));
    assert_eq!(apply(directory, &old), Applied::Applied);
    let alice = account(directory, "u1").expect("the account");
    assert_eq!((alice.user_name.as_str(), alice.scim_user_id.as_deref()), ("alice", Some("u1")));

    let with_id = proto::Account { id: "u1".to_owned(), user_name: "alice.b".to_owned(), ..record };
    let newer = event("user.updated", proto::ResourceKind::User, "u1", 2, Record::Account(with_id));
    assert_eq!(apply(directory, &newer), Applied::Applied);
    assert_eq!(apply(directory, &old), Applied::Stale);
    assert_eq!(stored_account(directory, "u1").user_name, "alice.b");
}
