//! Directory records: what SCIM users and groups become under a tenant's rules (mapping, roles,
//! group permissions), and the account lifecycle (soft and hard deletes, restores, purges,
//! linking to accounts made by hand), as the change events tell it.

use std::collections::BTreeMap;

use proto::{ChangeEvent, FieldChange, Link};
use provisioning_core::mapping::{GroupPermissions, MappingConfig};
use provisioning_core::store::outbox::OutboxEvent;
use provisioning_core::store::tenants::{
    DeleteMode, Lifecycle, TenantId, TenantSettings, mapping_of, set_mapping, set_settings,
};
use provisioning_core::store::{Store, StoredResource, now_micros};

use crate::pipeline::{groups, records, users, with_warnings};
use provisioning_core::error::CoreError;
use provisioning_core::write::{Kind, User};
use scim::{GroupInput, UserInput};
use serde_json::{Map, Value, json};

use crate::{
    TestStore, account, create_group, create_user, member_ids, scim_error, summary, take_events, team, tenant,
    user_input,
};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const DAY_MICROS: i64 = 86_400_000_000;

fn change(field: &str, before_json: &str, after_json: &str) -> FieldChange {
    FieldChange { field: field.to_owned(), before_json: before_json.to_owned(), after_json: after_json.to_owned() }
}

fn pair(event_type: &str, resource_id: &str) -> (String, String) {
    (event_type.to_owned(), resource_id.to_owned())
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn permissions(entries: &[(&str, &[&str])]) -> GroupPermissions {
    entries.iter().map(|(team, granted)| ((*team).to_owned(), strings(granted))).collect()
}

fn store_mapping(store: &Store, tenant: &TenantId, config: &MappingConfig, permissions: &GroupPermissions) {
    store.write(|conn| set_mapping(conn, tenant.as_str(), config, permissions)).expect("storing a mapping");
}

fn store_lifecycle(store: &Store, tenant: &TenantId, lifecycle: Lifecycle) {
    let settings = TenantSettings { lifecycle: Some(lifecycle), ..TenantSettings::default() };
    store.write(|conn| set_settings(conn, tenant.as_str(), &settings)).expect("storing settings");
}

/// Changes a user's attributes (a PUT or PATCH as the store sees it).
fn update_user(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> StoredResource {
    store
        .write(|conn| {
            users::update(conn, tenant, id, None, |mut attributes| {
                edit(&mut attributes);
                Ok(UserInput::from_attributes(attributes)?)
            })
        })
        .expect("updating a user")
}

/// Changes a group's attributes and members.
fn update_group(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    edit: impl FnOnce(&mut Map<String, Value>, &mut Vec<String>),
) -> StoredResource {
    store
        .write(|conn| {
            groups::update(conn, tenant, id, None, |mut attributes, mut members| {
                edit(&mut attributes, &mut members);
                Ok(GroupInput::from_attributes(attributes, members)?)
            })
        })
        .expect("updating a group")
}

fn scim_version(store: &Store, tenant: &TenantId, id: &str) -> i64 {
    store.read(|conn| users::get(conn, tenant, id)).expect("reading a user").version
}

/// Each resource's event versions, in commit order.
fn versions_by_resource(events: &[(OutboxEvent, ChangeEvent)]) -> BTreeMap<String, Vec<i64>> {
    let mut versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (row, event) in events {
        versions.entry(row.resource_id.clone()).or_default().push(event.version);
    }
    versions
}

fn assert_strictly_increasing(versions: &BTreeMap<String, Vec<i64>>) {
    for (resource, list) in versions {
        assert!(list.windows(2).all(|w| w[0] < w[1]), "versions of {resource} must strictly increase: {list:?}");
    }
}

// 1. The default mapping.

#[test]
fn default_mapping_splits_the_display_name_with_a_warning_sqlite() {
    default_mapping_splits_the_display_name_with_a_warning(&TestStore::sqlite());
}

#[test]
fn default_mapping_splits_the_display_name_with_a_warning_postgres() {
    default_mapping_splits_the_display_name_with_a_warning(&TestStore::postgres());
}

fn default_mapping_splits_the_display_name_with_a_warning(store: &Store) {
    let acme = tenant(store, "acme");
    let input = user_input(json!({
        "userName": "ada",
        "displayName": "Ada King Lovelace",
        "emails": [{"type": "work", "value": "ada@x.io"}]
    }));
    let (created, warnings) = store
        .write(|conn| Ok::<_, CoreError>(with_warnings(conn, &acme, |w| User::create(w, input.into()))))
        .expect("a write");
    let ada = created.expect("creating ada");

    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &ada.id)]);
    let event = &events[0].1;
    assert_eq!((event.version, event.deleted, event.link.as_ref()), (1, false, None));
    assert!(event.changes.is_empty(), "a created event lists no changes: {:?}", event.changes);
    let record = account(event);
    assert_eq!(record.given_name.as_deref(), Some("Ada"));
    assert_eq!(record.family_name.as_deref(), Some("King Lovelace"));
    assert_eq!(record.display_name.as_deref(), Some("Ada King Lovelace"));
    assert_eq!(record.email.as_deref(), Some("ada@x.io"));
    assert_eq!((record.id.as_str(), record.scim_user_id.as_str()), (ada.id.as_str(), ada.id.as_str()));
    assert_eq!((record.user_name.as_str(), record.tenant_id.as_str(), record.active), ("ada", "acme", true));
    assert!(record.roles.is_empty() && record.permissions.is_empty() && record.custom_fields.is_empty());

    assert_eq!(warnings.len(), 2, "one warning for each guessed name: {warnings:?}");
    assert!(warnings[0].contains("given_name") && warnings[0].contains("name.givenName"), "{warnings:?}");
    assert!(warnings[1].contains("family_name") && warnings[1].contains("name.familyName"), "{warnings:?}");
}

