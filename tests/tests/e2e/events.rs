//! What a product engineer consuming the topic sees: CloudEvents 1.0 binary-mode messages,
//! keyed by tenant + resource id, a protobuf ChangeEvent payload, versions in order; and with
//! `KAFKA_EVENT_FORMAT=json`, the JSON contract's `data`, which directory-store applies and the
//! README's Python consumer (examples/python/consumer.py, confluent-kafka) reads.

use std::time::Duration;

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Cluster, ClusterOptions, eventually, required_env};

/// A consumer of `topic` from its beginning, in a group of its own.
fn reader(topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

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
    assert_eq!(client.set_active(&id, false).await, StatusCode::OK);
    assert_eq!(client.scim(Method::DELETE, &format!("/Users/{id}"), None).await.0, StatusCode::NO_CONTENT);

    let consumer = reader(&cluster.topic);

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
        // Reverse-DNS names on the bus (EVENT_TYPE_PREFIX, default com.example.scim); the
        // payload's own event_type is the short one.
        assert_eq!(header("ce_type"), Some(format!("com.example.scim.{}", event.event_type)));
        assert_eq!(header("ce_dataschema").as_deref(), Some("urn:scim-provisioning:proto:scimsvc.v1.ChangeEvent"));
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

/// The Python of the checkers' virtualenv (scripts/conformance.sh --install-only), which holds
/// confluent-kafka.
fn venv_python() -> std::path::PathBuf {
    let venv = std::env::var("SCIM_CONFORMANCE_VENV").map_or_else(
        |_| std::path::PathBuf::from(required_env("HOME")).join(".cache/scim-provisioning/venv"),
        std::path::PathBuf::from,
    );
    venv.join("bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_on_kafka_reach_the_directory_and_a_python_consumer() {
    let mut options = ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.core_env =
        vec![("KAFKA_EVENT_FORMAT", "json".to_owned()), ("EVENT_TYPE_PREFIX", "com.acme.scim".to_owned())];
    let cluster = Cluster::start_with(options).await;
    let client = &cluster.client;
    let (status, created) = client
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"userName": "json@example.com", "externalId": "j-1", "emails": [{"value": "json@example.com", "primary": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Jay Son"}]});
    assert_eq!(client.scim(Method::PATCH, &format!("/Users/{id}"), Some(rename)).await.0, StatusCode::OK);
    let (status, group) =
        client.scim(Method::POST, "/Groups", Some(json!({"displayName": "Json", "members": [{"value": id}]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap().to_owned();

    // directory-store decodes the JSON payloads.
    client
        .directory_until("accounts", &id, "the renamed account in the directory", |status, body| {
            status == StatusCode::OK && body["display_name"] == "Jay Son"
        })
        .await;
    client
        .directory_until("teams", &group_id, "the team in the directory", |status, body| {
            status == StatusCode::OK && body["name"] == "Json"
        })
        .await;

    // The messages: JSON payloads, reverse-DNS types, the contract's dataschema; each payload is
    // the `data` of the same event on the events API (and on webhooks).
    let (status, feed) = cluster.admin.call(Method::GET, "/admin/v1/events?tenant=acme", None).await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let feed: Vec<serde_json::Value> = feed["events"].as_array().unwrap().clone();
    assert_eq!(feed.len(), 3, "{feed:?}");
    let consumer = reader(&cluster.topic);
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen < feed.len() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for the JSON messages; got {seen}");
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await else { continue };
        let header = |name: &str| scim_events::kafka::header(&message, name);
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        assert_eq!(header("ce_dataschema").as_deref(), Some("urn:scim-provisioning:events:v1"));
        let data: serde_json::Value = serde_json::from_slice(message.payload().unwrap_or_default()).expect("JSON");
        let id_header = header("ce_id").expect("ce_id");
        let twin = feed.iter().find(|e| e["id"] == id_header.as_str()).expect("the event on the events API");
        assert_eq!(data, twin["data"], "the Kafka payload is the contract's data");
        assert_eq!(header("ce_type").as_deref(), twin["type"].as_str());
        assert_eq!(header("ce_time").as_deref(), twin["time"].as_str());
        assert!(header("ce_type").is_some_and(|t| t.starts_with("com.acme.scim.")));
        let event = scim_events::kafka::Received::of(&message).decode().expect("a change event");
        assert_eq!(event.resource_id, data["resource_id"].as_str().unwrap());
        seen += 1;
    }
    let updated = feed.iter().find(|e| e["type"] == "com.acme.scim.user.updated").expect("user.updated");
    let display_name = updated["data"]["changes"].as_array().unwrap().iter().find(|c| c["field"] == "display_name");
    assert_eq!(display_name.map(|c| &c["after"]), Some(&json!("Jay Son")), "{updated}");

    // The README's Python consumer, as written there.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/python/consumer.py");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(readme.contains(&std::fs::read_to_string(script).unwrap()), "the README shows {script} as it is");
    let group_id_for_python = format!("python-{}", uuid::Uuid::new_v4().simple());
    let stderr_file = tempfile::NamedTempFile::new().unwrap();
    let mut python = std::process::Command::new(venv_python())
        .args([script, &required_env("KAFKA_BOOTSTRAP_SERVERS"), &cluster.topic, &group_id_for_python])
        .stdout(std::process::Stdio::piped())
        // A file, not a pipe nobody reads: librdkafka's logs must not fill it and block the script.
        .stderr(stderr_file.reopen().unwrap())
        .spawn()
        .expect("running the Python consumer (its virtualenv: scripts/conformance.sh --install-only)");
    let stdout = python.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let printed = eventually("the Python consumer's three lines", || {
        let lines = lines.clone();
        async move {
            let lines = lines.lock().unwrap().clone();
            (lines.len() >= 3).then_some(lines)
        }
    })
    .await;
    python.kill().ok();
    python.wait().expect("the Python consumer");
    drop(reader);
    // One resource's events in order; the user's and the group's may interleave (partitions).
    let mut heads: Vec<String> =
        printed.iter().map(|l| l.splitn(4, ' ').take(3).collect::<Vec<_>>().join(" ")).collect();
    heads.sort_by_key(|head| head.contains(".group."));
    assert_eq!(
        heads,
        vec![
            format!("com.acme.scim.user.created {id} 1"),
            format!("com.acme.scim.user.updated {id} 2"),
            format!("com.acme.scim.group.created {group_id} 1"),
        ],
        "stderr: {}",
        std::fs::read_to_string(stderr_file.path()).unwrap_or_default()
    );
    let group_line = printed.iter().find(|l| l.contains(".group.created ")).unwrap();
    let data: serde_json::Value = serde_json::from_str(group_line.splitn(4, ' ').nth(3).unwrap()).unwrap();
    assert_eq!(data["added_member_ids"], json!([id]));
}

/// A consumer group on the cooperative protocol (`cooperative-sticky`): directory-store's
/// consumer context (scim_events::kafka::StartAtStoredOffsets) assigns incrementally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_consumes_on_the_cooperative_rebalance_protocol() {
    let mut options = ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.extra_kafka_properties = "partition.assignment.strategy=cooperative-sticky".to_owned();
    let cluster = Cluster::start_with(options).await;
    let client = &cluster.client;
    let (status, created) = client.scim(Method::POST, "/Users", Some(json!({"userName": "coop@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    client.directory_until("accounts", &id, "the account in the directory", |status, _| status == StatusCode::OK).await;
    let log = cluster.log("directory-store");
    let assigned: Vec<&str> = log.lines().filter(|l| l.contains("partitions assigned")).collect();
    assert!(assigned.iter().any(|l| l.contains("cooperative") && l.contains("true")), "{assigned:?}");
}
