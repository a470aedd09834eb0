//! Webhook deliveries on both backends: events written after an endpoint is made are queued
//! for the endpoints that want them (tenant, types), once; pending ones come oldest first with
//! their events; attempts are recorded; dead and delivered ones are replayed; removal takes
//! the deliveries along.

use proto::Account;
use provisioning_core::store::webhooks::{self, DEAD, DELIVERED, Outcome, PENDING};
use provisioning_core::store::{Store, now_micros, outbox};

use crate::{TestStore, tenant};

fn event(store: &Store, tenant: &str, id: &str, event_type: &str) {
    let account = Account { id: id.into(), tenant_id: tenant.into(), scim_user_id: id.into(), ..Account::default() };
    let event = provisioning_core::events::user_event(event_type, id, account, 1, false);
    store.write(|conn| outbox::enqueue(conn, &event, scim::ResourceType::User)).unwrap();
}

#[test]
fn deliveries_are_queued_recorded_and_replayed_sqlite() {
    deliveries_are_queued_recorded_and_replayed(&TestStore::sqlite());
}

#[test]
fn deliveries_are_queued_recorded_and_replayed_postgres() {
    deliveries_are_queued_recorded_and_replayed(&TestStore::postgres());
}

fn deliveries_are_queued_recorded_and_replayed(store: &Store) {
    tenant(store, "acme");
    tenant(store, "globex");
    event(store, "acme", "before", "user.created");
    let all = store.write(|conn| webhooks::create(conn, None, "http://a.example/", "whsec_x", None, None)).unwrap();
    // Written before the second endpoint is made: the first still gets it, the second does not.
    event(store, "acme", "u0", "user.created");
    let types = ["user.created".to_owned()];
    let acme = store
        .write(|conn| webhooks::create(conn, Some("acme"), "http://b.example/", "whsec_y", Some(&types), Some("b")))
        .unwrap();
    event(store, "acme", "u1", "user.created");
    event(store, "globex", "u2", "user.created");
    event(store, "acme", "u1", "user.updated");
    // "before" (written before any endpoint) is looked at and left; the other four are queued.
    assert_eq!(store.write(|conn| webhooks::queue(conn, 100)).unwrap(), 5);
    assert_eq!(store.write(|conn| webhooks::queue(conn, 100)).unwrap(), 0, "queued once");

    let now = now_micros() + 1;
    let due = store.read(|conn| webhooks::due(conn, &all.id, now, 100)).unwrap();
    let due_ids: Vec<(&str, &str)> =
        due.iter().map(|(d, _)| (d.resource_key.as_str(), d.event_type.as_str())).collect();
    assert_eq!(
        due_ids,
        [("acme/u0", "user.created"), ("acme/u1", "user.created"), ("globex/u2", "user.created")],
        "every tenant's, in outbox order; u1's update waits for its creation"
    );
    assert!(due.iter().all(|(_, event)| event.is_some()));
    let due_acme = store.read(|conn| webhooks::due(conn, &acme.id, now, 100)).unwrap();
    assert_eq!(due_acme.len(), 1, "acme's user.created after the endpoint was made only");
    assert_eq!(due_acme[0].0.resource_key, "acme/u1");

    let (u0, first, second) = (due[0].0.seq, due[1].0.seq, due[2].0.seq);
    store.write(|conn| webhooks::record(conn, &all.id, u0, &Outcome::Delivered { status: 200 })).unwrap();
    // u1's creation backs off: its update keeps waiting, the others are not held back.
    let later =
        Outcome::Failed { status: Some(503), error: "503".into(), next_attempt_at: now + 60_000_000, dead: false };
    store.write(|conn| webhooks::record(conn, &all.id, first, &later)).unwrap();
    let waiting = store.read(|conn| webhooks::due(conn, &all.id, now, 100)).unwrap();
    assert_eq!(waiting.iter().map(|(d, _)| d.seq).collect::<Vec<_>>(), [second], "only globex's is due");
    let retried = store.read(|conn| webhooks::due(conn, &all.id, now + 61_000_000, 100)).unwrap();
    assert_eq!(retried.iter().map(|(d, _)| d.seq).collect::<Vec<_>>(), [first, second], "then u1's creation again");
    assert!(retried[0].0.first_attempt_at.is_some(), "the dead-letter clock started at the first attempt");
    store.write(|conn| webhooks::record(conn, &all.id, first, &Outcome::Delivered { status: 204 })).unwrap();
    let failed =
        Outcome::Failed { status: Some(500), error: "500".into(), next_attempt_at: now_micros() + 1, dead: true };
    store.write(|conn| webhooks::record(conn, &all.id, second, &failed)).unwrap();
    // Pending: u1's update; delivered: u0 and u1's creation; dead: globex's.
    assert_eq!(store.read(|conn| webhooks::counts(conn, &all.id)).unwrap(), (1, 2, 1));
    let dead = store.read(|conn| webhooks::deliveries(conn, &all.id, Some(DEAD), 10)).unwrap();
    assert_eq!((dead[0].attempts, dead[0].last_status), (1, Some(500)));

    assert_eq!(store.write(|conn| webhooks::replay(conn, &all.id, None, Some(DEAD))).unwrap(), 1);
    assert_eq!(store.read(|conn| webhooks::counts(conn, &all.id)).unwrap(), (2, 2, 0));
    assert_eq!(store.write(|conn| webhooks::replay(conn, &all.id, None, Some(DELIVERED))).unwrap(), 2);
    let replayed = store.read(|conn| webhooks::deliveries(conn, &all.id, Some(PENDING), 10)).unwrap();
    assert_eq!(replayed.len(), 4);
    assert!(replayed.iter().all(|d| d.attempts == 0 && d.last_error.is_none()), "{replayed:?}");

    store.write(|conn| webhooks::delete(conn, &all.id)).unwrap();
    assert!(store.read(|conn| webhooks::find(conn, &all.id)).is_err());
    assert!(store.read(|conn| webhooks::deliveries(conn, &all.id, None, 10)).is_err());
    assert_eq!(store.read(|conn| webhooks::counts(conn, &all.id)).unwrap(), (0, 0, 0), "its deliveries went too");
    assert_eq!(store.read(webhooks::list).unwrap().len(), 1);
}