// 2. A custom mapping and a role table.

#[test]
fn custom_fields_and_roles_follow_the_tenants_mapping_sqlite() {
    custom_fields_and_roles_follow_the_tenants_mapping(&TestStore::sqlite());
}

#[test]
fn custom_fields_and_roles_follow_the_tenants_mapping_postgres() {
    custom_fields_and_roles_follow_the_tenants_mapping(&TestStore::postgres());
}

fn custom_fields_and_roles_follow_the_tenants_mapping(store: &Store) {
    let acme = tenant(store, "acme");
    let config: MappingConfig = serde_json::from_value(json!({
        "custom_fields": {"department": [format!("{ENTERPRISE}:department")]},
        "roles": {"table": {"Approver": "approver"}, "default_role": "member"}
    }))
    .expect("a mapping");
    store_mapping(store, &acme, &config, &GroupPermissions::new());

    let input = user_input(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "grace",
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "roles": [{"value": "{\"id\":\"1\",\"value\":\"Approver\"}"}, {"value": "Intern"}],
        ENTERPRISE: {"department": "R&D"}
    }));
    let (created, warnings) = store
        .write(|conn| Ok::<_, CoreError>(with_warnings(conn, &acme, |w| User::create(w, input.into()))))
        .expect("a write");
    let grace = created.expect("creating grace");

    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &grace.id)]);
    let record = account(&events[0].1);
    assert_eq!(record.roles, ["approver", "member"]);
    let custom: Vec<(&str, &str)> = record.custom_fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(custom, [("department", "R&D")]);
    let intern: Vec<&String> = warnings.iter().filter(|w| w.contains("'Intern'")).collect();
    assert_eq!(intern.len(), 1, "{warnings:?}");
    assert!(intern[0].contains("'member'"), "the warning names the default role: {warnings:?}");
    assert!(!warnings.iter().any(|w| w.contains("Approver")), "a mapped role is no warning: {warnings:?}");

    // A custom field's change is published under its own name.
    update_user(store, &acme, &grace.id, |attributes| {
        attributes.insert(ENTERPRISE.to_owned(), json!({"department": "Ops"}));
    });
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.updated", &grace.id)]);
    assert_eq!(events[0].1.changes, [change("custom_fields.department", "\"R&D\"", "\"Ops\"")]);
    assert_eq!(events[0].1.version, 2);

    // An invalid mapping is refused and the stored one stays.
    let bad: MappingConfig =
        serde_json::from_value(json!({"account": {"email": ["emails[type eq"]}})).expect("a mapping");
    let refused = store.write(|conn| set_mapping(conn, "acme", &bad, &GroupPermissions::new()));
    assert_eq!(scim_error(refused).status, 400);
    let stored = store.read(|conn| mapping_of(conn, "acme")).expect("reading the mapping");
    assert_eq!(stored, (config, GroupPermissions::new()));
    assert!(take_events(store).is_empty());
}

