//! Groups: membership as rows, kept consistent through user deletion and concurrent PATCHes.

use std::sync::Barrier;

use provisioning_core::store::Store;

use crate::pipeline::{groups, users};
use scim::GroupInput;
use scim::patch::{PatchOperation, PatchRequest};
use serde_json::json;

use crate::{TestStore, create_group, create_user, member_ids, scim_error, summary, take_events, team, tenant};

fn add_member(user_id: &str) -> Vec<PatchOperation> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}]
    });
    PatchRequest::from_body(&body).expect("a PATCH body").operations
}

#[test]
fn deleting_a_user_removes_it_from_its_groups_sqlite() {
    deleting_a_user_removes_it_from_its_groups(&TestStore::sqlite());
}

#[test]
fn deleting_a_user_removes_it_from_its_groups_postgres() {
    deleting_a_user_removes_it_from_its_groups(&TestStore::postgres());
}

fn deleting_a_user_removes_it_from_its_groups(store: &Store) {
    let acme = tenant(store, "acme");
    let alice = create_user(store, &acme, json!({"userName": "alice"}));
    let bob = create_user(store, &acme, json!({"userName": "bob"}));
    let staff = create_group(
        store,
        &acme,
        json!({"displayName": "Staff", "members": [{"value": alice.id}, {"value": bob.id}]}),
    );
    let bobs = create_group(store, &acme, json!({"displayName": "Bob's", "members": [{"value": bob.id}]}));
    take_events(store);

    store.write(|conn| users::delete(conn, &acme, &alice.id, None)).expect("deleting alice");

    let staff_now = store.read(|conn| groups::get(conn, &acme, &staff.id, false)).expect("reading the group");
    assert_eq!((staff_now.version, member_ids(&staff_now)), (2, vec![bob.id.clone()]));
    assert_eq!(store.read(|conn| groups::get(conn, &acme, &bobs.id, false)).expect("reading the group"), bobs);
    let gone = store.read(|conn| users::get(conn, &acme, &alice.id));
    assert_eq!(scim_error(gone).status, 404);

    let events = take_events(store);
    assert_eq!(
        summary(&events),
        [("group.member_removed".to_owned(), staff.id.clone()), ("user.deleted".to_owned(), alice.id.clone())]
    );
    let removed = &events[0].1;
    assert_eq!(removed.version, 2);
    assert!(team(removed).member_ids.is_empty(), "events carry deltas, not the member list");
    assert!(removed.added_member_ids.is_empty());
    assert_eq!(removed.removed_member_ids, [alice.id]);
}

/// PostgreSQL only: there, writers really run at once (SQLite's are serialized by the store).
#[test]
fn concurrent_member_additions_are_all_kept_postgres() {
    concurrent_member_additions_are_all_kept(&TestStore::postgres());
}

fn concurrent_member_additions_are_all_kept(store: &Store) {
    let acme = tenant(store, "acme");
    let group = create_group(store, &acme, json!({"displayName": "Everyone"}));
    let mut user_ids: Vec<String> =
        (0..8).map(|i| create_user(store, &acme, json!({"userName": format!("user{i}")})).id).collect();
    take_events(store);

    let start = Barrier::new(user_ids.len());
    std::thread::scope(|scope| {
        for user_id in &user_ids {
            let (start, acme, group_id) = (&start, &acme, group.id.as_str());
            scope.spawn(move || {
                let operations = add_member(user_id);
                start.wait();
                store.write(|conn| groups::patch(conn, acme, group_id, operations)).expect("adding a member");
            });
        }
    });

    user_ids.sort();
    let stored = store.read(|conn| groups::get(conn, &acme, &group.id, false)).expect("reading the group");
    assert_eq!(member_ids(&stored), user_ids);
    assert_eq!(stored.version, 1 + 8);

    let events = take_events(store);
    assert!(events.iter().all(|(row, _)| row.event_type == "group.member_added"), "{:?}", summary(&events));
    let mut versions: Vec<i64> = events.iter().map(|(_, event)| event.version).collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=9).collect::<Vec<_>>());
    let mut added: Vec<String> = events.iter().flat_map(|(_, event)| event.added_member_ids.clone()).collect();
    added.sort();
    assert_eq!(added, user_ids);
    // Events carry deltas: no team record lists the members.
    assert!(events.iter().all(|(_, event)| team(event).member_ids.is_empty()));
}

#[test]
fn a_stale_if_match_on_a_group_is_refused_with_412_sqlite() {
    a_stale_if_match_on_a_group_is_refused_with_412(&TestStore::sqlite());
}

#[test]
fn a_stale_if_match_on_a_group_is_refused_with_412_postgres() {
    a_stale_if_match_on_a_group_is_refused_with_412(&TestStore::postgres());
}

