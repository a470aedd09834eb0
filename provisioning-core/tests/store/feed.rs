//! The events feed over the outbox (what `GET /admin/v1/events` pages): every event once, in the
//! order they became visible, per tenant or all; on PostgreSQL no row that commits late falls
//! before a position already served.

use std::sync::mpsc;

use provisioning_core::store::Store;
use provisioning_core::store::outbox::{FeedPosition, feed};
use provisioning_core::store::tenants::ensure_tenant;
use serde_json::json;

use crate::pipeline::users;
use crate::{TestStore, create_user, tenant, user_input};

#[test]
fn the_feed_pages_every_event_once_sqlite() {
    the_feed_pages_every_event_once(&TestStore::sqlite());
}

#[test]
fn the_feed_pages_every_event_once_postgres() {
    the_feed_pages_every_event_once(&TestStore::postgres());
}

/// The resource ids of a feed page, and the position after it.
fn page(
    store: &Store,
    after: Option<FeedPosition>,
    tenant: Option<&str>,
    limit: i64,
) -> (Vec<String>, Option<FeedPosition>) {
    let rows = store.read(|conn| feed(conn, after, tenant, limit)).expect("reading the feed");
    let last = rows.last().map(|(position, _)| *position);
    (rows.into_iter().map(|(_, event)| event.resource_id).collect(), last)
}

fn the_feed_pages_every_event_once(store: &Store) {
    let acme = tenant(store, "acme");
    let globex = tenant(store, "globex");
    let mut acme_ids = Vec::new();
    let mut all_ids = Vec::new();
    for n in 0..5 {
        let a = create_user(store, &acme, json!({"userName": format!("a{n}")}));
        let g = create_user(store, &globex, json!({"userName": format!("g{n}")}));
        acme_ids.push(a.id.clone());
        all_ids.extend([a.id, g.id]);
    }
    // All tenants, three pages of four; nothing after the last.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (ids, last) = page(store, after, None, 4);
        if ids.is_empty() {
            break;
        }
        assert!(ids.len() <= 4);
        seen.extend(ids);
        after = last;
    }
    assert_eq!(seen, all_ids, "every event once, in commit order");
    // One tenant's, from a cursor in the middle.
    let (first_two, cursor) = page(store, None, Some("acme"), 2);
    assert_eq!(first_two, acme_ids[..2]);
    let (rest, _) = page(store, cursor, Some("acme"), 100);
    assert_eq!(rest, acme_ids[2..]);
    // A new event shows after the old cursor.
    let late = create_user(store, &acme, json!({"userName": "late"}));
    assert_eq!(page(store, after, None, 100).0, [late.id]);
}

/// Transaction B takes its id first and writes its event last; A writes an event and commits
/// while B is open. In seq order A's event comes first, so a poller that took it and moved past
/// it would never see B's. The feed holds A's event back until B ends, then serves B's first.
#[test]
fn an_event_waits_for_older_transactions_postgres() {
    let store = TestStore::postgres();
    let acme = tenant(&store, "acme");
    let (b_has_id, wait_for_b) = mpsc::channel();
    let (a_committed, wait_for_a) = mpsc::channel();
    let (shared_store, shared_acme): (&Store, _) = (&store, &acme);
    let (a_id, b_id, while_b_open) = std::thread::scope(|scope| {
        let b = scope.spawn(move || {
            let (store, acme) = (shared_store, shared_acme);
            store
                .write(|conn| {
                    ensure_tenant(conn, "other", "other", "local")?; // B's transaction id is taken here
                    b_has_id.send(()).expect("signalling");
                    wait_for_a.recv().expect("waiting for A");
                    users::create(conn, acme, user_input(json!({"userName": "b"})))
                })
                .expect("B's write")
                .id
        });
        wait_for_b.recv().expect("waiting for B");
        let a = create_user(&store, &acme, json!({"userName": "a"}));
        let (while_b_open, _) = page(&store, None, None, 100);
        // B goes on before anything is asserted: a failure here must not leave it waiting.
        a_committed.send(()).expect("signalling");
        (a.id, b.join().expect("B"), while_b_open)
    });
    assert!(while_b_open.is_empty(), "A's event waits while B, older, is open: {while_b_open:?}");
    let (after_both, _) = page(&store, None, None, 100);
    assert_eq!(after_both, [b_id, a_id], "B's transaction is older: its event comes first");
}