// 3. Group permissions.

#[test]
fn group_permissions_reach_the_members_accounts_sqlite() {
    group_permissions_reach_the_members_accounts(&TestStore::sqlite());
}

#[test]
fn group_permissions_reach_the_members_accounts_postgres() {
    group_permissions_reach_the_members_accounts(&TestStore::postgres());
}

fn group_permissions_reach_the_members_accounts(store: &Store) {
    let acme = tenant(store, "acme");
    store_mapping(store, &acme, &MappingConfig::default(), &permissions(&[("Engineering", &["deploy", "read"])]));
    let alice = create_user(store, &acme, json!({"userName": "alice"}));
    let bob = create_user(store, &acme, json!({"userName": "bob"}));
    let mut all = take_events(store);

    // Creating the team gives alice its permissions; bob is not touched.
    let group = create_group(store, &acme, json!({"displayName": "Engineering", "members": [{"value": alice.id}]}));
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("group.created", &group.id), pair("user.updated", &alice.id)]);
    let created = &events[0].1;
    assert_eq!(team(created).permissions, ["deploy", "read"]);
    assert!(team(created).member_ids.is_empty(), "events carry deltas, not the member list");
    assert_eq!(created.added_member_ids, [alice.id.as_str()]);
    let alice_updated = &events[1].1;
    assert_eq!(alice_updated.changes, [change("permissions", "[]", "[\"deploy\",\"read\"]")]);
    assert_eq!(account(alice_updated).permissions, ["deploy", "read"]);
    assert_eq!(account(alice_updated).id, alice.id);
    all.extend(events);

    // Bob joins, alice leaves: both accounts are re-published.
    let swapped = update_group(store, &acme, &group.id, |_, members| *members = vec![bob.id.clone()]);
    assert_eq!(member_ids(&swapped), [bob.id.as_str()]);
    let mut events = take_events(store);
    // Members are re-published in id order (one lock order for all transactions).
    events[1..].sort_by(|a, b| a.1.resource_id.cmp(&b.1.resource_id));
    let mut expected = vec![pair("user.updated", &bob.id), pair("user.updated", &alice.id)];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    expected.insert(0, pair("group.updated", &group.id));
    assert_eq!(summary(&events), expected);
    let swap = &events[0].1;
    assert!(team(swap).member_ids.is_empty());
    assert_eq!(
        (swap.added_member_ids.clone(), swap.removed_member_ids.clone()),
        (vec![bob.id.clone()], vec![alice.id.clone()])
    );
    assert!(swap.changes.is_empty(), "the team's own fields did not change: {:?}", swap.changes);
    let of = |id: &str| &events.iter().find(|(_, e)| e.resource_id == id).expect("the user's event").1;
    assert_eq!(of(&bob.id).changes, [change("permissions", "[]", "[\"deploy\",\"read\"]")]);
    assert_eq!(account(of(&bob.id)).permissions, ["deploy", "read"]);
    assert_eq!(of(&alice.id).changes, [change("permissions", "[\"deploy\",\"read\"]", "[]")]);
    assert!(account(of(&alice.id)).permissions.is_empty());
    all.extend(events);

    // Renaming the team out of the table takes its permissions away from its members.
    let renamed = update_group(store, &acme, &group.id, |attributes, _| {
        attributes.insert("displayName".to_owned(), json!("Eng"));
    });
    assert_eq!(renamed.version, 3);
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("group.updated", &group.id), pair("user.updated", &bob.id)]);
    assert_eq!(
        events[0].1.changes,
        [change("name", "\"Engineering\"", "\"Eng\""), change("permissions", "[\"deploy\",\"read\"]", "[]")]
    );
    assert!(team(&events[0].1).permissions.is_empty());
    assert_eq!(events[1].1.changes, [change("permissions", "[\"deploy\",\"read\"]", "[]")]);
    assert!(account(&events[1].1).permissions.is_empty());
    all.extend(events);

    // A new table, re-published: the team and its member change, alice (in no team) does not.
    store_mapping(store, &acme, &MappingConfig::default(), &permissions(&[("Eng", &["x"])]));
    let published = records::republish_tenant(store, &acme).expect("re-publishing");
    assert_eq!(published, 2, "the team and bob");
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("group.updated", &group.id), pair("user.updated", &bob.id)]);
    assert_eq!(events[0].1.changes, [change("permissions", "[]", "[\"x\"]")]);
    assert_eq!(team(&events[0].1).permissions, ["x"]);
    assert!(team(&events[0].1).member_ids.is_empty());
    assert_eq!(events[1].1.changes, [change("permissions", "[]", "[\"x\"]")]);
    assert_eq!(account(&events[1].1).permissions, ["x"]);
    all.extend(events);

    // Nothing changed since: re-publishing again publishes nothing.
    let again = records::republish_tenant(store, &acme).expect("re-publishing again");
    assert_eq!(again, 0);
    assert!(take_events(store).is_empty());

    let versions = versions_by_resource(&all);
    assert_strictly_increasing(&versions);
    assert_eq!(versions[&alice.id].len(), 3);
    assert_eq!(versions[&bob.id].len(), 4);
    assert_eq!(versions[&group.id].len(), 4);
    // Permission-only re-publishing moves the record's version, never the SCIM resource's.
    assert_eq!(scim_version(store, &acme, &bob.id), 1);
    assert_eq!(scim_version(store, &acme, &alice.id), 1);
    let group_now = store.read(|conn| groups::get(conn, &acme, &group.id, false)).expect("reading the group");
    assert_eq!(group_now.version, 3);
}

