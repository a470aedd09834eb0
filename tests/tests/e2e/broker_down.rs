//! A broker that is down delays events; it never fails a SCIM request and never loses an event.

use std::process::{Child, Command, Stdio};

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Cluster, ClusterOptions, create_topic, free_port, required_env};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

fn unpublished(database_url: &str) -> i64 {
    let mut conn = PgConnection::establish(database_url).expect("connect");
    diesel::sql_query("SELECT count(*) AS count FROM outbox WHERE published_at IS NULL")
        .get_result::<Count>(&mut conn)
        .expect("count")
        .count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_outbox_until_the_broker_comes_back() {
    let port = free_port();
    let kafka = format!("127.0.0.1:{port}");
    let cluster = Cluster::start_with(ClusterOptions {
        kafka: kafka.clone(),
        create_topic: false,
        // The topic appears only later: let the consumer notice it quickly.
        extra_kafka_properties: "topic.metadata.refresh.interval.ms=1000".to_owned(),
        ..ClusterOptions::new(kafka.clone())
    })
    .await;
    let client = &cluster.client;

    let (status, created) = client
        .scim(Method::POST, "/Users", Some(json!({"userName": "offline@example.com", "name": {"givenName": "Off"}})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "a SCIM write succeeds with the broker down: {created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(client.set_active(&id, false).await, StatusCode::OK);
    assert_eq!(unpublished(&cluster.core_database.url), 2, "both events wait in the outbox");
    // Let a delivery attempt fail for good (KAFKA_MESSAGE_TIMEOUT_MS): the events must stay.
    crate::support::eventually("a failed delivery attempt", || async {
        cluster.log("provisioning-core").contains("Kafka did not acknowledge an event").then_some(())
    })
    .await;
    assert_eq!(unpublished(&cluster.core_database.url), 2, "unacknowledged events stay in the outbox");
    let (status, _) = client.directory("accounts", &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The broker comes up (a fresh tansu on the address the services were given).
    let _broker = Broker(
        Command::new(required_env("TANSU_BIN"))
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{kafka}"),
                "--advertised-listener-url",
                &format!("tcp://{kafka}"),
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu"),
    );
    crate::support::eventually("the broker to accept connections", || async {
        std::net::TcpStream::connect(&kafka).ok().map(|_| ())
    })
    .await;
    create_topic(&kafka, &cluster.topic).await;
    let account = client
        .directory_until("accounts", &id, "the delayed events to reach the directory", |status, body| {
            status == StatusCode::OK && body["active"] == false
        })
        .await;
    assert_eq!(account["given_name"], "Off");
    crate::support::eventually("every event marked published", || async {
        (unpublished(&cluster.core_database.url) == 0).then_some(())
    })
    .await;
}

/// A broker process, stopped when the test ends, passed or failed.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
