//! The tenant's provisioning log: every SCIM request that reaches the core, with its outcome
//! and warnings (a stale member id), and never a userName, email or name.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Cluster, eventually};

/// The tenant's provisioning log through the admin API, newest first.
async fn log_lines(cluster: &Cluster, tenant: &str, query: &str) -> Vec<Value> {
    let path = format!("/admin/v1/tenants/{tenant}/provisioning-log{query}");
    let (status, body) = cluster.admin.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["entries"].as_array().cloned().unwrap_or_default()
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

    let entry = eventually("the group's log entry", || async {
        log_lines(&cluster, "acme", &format!("?resource_id={group_id}")).await.into_iter().next()
    })
    .await;
    assert_eq!(entry["method"], "POST");
    assert_eq!(entry["path"], "/Groups");
    assert_eq!(entry["resource_id"], group_id.as_str());
    assert_eq!(entry["status"], 201);
    let warning = entry["warnings"][0].as_str().unwrap();
    assert!(warning.contains("stale-member-id"), "{warning}");

    let all = eventually("three entries", || async {
        let lines = log_lines(&cluster, "acme", "").await;
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    let conflict = all.iter().find(|e| e["status"] == 409).expect("the 409 is logged");
    assert_eq!(conflict["scim_type"], "uniqueness");
    let text = serde_json::to_string(&all).unwrap().to_lowercase();
    assert!(!text.contains("secret.person"), "no userName in the log: {text}");
    assert!(!text.contains("secretgiven"), "no name in the log");
    let (status, _) = cluster.admin.call(Method::GET, "/admin/v1/tenants/someone-else/provisioning-log", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such tenant");
}