// 4. Deactivation.

#[test]
fn deactivation_keeps_memberships_and_roles_sqlite() {
    deactivation_keeps_memberships_and_roles(&TestStore::sqlite());
}

#[test]
fn deactivation_keeps_memberships_and_roles_postgres() {
    deactivation_keeps_memberships_and_roles(&TestStore::postgres());
}

fn deactivation_keeps_memberships_and_roles(store: &Store) {
    let acme = tenant(store, "acme");
    store_mapping(store, &acme, &MappingConfig::default(), &permissions(&[("Staff", &["read"])]));
    let hana =
        create_user(store, &acme, json!({"userName": "hana", "roles": [{"value": "admin"}, {"value": "editor"}]}));
    let group = create_group(store, &acme, json!({"displayName": "Staff", "members": [{"value": hana.id}]}));
    take_events(store);

    update_user(store, &acme, &hana.id, |attributes| {
        attributes.insert("active".to_owned(), json!(false));
    });
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.deactivated", &hana.id)]);
    let deactivated = &events[0].1;
    assert_eq!(deactivated.changes, [change("active", "true", "false")]);
    let record = account(deactivated);
    assert_eq!((record.active, record.id.as_str()), (false, hana.id.as_str()));
    assert_eq!(record.roles, ["admin", "editor"]);
    assert_eq!(record.permissions, ["read"]);
    assert!(!deactivated.deleted);

    update_user(store, &acme, &hana.id, |attributes| {
        attributes.insert("active".to_owned(), json!(true));
    });
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.reactivated", &hana.id)]);
    let reactivated = &events[0].1;
    assert_eq!(reactivated.changes, [change("active", "false", "true")]);
    let record = account(reactivated);
    assert!(record.active);
    assert_eq!(record.roles, ["admin", "editor"]);
    assert_eq!(record.permissions, ["read"]);
    assert!(reactivated.version > deactivated.version);

    let group_now = store.read(|conn| groups::get(conn, &acme, &group.id, false)).expect("reading the group");
    assert_eq!(member_ids(&group_now), [hana.id.as_str()]);
    assert_eq!(group_now.version, group.version, "the group itself did not change");
}

// 5. Soft delete, restore, purge.

#[test]
fn soft_delete_restores_then_purges_sqlite() {
    soft_delete_restores_then_purges(&TestStore::sqlite());
}

#[test]
fn soft_delete_restores_then_purges_postgres() {
    soft_delete_restores_then_purges(&TestStore::postgres());
}

