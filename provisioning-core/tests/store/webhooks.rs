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
    let types = ["user.created".to_owned()];
    let acme = store
        .write(|conn| webhooks::create(conn, Some("acme"), "http://b.example/", "whsec_y", Some(&types), Some("b")))
        .unwrap();
    event(store, "acme", "u1", "user.created");
    event(store, "globex", "u2", "user.created");
    event(store, "acme", "u1", "user.updated");
    assert_eq!(store.write(|conn| webhooks::queue(conn, 100)).unwrap(), 3, "the event from before is not queued");
    assert_eq!(store.write(|conn| webhooks::queue(conn, 100)).unwrap(), 0, "queued once");

    let pending = store.read(|conn| webhooks::pending(conn, &all.id, 100)).unwrap();
    let types: Vec<&str> = pending.iter().map(|(d, _)| d.event_type.as_str()).collect();
    assert_eq!(types, ["user.created", "user.created", "user.updated"], "every tenant's, in outbox order");
    assert!(pending.iter().all(|(_, event)| event.is_some()));
    assert_eq!(pending[0].0.resource_key, pending[2].0.resource_key, "u1's events share a key");
    let pending_acme = store.read(|conn| webhooks::pending(conn, &acme.id, 100)).unwrap();
    assert_eq!(pending_acme.len(), 1, "acme's user.created only");

    let (first, second) = (pending[0].0.seq, pending[1].0.seq);
    store.write(|conn| webhooks::record(conn, &all.id, first, &Outcome::Delivered { status: 204 })).unwrap();
    let failed =
        Outcome::Failed { status: Some(500), error: "500".into(), next_attempt_at: now_micros() + 1, dead: true };
    store.write(|conn| webhooks::record(conn, &all.id, second, &failed)).unwrap();
    assert_eq!(store.read(|conn| webhooks::counts(conn, &all.id)).unwrap(), (1, 1, 1));
    let dead = store.read(|conn| webhooks::deliveries(conn, &all.id, Some(DEAD), 10)).unwrap();
    assert_eq!((dead[0].attempts, dead[0].last_status), (1, Some(500)));

    assert_eq!(store.write(|conn| webhooks::replay(conn, &all.id, None, Some(DEAD))).unwrap(), 1);
    assert_eq!(store.read(|conn| webhooks::counts(conn, &all.id)).unwrap(), (2, 1, 0));
    assert_eq!(store.write(|conn| webhooks::replay(conn, &all.id, None, Some(DELIVERED))).unwrap(), 1);
    let replayed = store.read(|conn| webhooks::deliveries(conn, &all.id, Some(PENDING), 10)).unwrap();
    assert!(replayed.iter().all(|d| d.attempts == 0), "{replayed:?}");

    store.write(|conn| webhooks::delete(conn, &all.id)).unwrap();
    assert!(store.read(|conn| webhooks::find(conn, &all.id)).is_err());
    assert!(store.read(|conn| webhooks::deliveries(conn, &all.id, None, 10)).is_err());
    assert_eq!(store.read(|conn| webhooks::counts(conn, &all.id)).unwrap(), (0, 0, 0), "its deliveries went too");
    assert_eq!(store.read(webhooks::list).unwrap().len(), 1);
}
