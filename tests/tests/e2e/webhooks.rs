//! Webhooks on the embedded default (no broker): a receiver in the test checks every request's
//! Standard Webhooks signature with the secret the admin API showed once, reads CloudEvents
//! structured JSON, sees each resource's events in version order, gets the events again after
//! it answered 500 (retries with backoff), again after a replay, and a delivery to an endpoint
//! that never answers goes dead, is listed, and is replayed. On standalone (no broker) and on
//! the three services (PostgreSQL; the dispatcher reads the outbox table, beside the relay to
//! Kafka).

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::receiver::{Received, Receiver, delivered, start_receiver};
use crate::support::{Admin, Client, Cluster, ClusterOptions, Standalone, eventually, free_port, id_of};

fn settings() -> Vec<(&'static str, String)> {
    vec![
        ("WEBHOOK_RETRY_BASE_MS", "100".to_owned()),
        ("WEBHOOK_DEAD_AFTER_SECONDS", "4".to_owned()),
        ("EVENT_TYPE_PREFIX", "com.acme.scim".to_owned()),
        // The receiver listens on 127.0.0.1.
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_in_order_with_retries_replay_and_dead_letters_on_standalone() {
    let (receiver, url) = start_receiver(3);
    let standalone = Standalone::start_with(settings()).await;
    webhooks_deliver_every_change(&standalone.admin, &standalone.client, &receiver, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_in_order_with_retries_replay_and_dead_letters_on_the_three_services() {
    let (receiver, url) = start_receiver(3);
    let mut options = ClusterOptions::new(crate::support::required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.core_env = settings();
    let cluster = Cluster::start_with(options).await;
    webhooks_deliver_every_change(&cluster.admin, &cluster.client, &receiver, &url).await;
}

async fn webhooks_deliver_every_change(admin: &Admin, client: &Client, receiver: &Receiver, url: &str) {
    let receiver = receiver.clone();
    let tenant = client.endpoints.tenant.clone();

    for (body, status, what) in [
        (json!({"url": "not a url"}), StatusCode::BAD_REQUEST, "a bad url"),
        (json!({"url": "ftp://x.example/"}), StatusCode::BAD_REQUEST, "not http"),
        (json!({"url": url, "event_types": ["user.exploded"]}), StatusCode::BAD_REQUEST, "an unknown type"),
        (json!({"url": url, "tenant": "nosuch"}), StatusCode::NOT_FOUND, "an unknown tenant"),
        (json!({"url": url, "secret": "mine"}), StatusCode::BAD_REQUEST, "an unknown field"),
    ] {
        let (got, answer) = admin.call(Method::POST, "/admin/v1/webhooks", Some(body)).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {answer}");
    }
    let (status, endpoint) =
        admin.call(Method::POST, "/admin/v1/webhooks", Some(json!({"url": url, "tenant": tenant}))).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let secret = endpoint["secret"].as_str().expect("the secret, shown once").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    *receiver.secret.lock().unwrap() = Some(secret.clone());
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let (_, listed) = admin.call(Method::GET, "/admin/v1/webhooks", None).await;
    assert!(!listed.to_string().contains(&secret), "listings never show the secret: {listed}");

    // Changes, as an IdP makes them.
    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true});
    let (status, ann) = client.scim(Method::POST, "/Users", Some(user("ann@example.com"))).await;
    assert_eq!(status, StatusCode::CREATED, "{ann}");
    let ann = id_of(&ann);
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    for ops in [
        json!([{"op": "replace", "path": "displayName", "value": "Ann Lee"}]),
        json!([{"op": "replace", "path": "active", "value": false}]),
    ] {
        let (status, body) = client.scim(Method::PATCH, &format!("/Users/{ann}"), Some(patch(ops))).await;
        assert!(status.is_success(), "{body}");
    }
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": ann}]});
    let (status, group) = client.scim(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = id_of(&group);
    let (status, bob) = client.scim(Method::POST, "/Users", Some(user("bob@example.com"))).await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let bob = id_of(&bob);
    let (status, _) = client.scim(Method::DELETE, &format!("/Users/{bob}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let expected: BTreeMap<String, Vec<&str>> = [
        (ann.clone(), vec!["user.created", "user.updated", "user.deactivated"]),
        (group.clone(), vec!["group.created"]),
        (bob.clone(), vec!["user.created", "user.deleted"]),
    ]
    .into();
    let count: usize = expected.values().map(Vec::len).sum();
    let got = eventually("every change delivered", || async {
        let got = delivered(&receiver);
        (got.len() >= count).then_some(got)
    })
    .await;
    let everything = receiver.received.lock().unwrap().clone();
    assert!(
        everything.iter().all(|r| r.signature_ok),
        "every request is signed with the endpoint's secret: {everything:?}"
    );
    assert!(everything.iter().all(|r| r.content_type == "application/cloudevents+json"));
    let retried: Vec<&Received> = everything.iter().filter(|r| r.answered == 500).collect();
    assert_eq!(retried.len(), 3);
    for failed in retried {
        assert!(got.iter().any(|r| r.webhook_id == failed.webhook_id), "{} retried after its 500", failed.webhook_id);
    }
    let mut per_resource: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for received in &got {
        let event = &received.event;
        assert_eq!(event["specversion"], "1.0", "{event}");
        assert_eq!(event["id"], received.webhook_id.as_str(), "webhook-id is the event's id");
        assert_eq!(event["dataschema"], "urn:scim-provisioning:events:v1", "{event}");
        assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{event}");
        let kind = event["type"].as_str().unwrap().strip_prefix("com.acme.scim.").expect("the configured prefix");
        let resource = event["data"]["resource_id"].as_str().unwrap().to_owned();
        per_resource.entry(resource).or_default().push((event["data"]["version"].as_i64().unwrap(), kind.to_owned()));
    }
    assert_eq!(got.len(), count, "each change once: {per_resource:?}");
    for (resource, types) in &expected {
        let events = &per_resource[resource];
        assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "{resource}'s events in version order: {events:?}");
        assert_eq!(events.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), *types, "{resource}");
    }
    let ann_created = got.iter().find(|r| r.event["data"]["resource_id"] == ann.as_str()).unwrap();
    assert_eq!(ann_created.event["data"]["account"]["user_name"], "ann@example.com", "{:?}", ann_created.event);
    assert_eq!(ann_created.event["subject"], format!("Users/{ann}"));

    let (_, view) = admin.call(Method::GET, &format!("/admin/v1/webhooks/{id}"), None).await;
    assert_eq!(view["deliveries"], json!({"pending": 0, "delivered": count, "dead": 0}), "{view}");
    let (_, list) = admin.call(Method::GET, &format!("/admin/v1/webhooks/{id}/deliveries?state=delivered"), None).await;
    let list = list["deliveries"].as_array().unwrap().clone();
    assert_eq!(list.len(), count);
    assert!(list.iter().any(|d| d["attempts"].as_i64() > Some(1)), "the retried ones show their attempts: {list:?}");

    // Replay: the same events again, with the same ids.
    let (status, replayed) =
        admin.call(Method::POST, &format!("/admin/v1/webhooks/{id}/replay"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["requeued"], count, "{replayed}");
    let again = eventually("the replay", || async {
        let got = delivered(&receiver);
        (got.len() >= 2 * count).then_some(got)
    })
    .await;
    let ids = |list: &[Received]| {
        let mut ids: Vec<String> = list.iter().map(|r| r.webhook_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again[count..]), ids(&again[..count]), "a replay sends the same events");

    // An endpoint that never answers: its delivery goes dead, is listed, and can be replayed.
    let closed = format!("http://127.0.0.1:{}/gone", free_port());
    let (status, silent) = admin
        .call(Method::POST, "/admin/v1/webhooks", Some(json!({"url": closed, "event_types": ["user.created"]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{silent}");
    let silent = silent["id"].as_str().unwrap().to_owned();
    let (status, _) = client.scim(Method::POST, "/Users", Some(user("carl@example.com"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let dead = eventually("the undeliverable event dead-lettered", || async {
        let (_, list) =
            admin.call(Method::GET, &format!("/admin/v1/webhooks/{silent}/deliveries?state=dead"), None).await;
        let list = list["deliveries"].as_array().cloned().unwrap_or_default();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(dead.len(), 1, "only user.created: {dead:?}");
    assert_eq!(dead[0]["event_type"], "user.created");
    assert!(dead[0]["last_error"].as_str().is_some_and(|e| e.contains("no answer")), "{dead:?}");
    assert!(dead[0]["attempts"].as_i64() > Some(1), "{dead:?}");
    let (_, replayed) =
        admin.call(Method::POST, &format!("/admin/v1/webhooks/{silent}/replay"), Some(json!({"state": "dead"}))).await;
    assert_eq!(replayed["requeued"], 1, "{replayed}");
    let (_, view) = admin.call(Method::GET, &format!("/admin/v1/webhooks/{silent}"), None).await;
    assert_eq!(view["deliveries"]["dead"], 0, "back in line: {view}");
    // The first endpoint got carl's creation too (it takes every type of its tenant).
    eventually("carl's event at the first endpoint", || async {
        delivered(&receiver).iter().any(|r| r.event["data"]["account"]["user_name"] == "carl@example.com").then_some(())
    })
    .await;
    let (status, _) = admin.call(Method::DELETE, &format!("/admin/v1/webhooks/{silent}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.call(Method::GET, &format!("/admin/v1/webhooks/{silent}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// On the three services (WEBHOOK_ALLOW_PRIVATE_TARGETS unset: false) an endpoint in the
/// private network, the cloud metadata service or this machine is refused; a public one is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_in_the_private_network_are_refused_on_the_three_services() {
    let cluster =
        Cluster::start_with(ClusterOptions::new(crate::support::required_env("KAFKA_BOOTSTRAP_SERVERS"))).await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hooks",
        "http://[::1]/hooks",
        "http://localhost/hooks",
    ] {
        let (status, answer) = cluster.admin.call(Method::POST, "/admin/v1/webhooks", Some(json!({"url": url}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| d.contains("not a public address")), "{answer}");
    }
    let (status, made) = cluster
        .admin
        .call(Method::POST, "/admin/v1/webhooks", Some(json!({"url": "https://hooks.example.com/scim"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
}
