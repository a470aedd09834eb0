//! The transactional outbox: exactly one event per committed change, none for a change that
//! changes nothing or is rolled back.

use provisioning_core::store::Store;
use provisioning_core::store::query::Page;

use crate::pipeline::{groups, users};
use scim::UserInput;
use scim::patch::PatchRequest;
use serde_json::json;

use crate::{
    TestStore, account, create_group, create_user, member_ids, scim_error, summary, take_events, tenant, user_input,
};

#[test]
fn each_committed_change_writes_one_event_sqlite() {
    each_committed_change_writes_one_event(&TestStore::sqlite());
}

#[test]
fn each_committed_change_writes_one_event_postgres() {
    each_committed_change_writes_one_event(&TestStore::postgres());
}

fn each_committed_change_writes_one_event(store: &Store) {
    let acme = tenant(store, "acme");
    let alice = create_user(store, &acme, json!({"userName": "alice", "externalId": "ext-1"}));
    let created = take_events(store);
    assert_eq!(summary(&created), [("user.created".to_owned(), alice.id.clone())]);
    let (created_row, created) = &created[0];
    assert_eq!((created.event_type.as_str(), created.version, created.deleted), ("user.created", 1, false));
    assert_eq!((created.tenant_id.as_str(), created.resource_id.as_str()), ("acme", alice.id.as_str()));
    assert_eq!(created.external_id.as_deref(), Some("ext-1"));
    assert_eq!((account(created).user_name.as_str(), account(created).active), ("alice", true));

    let deactivated = store
        .write(|conn| {
            users::update(conn, &acme, &alice.id, None, |mut attributes| {
                attributes.insert("active".into(), json!(false));
                Ok(UserInput::from_attributes(attributes)?)
            })
        })
        .expect("deactivating");
    assert_eq!(deactivated.version, 2);
    let deactivated = take_events(store);
    assert_eq!(summary(&deactivated), [("user.deactivated".to_owned(), alice.id.clone())]);
    let (deactivated_row, deactivated) = &deactivated[0];
    assert_eq!((deactivated.event_type.as_str(), deactivated.version), ("user.deactivated", 2));
    assert!(!account(deactivated).active);

    store.write(|conn| users::delete(conn, &acme, &alice.id, None)).expect("deleting");
    let deleted = take_events(store);
    assert_eq!(summary(&deleted), [("user.deleted".to_owned(), alice.id.clone())]);
    let (deleted_row, deleted) = &deleted[0];
    assert_eq!((deleted.event_type.as_str(), deleted.version, deleted.deleted), ("user.deleted", 3, true));

    assert!(created_row.seq < deactivated_row.seq && deactivated_row.seq < deleted_row.seq);
    let ids = [&created.event_id, &deactivated.event_id, &deleted.event_id];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "event ids are unique: {ids:?}");
}

#[test]
fn a_failed_transaction_leaves_no_row_and_no_event_sqlite() {
    a_failed_transaction_leaves_no_row_and_no_event(&TestStore::sqlite());
}

#[test]
fn a_failed_transaction_leaves_no_row_and_no_event_postgres() {
    a_failed_transaction_leaves_no_row_and_no_event(&TestStore::postgres());
}

fn a_failed_transaction_leaves_no_row_and_no_event(store: &Store) {
    let acme = tenant(store, "acme");
    // The first create succeeds inside the transaction; the 409 of the second rolls both back.
    let result = store.write(|conn| {
        users::create(conn, &acme, user_input(json!({"userName": "dave"})))?;
        users::create(conn, &acme, user_input(json!({"userName": "DAVE"})))
    });
    assert_eq!(scim_error(result).status, 409);

    assert!(take_events(store).is_empty());
    let (total, listed) = store.read(|conn| users::list(conn, &acme, None, Page::new(1, None))).expect("listing");
    assert_eq!((total, listed.len()), (0, 0));

    let dave = create_user(store, &acme, json!({"userName": "dave"}));
    assert_eq!(summary(&take_events(store)), [("user.created".to_owned(), dave.id)]);
}

#[test]
fn an_update_that_changes_nothing_writes_no_event_sqlite() {
    an_update_that_changes_nothing_writes_no_event(&TestStore::sqlite());
}

#[test]
fn an_update_that_changes_nothing_writes_no_event_postgres() {
    an_update_that_changes_nothing_writes_no_event(&TestStore::postgres());
}

fn an_update_that_changes_nothing_writes_no_event(store: &Store) {
    let acme = tenant(store, "acme");
    let body = json!({"userName": "alice", "name": {"givenName": "Alice"}, "active": true});
    let alice = create_user(store, &acme, body.clone());
    let group = create_group(store, &acme, json!({"displayName": "Staff", "members": [{"value": alice.id}]}));
    take_events(store);

    // A PUT of the same body, and a PATCH adding a member that is already there.
    let put = store
        .write(|conn| users::update(conn, &acme, &alice.id, None, |_| Ok(user_input(body.clone()))))
        .expect("a PUT of the same user");
    assert_eq!(put, alice);
    let add_again = PatchRequest::from_body(&json!({
        "Operations": [{"op": "add", "path": "members", "value": [{"value": alice.id}]}]
    }))
    .expect("a PATCH body")
    .operations;
    let patched =
        store.write(|conn| groups::patch(conn, &acme, &group.id, add_again)).expect("a PATCH that changes nothing");
    assert_eq!((patched.version, member_ids(&patched)), (1, vec![alice.id.clone()]));

    assert!(take_events(store).is_empty());
    assert_eq!(store.read(|conn| users::get(conn, &acme, &alice.id)).expect("reading").version, 1);
    assert_eq!(store.read(|conn| groups::get(conn, &acme, &group.id, false)).expect("reading"), group);
}