fn soft_delete_restores_then_purges(store: &Store) {
    let acme = tenant(store, "acme");
    let carol = create_user(store, &acme, json!({"userName": "carol"}));
    take_events(store);

    let before = now_micros();
    store.write(|conn| users::delete(conn, &acme, &carol.id, None)).expect("deleting carol");
    let after = now_micros();
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.deleted", &carol.id)]);
    let deleted = &events[0].1;
    assert!(deleted.deleted);
    assert_eq!(account(deleted).id, carol.id);
    let purge_after = deleted.purge_after_micros.expect("a soft delete says when it is purged");
    assert!(
        (before + 30 * DAY_MICROS..=after + 30 * DAY_MICROS).contains(&purge_after),
        "purge_after {purge_after} is not 30 days after the delete ({before}..={after})"
    );

    // The same userName, in another case, restores the account.
    let restored = create_user(store, &acme, json!({"userName": "CAROL"}));
    assert_ne!(restored.id, carol.id, "a new SCIM user");
    let events = take_events(store);
    // The former SCIM user's key is closed with a record free of personal data (a compacted
    // topic keeps each key's last event), then the new user provisions the same account.
    assert_eq!(summary(&events), [pair("user.purged", &carol.id), pair("user.created", &restored.id)]);
    let closed = &events[0].1;
    assert!(closed.deleted);
    assert_eq!((account(closed).id.as_str(), account(closed).user_name.as_str()), (carol.id.as_str(), ""));
    assert_eq!(account(closed).email, None);
    let created = &events[1].1;
    assert_eq!(created.link, Some(Link { account_id: carol.id.clone(), reason: "restored".to_owned() }));
    assert_eq!(account(created).id, carol.id);
    assert_eq!(account(created).scim_user_id, restored.id);
    assert_eq!(created.resource_id, restored.id);
    assert!(created.version > deleted.version, "{} > {}", created.version, deleted.version);

    // Deleted again, then purged once.
    store.write(|conn| users::delete(conn, &acme, &restored.id, None)).expect("deleting again");
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.deleted", &restored.id)]);
    let deleted_again = &events[0].1;
    assert_eq!(account(deleted_again).id, carol.id);
    let far_future = now_micros() + 3650 * DAY_MICROS;
    assert_eq!(store.write(|conn| users::purge_due(conn, far_future)).expect("purging"), 1);
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.purged", &restored.id)]);
    let purged = &events[0].1;
    assert!(purged.deleted);
    assert_eq!(account(purged).id, carol.id);
    assert_eq!(account(purged).scim_user_id, restored.id);
    assert_eq!(account(purged).user_name, "");
    assert!(purged.version > deleted_again.version);
    assert_eq!(store.write(|conn| users::purge_due(conn, far_future)).expect("purging again"), 0);
    assert!(take_events(store).is_empty());

    // After the purge the userName makes a new account.
    let fresh = create_user(store, &acme, json!({"userName": "carol"}));
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &fresh.id)]);
    assert_eq!((events[0].1.link.as_ref(), account(&events[0].1).id.as_str()), (None, fresh.id.as_str()));

    // With no tombstone days, the next purge run purges.
    store_lifecycle(store, &acme, Lifecycle { delete: DeleteMode::Soft, tombstone_days: 0, link_by_email: true });
    let dave = create_user(store, &acme, json!({"userName": "dave"}));
    take_events(store);
    let before = now_micros();
    store.write(|conn| users::delete(conn, &acme, &dave.id, None)).expect("deleting dave");
    let after = now_micros();
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.deleted", &dave.id)]);
    let purge_after = events[0].1.purge_after_micros.expect("a soft delete says when it is purged");
    assert!((before..=after).contains(&purge_after), "{purge_after} in {before}..={after}");
    assert_eq!(store.write(|conn| users::purge_due(conn, now_micros())).expect("purging"), 1);
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.purged", &dave.id)]);
    assert_eq!(account(&events[0].1).id, dave.id);
}

#[test]
fn a_recycled_user_name_restores_only_the_same_person_sqlite() {
    a_recycled_user_name_restores_only_the_same_person(&TestStore::sqlite());
}

#[test]
fn a_recycled_user_name_restores_only_the_same_person_postgres() {
    a_recycled_user_name_restores_only_the_same_person(&TestStore::postgres());
}