fn a_stale_if_match_on_a_group_is_refused_with_412(store: &Store) {
    let acme = tenant(store, "acme");
    let group = create_group(store, &acme, json!({"displayName": "Staff"}));
    take_events(store);
    let renamed = || GroupInput::from_body(json!({"displayName": "Everyone"})).expect("a Group body");

    let stale_update = store.write(|conn| groups::update(conn, &acme, &group.id, Some(2), |_, _| Ok(renamed())));
    assert_eq!(scim_error(stale_update).status, 412);
    let stale_delete = store.write(|conn| groups::delete(conn, &acme, &group.id, Some(0)));
    assert_eq!(scim_error(stale_delete).status, 412);
    assert_eq!(store.read(|conn| groups::get(conn, &acme, &group.id, false)).expect("reading the group"), group);
    assert!(take_events(store).is_empty());

    let updated = store
        .write(|conn| groups::update(conn, &acme, &group.id, Some(1), |_, _| Ok(renamed())))
        .expect("an update with the current version");
    assert_eq!((updated.version, updated.attributes["displayName"].as_str()), (2, Some("Everyone")));
    store.write(|conn| groups::delete(conn, &acme, &group.id, Some(2))).expect("a delete with the current version");
    assert_eq!(
        summary(&take_events(store)),
        [("group.updated".to_owned(), group.id.clone()), ("group.deleted".to_owned(), group.id.clone())]
    );
}

#[test]
fn a_second_group_of_the_same_name_or_external_id_is_409_sqlite() {
    a_second_group_of_the_same_name_or_external_id_is_409(&TestStore::sqlite());
}

#[test]
fn a_second_group_of_the_same_name_or_external_id_is_409_postgres() {
    a_second_group_of_the_same_name_or_external_id_is_409(&TestStore::postgres());
}

/// A retried POST /Groups (the first one committed after the IdP gave up on it) creates no
/// second group; nor does a rename onto another group's name. Other tenants are not concerned.
fn a_second_group_of_the_same_name_or_external_id_is_409(store: &Store) {
    let (acme, globex) = (tenant(store, "acme"), tenant(store, "globex"));
    let body = json!({"displayName": "Sales", "externalId": "8aa1a0c0-obj"});
    let sales = create_group(store, &acme, body.clone());
    take_events(store);
    let create = |tenant, body| store.write(|conn| groups::create(conn, tenant, GroupInput::from_body(body)?));
    for retry in
        [body.clone(), json!({"displayName": "SALES"}), json!({"displayName": "Other", "externalId": "8aa1a0c0-obj"})]
    {
        let error = scim_error(create(&acme, retry.clone()));
        assert_eq!((error.status, error.scim_type), (409, Some(scim::error::ScimType::Uniqueness)), "{retry}");
        assert!(error.detail.contains(&sales.id), "names the existing group: {}", error.detail);
    }
    assert!(take_events(store).is_empty(), "nothing written");
    let other = create(&acme, json!({"displayName": "Support", "externalId": "other-obj"})).expect("another name");
    let renamed = store.write(|conn| {
        groups::update(conn, &acme, &other.id, None, |_, _| Ok(GroupInput::from_body(json!({"displayName": "sales"}))?))
    });
    assert_eq!(scim_error(renamed).status, 409);
    create(&globex, body).expect("the same group in another tenant");
    // A group keeps its own name and externalId through an update.
    store
        .write(|conn| {
            groups::update(conn, &acme, &sales.id, None, |_, _| {
                Ok(GroupInput::from_body(
                    json!({"displayName": "Sales", "externalId": "8aa1a0c0-obj", "description": "x"}),
                )?)
            })
        })
        .expect("an update of the group itself");
}

#[test]
fn stale_member_ids_are_left_out_sqlite() {
    stale_member_ids_are_left_out(&TestStore::sqlite());
}

#[test]
fn stale_member_ids_are_left_out_postgres() {
    stale_member_ids_are_left_out(&TestStore::postgres());
}

/// A member id that is not a user (deleted here, still cached by the IdP) never blocks a sync:
/// the known members are added, the unknown one is left out.
fn stale_member_ids_are_left_out(store: &Store) {
    let acme = tenant(store, "acme");
    let ann = create_user(store, &acme, json!({"userName": "ann"}));
    let group =
        create_group(store, &acme, json!({"displayName": "G", "members": [{"value": ann.id}, {"value": "gone"}]}));
    assert_eq!(member_ids(&group), vec![ann.id.clone()]);
    let bob = create_user(store, &acme, json!({"userName": "bob"}));
    let patch = scim::PatchRequest::from_body(&json!({"Operations": [
        {"op": "add", "path": "members", "value": [{"value": "also-gone"}, {"value": bob.id}]}
    ]}))
    .unwrap()
    .operations;
    let patched = store.write(|conn| groups::patch(conn, &acme, &group.id, patch)).unwrap();
    let mut expected = vec![ann.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(member_ids(&patched), expected);
    let only_stale = scim::PatchRequest::from_body(&json!({"Operations": [
        {"op": "add", "path": "members", "value": [{"value": "gone"}]}
    ]}))
    .unwrap()
    .operations;
    let unchanged = store.write(|conn| groups::patch(conn, &acme, &group.id, only_stale)).unwrap();
    assert_eq!(unchanged.version, patched.version, "adding only unknown ids changes nothing");
}
