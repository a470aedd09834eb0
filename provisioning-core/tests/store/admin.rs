//! What the admin API stores, on both backends: a tenant's schema extensions (declared,
//! listed, removed only when no resource holds their attributes) and the pruning of the admin
//! audit log past its retention.

use diesel::prelude::*;
use provisioning_core::schema::{admin_audit, scim_users};
use provisioning_core::store::operators::{self, NewAuditEntry};
use provisioning_core::store::{Store, schemas};
use scim::ResourceType;
use serde_json::json;

use crate::{TestStore, create_user, scim_error, tenant};

#[test]
fn an_extension_is_removed_only_when_no_resource_holds_it_sqlite() {
    an_extension_is_removed_only_when_no_resource_holds_it(&TestStore::sqlite());
}

#[test]
fn an_extension_is_removed_only_when_no_resource_holds_it_postgres() {
    an_extension_is_removed_only_when_no_resource_holds_it(&TestStore::postgres());
}

fn an_extension_is_removed_only_when_no_resource_holds_it(store: &Store) {
    let acme = tenant(store, "acme");
    let globex = tenant(store, "globex");
    // `_` and `%` are LIKE wildcards: a key that differs only where they stand is not a holder.
    let urn = "urn:example:params:scim:schemas:extension:a_b%:2.0:User";
    let lookalike = "urn:example:params:scim:schemas:extension:aXbY:2.0:User";
    let definition = json!({"id": urn, "name": "AB", "attributes": [{"name": "level", "type": "integer"}]});
    let (id, replaced) = store.write(|conn| schemas::declare(conn, &acme, "user", &definition)).unwrap();
    assert_eq!((id.as_str(), replaced), (urn, false));
    let (_, replaced) = store.write(|conn| schemas::declare(conn, &acme, "User", &definition)).unwrap();
    assert!(replaced, "the same id again replaces it");
    let listed = store.read(|conn| schemas::list(conn, &acme)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].resource_type), (urn, ResourceType::User));
    assert!(store.read(|conn| schemas::list(conn, &globex)).unwrap().is_empty(), "one tenant's extensions");

    create_user(store, &acme, json!({"userName": "lookalike", lookalike: {"level": 1}}));
    create_user(store, &globex, json!({"userName": "elsewhere", urn: {"level": 1}}));
    assert_eq!(store.read(|conn| schemas::holders(conn, &acme, ResourceType::User, urn)).unwrap(), 0);
    let holder = create_user(store, &acme, json!({"userName": "holder", urn: {"level": 2}}));
    assert_eq!(store.read(|conn| schemas::holders(conn, &acme, ResourceType::User, urn)).unwrap(), 1);

    let refused = scim_error(store.write(|conn| schemas::remove(conn, &acme, urn)));
    assert_eq!(refused.status, 409, "{}", refused.detail);
    assert!(refused.detail.starts_with("1 User(s)"), "{}", refused.detail);
    assert_eq!(store.read(|conn| schemas::list(conn, &acme)).unwrap().len(), 1, "still declared");

    let delete_user = |id: &str| {
        store
            .write(|conn| {
                diesel::delete(scim_users::table.filter(scim_users::id.eq(id))).execute(conn)?;
                Ok(())
            })
            .unwrap();
    };
    delete_user(&holder.id);
    // The IdP may spell the URN in another case (they compare ignoring it): still a holder.
    let shouty = create_user(store, &acme, json!({"userName": "shouty", (urn.to_ascii_uppercase()): {"level": 3}}));
    assert_eq!(store.read(|conn| schemas::holders(conn, &acme, ResourceType::User, urn)).unwrap(), 1);
    assert_eq!(scim_error(store.write(|conn| schemas::remove(conn, &acme, urn))).status, 409);
    let moved = scim_error(store.write(|conn| schemas::declare(conn, &acme, "Group", &definition)));
    assert_eq!(moved.status, 409, "not moved to groups while users hold it: {}", moved.detail);
    delete_user(&shouty.id);
    let removed = store.write(|conn| schemas::remove(conn, &acme, urn)).unwrap().expect("removed");
    assert_eq!(removed.id, urn);
    assert!(store.read(|conn| schemas::list(conn, &acme)).unwrap().is_empty());
    assert!(store.write(|conn| schemas::remove(conn, &acme, urn)).unwrap().is_none(), "nothing left to remove");
}

#[test]
fn the_audit_log_is_pruned_past_its_retention_sqlite() {
    the_audit_log_is_pruned_past_its_retention(&TestStore::sqlite());
}

#[test]
fn the_audit_log_is_pruned_past_its_retention_postgres() {
    the_audit_log_is_pruned_past_its_retention(&TestStore::postgres());
}

fn the_audit_log_is_pruned_past_its_retention(store: &Store) {
    let entry = |path: &'static str| NewAuditEntry {
        operator: "alice",
        key_id: Some("k1"),
        method: "POST",
        path,
        tenant_id: Some("acme"),
        status: 201,
    };
    for path in ["/old/1", "/old/2", "/old/3", "/new"] {
        store.write(|conn| operators::record(conn, &entry(path))).unwrap();
    }
    let day = 86_400_000_000_i64;
    store
        .write(|conn| {
            diesel::update(admin_audit::table.filter(admin_audit::path.like("/old/%")))
                .set(admin_audit::at.eq(admin_audit::at - 400 * day))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    let cutoff = provisioning_core::store::now_micros() - 365 * day;
    assert_eq!(store.write(|conn| operators::prune_audit(conn, cutoff, 2)).unwrap(), 2, "at most the limit");
    assert_eq!(store.write(|conn| operators::prune_audit(conn, cutoff, 2)).unwrap(), 1);
    assert_eq!(store.write(|conn| operators::prune_audit(conn, cutoff, 2)).unwrap(), 0);
    let left = store.read(|conn| operators::audit(conn, None, None, None, 10)).unwrap();
    assert_eq!(left.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["/new"]);
}
