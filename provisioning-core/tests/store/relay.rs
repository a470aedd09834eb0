//! The outbox relay: acknowledged events are marked published, events the sink refuses for
//! good are set aside, and neither holds back the events after them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use provisioning_core::relay::{Delivery, EventSink, Relay};
use provisioning_core::store::Store;
use provisioning_core::store::outbox::{OutboxEvent, pending};
use serde_json::json;
use tokio::sync::Notify;

use crate::{TestStore, create_user, tenant};

/// Refuses, for good, every event of one resource; acknowledges the others.
struct Picky {
    refused_resource: String,
    seen: Mutex<Vec<i64>>,
}

impl EventSink for Picky {
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut delivery = Delivery::default();
            for event in events {
                self.seen.lock().unwrap().push(event.seq);
                if event.resource_id == self.refused_resource {
                    delivery.rejected.push((event.seq, "message too large".to_owned()));
                } else {
                    delivery.acknowledged.push(event.seq);
                }
            }
            delivery
        })
    }
}

#[test]
fn a_refused_event_is_set_aside_and_the_rest_flows_sqlite() {
    a_refused_event_is_set_aside_and_the_rest_flows(&TestStore::sqlite());
}

#[test]
fn a_refused_event_is_set_aside_and_the_rest_flows_postgres() {
    a_refused_event_is_set_aside_and_the_rest_flows(&TestStore::postgres());
}

fn a_refused_event_is_set_aside_and_the_rest_flows(store: &Store) {
    let acme = tenant(store, "acme");
    let first = create_user(store, &acme, json!({"userName": "first"}));
    let huge = create_user(store, &acme, json!({"userName": "huge"}));
    let last = create_user(store, &acme, json!({"userName": "last"}));
    let sink = Arc::new(Picky { refused_resource: huge.id.clone(), seen: Mutex::new(Vec::new()) });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let stop = Arc::new(Notify::new());
        let relay = Relay::new(store.clone(), sink.clone(), Arc::new(Notify::new()));
        let stopped = stop.clone();
        let running = tokio::spawn(async move { relay.run(async move { stopped.notified().await }).await });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.read(|conn| pending(conn, 100))).await.unwrap().unwrap()
            };
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "the relay stalled on {left:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.notify_one();
        running.await.unwrap();
    });
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "each event offered once: {seen:?}");
    let (failed, published): (Vec<(String, Option<String>)>, i64) = store
        .read(|conn| {
            use diesel::prelude::*;
            use provisioning_core::schema::outbox;
            let failed = outbox::table
                .filter(outbox::failed_at.is_not_null())
                .select((outbox::resource_id, outbox::failure))
                .load(conn)?;
            let published = outbox::table.filter(outbox::published_at.is_not_null()).count().get_result(conn)?;
            Ok((failed, published))
        })
        .unwrap();
    assert_eq!(failed, vec![(huge.id.clone(), Some("message too large".to_owned()))]);
    assert_eq!(published, 2, "{} and {} were published", first.id, last.id);
}

/// Records what it is given, acknowledging everything.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<i64>>,
}

impl EventSink for Recorder {
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let seqs: Vec<i64> = events.iter().map(|event| event.seq).collect();
            self.seen.lock().unwrap().extend(&seqs);
            Delivery { acknowledged: seqs, rejected: Vec::new() }
        })
    }
}

/// Waits until the outbox has nothing pending.
async fn drained(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let store_ = store.clone();
        let left = tokio::task::spawn_blocking(move || store_.read(|conn| pending(conn, 1000))).await.unwrap().unwrap();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the relays stalled on {} events", left.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two core replicas each run a relay on one PostgreSQL database: only the one holding the
/// publisher lock publishes, so every event goes out once and in commit order; when it stops,
/// the other takes over.
#[test]
fn two_relays_publish_each_event_once_in_order_postgres() {
    let store = TestStore::postgres();
    let store: &Store = &store;
    let acme = tenant(store, "acme");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (first, second) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    runtime.block_on(async {
        let wake = Arc::new(Notify::new());
        let (stop_first, stop_second) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let start = |sink: Arc<Recorder>, stop: Arc<Notify>| {
            let relay = Relay::new(store.clone(), sink, wake.clone()).with_standby_poll(Duration::from_millis(100));
            tokio::spawn(async move { relay.run(async move { stop.notified().await }).await })
        };
        let running_first = start(first.clone(), stop_first.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let running_second = start(second.clone(), stop_second.clone());
        for n in 0..60 {
            let store = store.clone();
            let acme = acme.clone();
            tokio::task::spawn_blocking(move || create_user(&store, &acme, json!({"userName": format!("u{n}")})))
                .await
                .unwrap();
            wake.notify_waiters();
        }
        drained(store).await;
        assert!(second.seen.lock().unwrap().is_empty(), "the standby published while the first relay led");

        stop_first.notify_one();
        running_first.await.unwrap();
        for n in 60..90 {
            let store = store.clone();
            let acme = acme.clone();
            tokio::task::spawn_blocking(move || create_user(&store, &acme, json!({"userName": format!("u{n}")})))
                .await
                .unwrap();
        }
        drained(store).await;
        stop_second.notify_one();
        running_second.await.unwrap();
    });
    let (first, second) = (first.seen.lock().unwrap().clone(), second.seen.lock().unwrap().clone());
    assert_eq!(first.len(), 60, "the first relay published the first 60 events");
    assert_eq!(second.len(), 30, "the standby took over and published the last 30");
    let all: Vec<i64> = first.iter().chain(&second).copied().collect();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(all, sorted, "each event once, in commit order");
}