#[test]
fn retention_keeps_what_webhooks_still_need_sqlite() {
    retention_keeps_what_webhooks_still_need(&TestStore::sqlite());
}

#[test]
fn retention_keeps_what_webhooks_still_need_postgres() {
    retention_keeps_what_webhooks_still_need(&TestStore::postgres());
}

fn retention_keeps_what_webhooks_still_need(store: &Store) {
    use diesel::prelude::*;
    use provisioning_core::schema::outbox as table;
    tenant(store, "acme");
    let seqs = |store: &Store| -> Vec<i64> {
        store.read(|conn| Ok(table::table.select(table::seq).order(table::seq).load::<i64>(conn)?)).unwrap()
    };
    let publish_all = |store: &Store| {
        let all = seqs(store);
        store.write(|conn| outbox::mark_published(conn, &all)).unwrap();
    };
    let prune =
        |store: &Store| store.write(|conn| outbox::prune_published(conn, now_micros() + 1_000_000, 100)).unwrap();
    // Without endpoints, published events are pruned as before.
    event(store, "acme", "a", "user.created");
    publish_all(store);
    assert_eq!(prune(store), 1);

    let endpoint =
        store.write(|conn| webhooks::create(conn, None, "http://a.example/", "whsec_x", None, None)).unwrap();
    event(store, "acme", "b", "user.created");
    event(store, "acme", "c", "user.created");
    publish_all(store);
    assert_eq!(prune(store), 0, "not yet queued for the endpoint");
    store.write(|conn| webhooks::queue(conn, 100)).unwrap();
    assert_eq!(prune(store), 0, "both deliveries pending");
    let (b, c) = (seqs(store)[0], seqs(store)[1]);
    store.write(|conn| webhooks::record(conn, &endpoint.id, b, &Outcome::Delivered { status: 204 })).unwrap();
    assert_eq!(prune(store), 1, "the delivered one goes");
    assert_eq!(seqs(store), [c]);
    let left = store.read(|conn| webhooks::deliveries(conn, &endpoint.id, None, 10)).unwrap();
    assert_eq!(left.iter().map(|d| d.seq).collect::<Vec<_>>(), [c], "its delivery went with it");
}

/// A transaction that took a lower outbox seq than the last one visible when an endpoint is
/// made, and commits after: its event is the endpoint's too (it was written after); the events
/// committed before are not.
#[test]
fn an_endpoint_gets_the_events_of_transactions_open_when_it_was_made_postgres() {
    let store = TestStore::postgres();
    tenant(&store, "acme");
    event(&store, "acme", "long-before", "user.created");
    let (b_wrote, wait_for_b) = std::sync::mpsc::channel();
    let (endpoint_made, wait_for_endpoint) = std::sync::mpsc::channel();
    let shared: &Store = &store;
    let endpoint = std::thread::scope(|scope| {
        let b = scope.spawn(move || {
            shared
                .write(|conn| {
                    let account = Account {
                        id: "b".into(),
                        tenant_id: "acme".into(),
                        scim_user_id: "b".into(),
                        ..Account::default()
                    };
                    let event = provisioning_core::events::user_event("user.created", "b", account, 1, false);
                    outbox::enqueue(conn, &event, scim::ResourceType::User)?; // B takes the lower seq
                    b_wrote.send(()).expect("signalling");
                    wait_for_endpoint.recv().expect("waiting for the endpoint");
                    Ok(())
                })
                .expect("B's write");
        });
        wait_for_b.recv().expect("waiting for B");
        event(&store, "acme", "a", "user.created"); // A: a higher seq, committed at once
        let made = store.write(|conn| webhooks::create(conn, None, "http://a.example/", "whsec_x", None, None));
        // B commits before anything is asserted: a failure here must not leave it waiting.
        endpoint_made.send(()).expect("signalling");
        b.join().expect("B");
        made.expect("the endpoint")
    });
    let b_seq: i64 = store
        .read(|conn| {
            use diesel::prelude::*;
            use provisioning_core::schema::outbox as o;
            Ok(o::table.filter(o::resource_id.eq("b")).select(o::seq).first(conn)?)
        })
        .unwrap();
    assert!(b_seq <= endpoint.start_seq, "B's seq ({b_seq}) is below the endpoint's start ({endpoint:?})");
    store.write(|conn| webhooks::queue(conn, 100)).unwrap();
    let due = store.read(|conn| webhooks::due(conn, &endpoint.id, now_micros() + 1, 100)).unwrap();
    let keys: Vec<&str> = due.iter().map(|(d, _)| d.resource_key.as_str()).collect();
    assert!(keys.contains(&"acme/b"), "B's event, committed after the endpoint was made, is queued: {keys:?}");
    // Committed before the endpoint was made (A while B was open, the first before both): not
    // the endpoint's, however old the transactions still open then.
    assert_eq!(keys, ["acme/b"], "{keys:?}");
}
