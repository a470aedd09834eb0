//! What a product engineer consuming the topic sees: CloudEvents 1.0 binary-mode messages,
//! keyed by tenant + resource id, a protobuf ChangeEvent payload, versions in order.

use std::time::Duration;

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Cluster, required_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_a_cloudevent_keyed_by_tenant_and_resource() {
    let cluster = Cluster::start().await;
    let client = &cluster.client;
    let (status, created) =
        client.scim(Method::POST, "/Users", Some(json!({"userName": "events@example.com", "externalId": "e-1"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, group) =
        client.scim(Method::POST, "/Groups", Some(json!({"displayName": "Readers", "members": [{"value": id}]}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let group_id = group["id"].as_str().unwrap().to_owned();
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(client.scim(Method::PATCH, &format!("/Users/{id}"), Some(deactivate)).await.0, StatusCode::OK);
    assert_eq!(client.scim(Method::DELETE, &format!("/Users/{id}"), None).await.0, StatusCode::NO_CONTENT);

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[cluster.topic.as_str()]).unwrap();

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 5 {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for five events; got {seen:?}");
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await else { continue };
        let header = |name: &str| {
            message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
        };
        let event = proto::ChangeEvent::decode(message.payload().unwrap_or_default()).expect("a ChangeEvent payload");
        assert_eq!(header("ce_specversion").as_deref(), Some("1.0"));
        assert_eq!(header("ce_id"), Some(event.event_id.clone()));
        assert_eq!(header("ce_type"), Some(event.event_type.clone()));
        assert!(header("ce_source").is_some_and(|s| s.ends_with("/tenants/acme")));
        assert!(header("ce_time").is_some());
        assert_eq!(header("content-type").as_deref(), Some("application/protobuf"));
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        assert_eq!(key, format!("acme/{}", event.resource_id));
        let endpoint = if event.resource_id == group_id { "Groups" } else { "Users" };
        assert_eq!(header("ce_subject"), Some(format!("{endpoint}/{}", event.resource_id)));
        seen.push(event);
    }
    // Per resource, in order (the key keeps a resource's events in one partition).
    let summary = |resource: &str| -> Vec<(String, i64, bool)> {
        seen.iter()
            .filter(|e| e.resource_id == resource)
            .map(|e| (e.event_type.clone(), e.version, e.deleted))
            .collect()
    };
    assert_eq!(
        summary(&id),
        vec![
            ("user.created".to_owned(), 1, false),
            ("user.deactivated".to_owned(), 2, false),
            ("user.deleted".to_owned(), 3, true),
        ]
    );
    assert_eq!(
        summary(&group_id),
        vec![("group.created".to_owned(), 1, false), ("group.member_removed".to_owned(), 2, false)]
    );
    let removal = seen.iter().find(|e| e.event_type == "group.member_removed").unwrap();
    assert_eq!(removal.removed_member_ids, vec![id.clone()]);
    let Some(proto::change_event::Record::Team(team)) = &removal.record else { panic!("a team record") };
    assert!(team.member_ids.is_empty(), "the deleted user left the team: {team:?}");
    let user_events = seen.iter().filter(|e| e.resource_id == id);
    assert!(user_events.clone().all(|e| e.tenant_id == "acme" && e.external_id.as_deref() == Some("e-1")));
    assert_eq!(user_events.count(), 3);
}
