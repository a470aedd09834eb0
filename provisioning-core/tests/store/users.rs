//! Users: userName uniqueness, and If-Match.

use provisioning_core::error::CoreError;
use provisioning_core::store::Store;
use provisioning_core::store::query::Page;

use crate::pipeline::users;
use scim::ScimType;
use serde_json::json;

use crate::{TestStore, create_user, scim_error, take_events, tenant, user_input};

#[test]
fn user_name_is_unique_per_tenant_ignoring_case_sqlite() {
    user_name_is_unique_per_tenant_ignoring_case(&TestStore::sqlite());
}

#[test]
fn user_name_is_unique_per_tenant_ignoring_case_postgres() {
    user_name_is_unique_per_tenant_ignoring_case(&TestStore::postgres());
}

fn user_name_is_unique_per_tenant_ignoring_case(store: &Store) {
    let acme = tenant(store, "acme");
    let globex = tenant(store, "globex");
    let alice = create_user(store, &acme, json!({"userName": "Alice@Example.com"}));

    let taken = store.write(|conn| users::create(conn, &acme, user_input(json!({"userName": "alice@EXAMPLE.com"}))));
    let error = scim_error(taken);
    assert_eq!((error.status, error.scim_type), (409, Some(ScimType::Uniqueness)));
    assert_eq!(tonic::Status::from(CoreError::Scim(error)).code(), tonic::Code::AlreadyExists);

    let elsewhere = create_user(store, &globex, json!({"userName": "alice@example.com"}));
    assert_ne!(elsewhere.id, alice.id);

    // Renaming onto a taken name is refused too; changing the case of one's own name is not.
    let bob = create_user(store, &acme, json!({"userName": "bob"}));
    let rename = store.write(|conn| {
        users::update(conn, &acme, &bob.id, None, |_| Ok(user_input(json!({"userName": "ALICE@example.com"}))))
    });
    assert_eq!(scim_error(rename).status, 409);
    let recased = store
        .write(|conn| {
            users::update(conn, &acme, &alice.id, None, |_| Ok(user_input(json!({"userName": "ALICE@EXAMPLE.COM"}))))
        })
        .expect("changing the case of one's own userName");
    assert_eq!((recased.version, recased.attributes["userName"].as_str()), (2, Some("ALICE@EXAMPLE.COM")));

    let (total, listed) = store.read(|conn| users::list(conn, &acme, None, Page::new(1, None))).expect("listing");
    assert_eq!(total, 2);
    let names: Vec<&str> = listed.iter().map(|user| user.attributes["userName"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, ["ALICE@EXAMPLE.COM", "bob"]);
}

#[test]
fn a_stale_if_match_is_refused_with_412_sqlite() {
    a_stale_if_match_is_refused_with_412(&TestStore::sqlite());
}

#[test]
fn a_stale_if_match_is_refused_with_412_postgres() {
    a_stale_if_match_is_refused_with_412(&TestStore::postgres());
}

fn a_stale_if_match_is_refused_with_412(store: &Store) {
    let acme = tenant(store, "acme");
    let alice = create_user(store, &acme, json!({"userName": "alice"}));
    take_events(store);
    let renamed = json!({"userName": "alice", "displayName": "Alice"});

    let stale_update =
        store.write(|conn| users::update(conn, &acme, &alice.id, Some(7), |_| Ok(user_input(renamed.clone()))));
    let error = scim_error(stale_update);
    assert_eq!(error.status, 412);
    assert_eq!(tonic::Status::from(CoreError::Scim(error)).code(), tonic::Code::FailedPrecondition);
    let stale_delete = store.write(|conn| users::delete(conn, &acme, &alice.id, Some(0)));
    assert_eq!(scim_error(stale_delete).status, 412);

    let unchanged = store.read(|conn| users::get(conn, &acme, &alice.id)).expect("the user is still there");
    assert_eq!(unchanged, alice);
    assert!(take_events(store).is_empty());

    let updated = store
        .write(|conn| users::update(conn, &acme, &alice.id, Some(1), |_| Ok(user_input(renamed.clone()))))
        .expect("an update with the current version");
    assert_eq!(updated.version, 2);
    assert_eq!(take_events(store).len(), 1);
}

/// Two IdP workers creating the same userName at once: one wins, the other gets 409
/// `uniqueness` (from the unique index when both passed the check), and one user exists.
#[test]
fn concurrent_creates_of_one_user_name_conflict_postgres() {
    let store = TestStore::postgres();
    let acme = tenant(&store, "acme");
    let barrier = std::sync::Barrier::new(4);
    let outcomes: Vec<Result<_, CoreError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let (store, acme, barrier) = (&*store, &acme, &barrier);
                scope.spawn(move || {
                    let user_name = if i % 2 == 0 { "same@example.com" } else { "SAME@Example.com" };
                    let input = user_input(json!({ "userName": user_name }));
                    barrier.wait();
                    store.write(|conn| users::create(conn, acme, input))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).collect()
    });
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(created, 1, "{outcomes:?}");
    for outcome in outcomes.into_iter().filter(Result::is_err) {
        let status: tonic::Status = outcome.expect_err("a conflict").into();
        assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    }
    let (total, _) = store.read(|conn| users::list(conn, &acme, None, Page::new(1, None))).expect("listing");
    assert_eq!(total, 1);
}
