//! The tenant's provisioning log: every SCIM request that reaches the core, with its outcome
//! and warnings (a stale member id), and never a userName, email or name.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Cluster, binary, eventually};

fn log_lines(cluster: &Cluster, args: &[&str]) -> Vec<Value> {
    let output = std::process::Command::new(binary("provisioning-core"))
        .arg("log")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &cluster.core_database.url)
        .output()
        .expect("run provisioning-core log");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_warnings_reach_the_provisioning_log() {
    let cluster = Cluster::start().await;
    let client = &cluster.client;
    let (status, user) = client
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"userName": "secret.person@example.com", "name": {"givenName": "Secretgiven"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (status, _) = client.scim(Method::POST, "/Users", Some(json!({"userName": "SECRET.person@example.com"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let body = json!({"displayName": "Team", "members": [{"value": user_id}, {"value": "stale-member-id"}]});
    let (status, group) = client.scim(Method::POST, "/Groups", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let group_id = group["id"].as_str().unwrap().to_owned();

    let entry =
        eventually("the group's log entry", || async { log_lines(&cluster, &["acme", &group_id]).into_iter().next() })
            .await;
    assert_eq!(entry["method"], "POST");
    assert_eq!(entry["path"], "/Groups");
    assert_eq!(entry["resource_id"], group_id.as_str());
    assert_eq!(entry["status"], 201);
    let warning = entry["warnings"][0].as_str().unwrap();
    assert!(warning.contains("stale-member-id"), "{warning}");

    let all = eventually("three entries", || async {
        let lines = log_lines(&cluster, &["acme"]);
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    let conflict = all.iter().find(|e| e["status"] == 409).expect("the 409 is logged");
    assert_eq!(conflict["scim_type"], "uniqueness");
    let text = serde_json::to_string(&all).unwrap().to_lowercase();
    assert!(!text.contains("secret.person"), "no userName in the log: {text}");
    assert!(!text.contains("secretgiven"), "no name in the log");
    assert!(log_lines(&cluster, &["someone-else"]).is_empty(), "another tenant sees nothing");
}