/// Entra's recycled UPN: a leaver's userPrincipalName given to a new hire within the tombstone
/// period. The stored externalId (Entra's mailNickname / objectId) tells the two apart.
fn a_recycled_user_name_restores_only_the_same_person(store: &Store) {
    let acme = tenant(store, "acme");
    let leaver = create_user(store, &acme, json!({"userName": "jo@acme.example", "externalId": "obj-leaver"}));
    store.write(|conn| users::delete(conn, &acme, &leaver.id, None)).expect("deleting the leaver");
    take_events(store);

    // The new hire: same UPN, another externalId → a new account; the leaver's tombstone stays.
    let hire = create_user(store, &acme, json!({"userName": "JO@acme.example", "externalId": "obj-hire"}));
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &hire.id)]);
    assert_eq!((events[0].1.link.as_ref(), account(&events[0].1).id.as_str()), (None, hire.id.as_str()));
    // Without an externalId the stored one does not match either.
    store.write(|conn| users::delete(conn, &acme, &hire.id, None)).expect("deleting the hire");
    take_events(store);
    let anonymous = create_user(store, &acme, json!({"userName": "jo@acme.example"}));
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &anonymous.id)]);
    assert_eq!(account(&events[0].1).id, anonymous.id, "a new account, neither the leaver's nor the hire's");
    store.write(|conn| users::delete(conn, &acme, &anonymous.id, None)).expect("deleting again");
    take_events(store);

    // The leaver rehired (same externalId) gets the old account back; the purge closes the old
    // SCIM user's key with ids only.
    let back = create_user(store, &acme, json!({"userName": "jo@acme.example", "externalId": "obj-leaver"}));
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.purged", &leaver.id), pair("user.created", &back.id)]);
    assert_eq!(account(&events[0].1).external_id, None, "a purge event carries ids only");
    assert_eq!(events[1].1.link, Some(Link { account_id: leaver.id.clone(), reason: "restored".to_owned() }));
    assert_eq!(account(&events[1].1).id, leaver.id);
}

// 6. Hard delete.

#[test]
fn hard_delete_purges_at_once_sqlite() {
    hard_delete_purges_at_once(&TestStore::sqlite());
}

#[test]
fn hard_delete_purges_at_once_postgres() {
    hard_delete_purges_at_once(&TestStore::postgres());
}

fn hard_delete_purges_at_once(store: &Store) {
    let acme = tenant(store, "acme");
    store_lifecycle(store, &acme, Lifecycle { delete: DeleteMode::Hard, tombstone_days: 30, link_by_email: true });
    let erin = create_user(store, &acme, json!({"userName": "erin", "externalId": "ext-erin"}));
    take_events(store);

    store.write(|conn| users::delete(conn, &acme, &erin.id, None)).expect("deleting erin");
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.deleted", &erin.id), pair("user.purged", &erin.id)]);
    let (deleted, purged) = (&events[0].1, &events[1].1);
    assert!(deleted.deleted && purged.deleted);
    assert_eq!(deleted.purge_after_micros, None);
    assert!(purged.version > deleted.version);
    assert_eq!(account(purged).id, erin.id);
    assert_eq!((purged.external_id.as_deref(), account(purged).external_id.as_deref()), (None, None), "ids only");
    assert_eq!(store.write(|conn| users::purge_due(conn, i64::MAX)).expect("purging"), 0);

    let again = create_user(store, &acme, json!({"userName": "erin"}));
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &again.id)]);
    let created = &events[0].1;
    assert_eq!(created.link, None);
    assert_eq!(account(created).id, again.id);
    assert_ne!(again.id, erin.id);
}

// 7. userName changes.

#[test]
fn a_user_name_change_keeps_the_account_sqlite() {
    a_user_name_change_keeps_the_account(&TestStore::sqlite());
}

#[test]
fn a_user_name_change_keeps_the_account_postgres() {
    a_user_name_change_keeps_the_account(&TestStore::postgres());
}

fn a_user_name_change_keeps_the_account(store: &Store) {
    let acme = tenant(store, "acme");
    let frank =
        create_user(store, &acme, json!({"userName": "frank", "name": {"givenName": "Frank", "familyName": "Lee"}}));
    take_events(store);

    let renamed = update_user(store, &acme, &frank.id, |attributes| {
        attributes.insert("userName".to_owned(), json!("franklin"));
    });
    assert_eq!(renamed.version, 2);
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.updated", &frank.id)]);
    let updated = &events[0].1;
    assert_eq!(updated.changes, [change("user_name", "\"frank\"", "\"franklin\"")]);
    assert_eq!(account(updated).id, frank.id);
    assert_eq!(account(updated).user_name, "franklin");
    assert_eq!(updated.version, 2);
}

// 8. Linking to accounts made by hand.

#[test]
fn linking_to_an_account_made_by_hand_sqlite() {
    linking_to_an_account_made_by_hand(&TestStore::sqlite());
}

