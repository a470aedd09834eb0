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

/// The tenant view's `connection`: first and last request, which IdP (its User-Agent), the last
/// failure, and the sync status against the expected cadence (a setting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_view_shows_its_connection_and_whether_its_idp_went_quiet() {
    let standalone = crate::support::Standalone::start().await;
    let (client, admin) = (&standalone.client, &standalone.admin);
    let (_, before) = admin.call(Method::GET, "/admin/v1/tenants/default", None).await;
    assert_eq!(before["connection"]["status"], "never", "{before}");
    assert_eq!(before["connection"]["last_request_at"], Value::Null);

    let entra = [("User-Agent", "Azure Active Directory SCIM Client"), ("Content-Type", "application/scim+json")];
    let user = json!({"userName": "quiet@example.com"}).to_string();
    client.send(Method::POST, "/Users", &entra, Some(&user)).await.expect(StatusCode::CREATED);
    client.send(Method::POST, "/Users", &entra, Some(&user)).await.expect_error(StatusCode::CONFLICT);
    // A read of a resource that is gone is how an IdP learns it is gone: not a failure.
    client.send(Method::GET, "/Users/00000000-0000-0000-0000-000000000000", &entra, None).await;

    let connection = eventually("the connection in the tenant view", || async {
        let (status, view) = admin.call(Method::GET, "/admin/v1/tenants/default", None).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let connection = view["connection"].clone();
        (connection["status"] == "on_schedule" && connection["last_error"].is_string()).then_some(connection)
    })
    .await;
    assert_eq!(connection["idp"], "Microsoft Entra ID", "{connection}");
    assert_eq!(connection["user_agent"], "Azure Active Directory SCIM Client");
    assert_eq!(connection["last_error"], "409 POST /Users: uniqueness", "{connection}");
    assert_eq!(connection["expected_cadence_minutes"], 40, "Entra's cycle by default");
    assert!(connection["first_request_at"].as_str() <= connection["last_request_at"].as_str(), "{connection}");

    // A daily IdP: its cadence is a setting, validated.
    let (status, settings) = admin
        .call(Method::PATCH, "/admin/v1/tenants/default/settings", Some(json!({"expected_cadence_minutes": 1440})))
        .await;
    assert_eq!((status, &settings["expected_cadence_minutes"]), (StatusCode::OK, &json!(1440)), "{settings}");
    let (_, view) = admin.call(Method::GET, "/admin/v1/tenants/default", None).await;
    assert_eq!(view["connection"]["expected_cadence_minutes"], 1440, "{view}");
    let (status, refused) = admin
        .call(Method::PATCH, "/admin/v1/tenants/default/settings", Some(json!({"expected_cadence_minutes": 0})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}