#[test]
fn linking_to_an_account_made_by_hand_postgres() {
    linking_to_an_account_made_by_hand(&TestStore::postgres());
}

fn linking_to_an_account_made_by_hand(store: &Store) {
    let acme = tenant(store, "acme");
    let body = |user_name: &str| json!({"userName": user_name, "emails": [{"type": "home", "value": "h@x.io"}, {"type": "work", "value": "w@x.io"}]});
    let create_linked = |user_name: &str, candidate: &str| {
        let input = user_input(body(user_name));
        store
            .write(|conn| users::create_linked(conn, &acme, input, Some(candidate.to_owned())))
            .expect("creating a user")
    };

    let attributes = user_input(body("gina")).attributes;
    let email = store.read(|conn| users::email_for_linking(conn, &acme, &attributes)).expect("the email");
    assert_eq!(email.as_deref(), Some("w@x.io"), "the work email, as the default mapping has it");

    let gina = create_linked("gina", "manual-1");
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &gina.id)]);
    let created = &events[0].1;
    assert_eq!(created.link, Some(Link { account_id: "manual-1".to_owned(), reason: "email".to_owned() }));
    assert_eq!(account(created).id, "manual-1");
    assert_eq!(account(created).scim_user_id, gina.id);
    assert_eq!(created.resource_id, gina.id);

    // The account is taken: a second user gets its own.
    let gina2 = create_linked("gina2", "manual-1");
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &gina2.id)]);
    assert_eq!(events[0].1.link, None);
    assert_eq!(account(&events[0].1).id, gina2.id);

    // Without linking by email the candidate is ignored.
    store_lifecycle(store, &acme, Lifecycle { delete: DeleteMode::Soft, tombstone_days: 30, link_by_email: false });
    let email = store.read(|conn| users::email_for_linking(conn, &acme, &attributes)).expect("the email");
    assert_eq!(email, None);
    let gina3 = create_linked("gina3", "manual-2");
    let events = take_events(store);
    assert_eq!(summary(&events), [pair("user.created", &gina3.id)]);
    assert_eq!(events[0].1.link, None);
    assert_eq!(account(&events[0].1).id, gina3.id);
}

/// Two transactions that each take a user out of one of its teams, at once (PostgreSQL, where
/// writers run concurrently): each publishes the user with its own version, and the last one
/// has the permissions of no team — none is lost to a version the other also used.
#[test]
fn concurrent_membership_changes_publish_distinct_versions_postgres() {
    let store = TestStore::postgres();
    let store: &Store = &store;
    let acme = tenant(store, "acme");
    store_mapping(store, &acme, &MappingConfig::default(), &permissions(&[("One", &["a"]), ("Two", &["b"])]));
    for round in 0..10 {
        let user = create_user(store, &acme, json!({"userName": format!("x{round}")}));
        let one = create_group(store, &acme, json!({"displayName": "One", "members": [{"value": user.id}]}));
        let two = create_group(store, &acme, json!({"displayName": "Two", "members": [{"value": user.id}]}));
        take_events(store);
        std::thread::scope(|scope| {
            for group in [&one.id, &two.id] {
                let (store, acme) = (store.clone(), acme.clone());
                scope.spawn(move || {
                    // A deadlock or serialization failure is the IdP's retry; take it here.
                    for _ in 0..20 {
                        let left = store.write(|conn| {
                            groups::update(conn, &acme, group, None, |attributes, _| {
                                Ok(GroupInput::from_attributes(attributes, Vec::new())?)
                            })
                        });
                        if left.is_ok() {
                            return;
                        }
                    }
                    panic!("a membership change kept failing");
                });
            }
        });
        let events = take_events(store);
        let mine: Vec<&ChangeEvent> = events.iter().map(|(_, e)| e).filter(|e| e.resource_id == user.id).collect();
        let versions: Vec<i64> = mine.iter().map(|e| e.version).collect();
        let mut distinct = versions.clone();
        distinct.dedup();
        assert_eq!(versions, distinct, "round {round}: one version per event: {versions:?}");
        let last = mine.last().expect("the user was re-published");
        assert!(account(last).permissions.is_empty(), "round {round}: {:?}", account(last).permissions);
        // Group names are unique per tenant: the next round makes them again.
        for group in [&one.id, &two.id] {
            store.write(|conn| groups::delete(conn, &acme, group, None)).expect("deleting a group");
        }
    }
}
