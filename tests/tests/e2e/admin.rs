//! The operators' admin API and its command line, against the real binaries: tenants, tokens
//! (issue, list, rotate with overlap, revoke on every gateway replica), disabling a tenant,
//! per-tenant settings (rate limits), the provisioning-log query, regions, and standalone's
//! zero set-up.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Cluster, ClusterOptions, Endpoints, Standalone, binary, eventually, required_env};

/// What `GET /Users` answers with this token on this tenant URL.
async fn status_with(scim_url: &str, token: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{scim_url}/Users?count=1"))
        .bearer_auth(token)
        .send()
        .await
        .expect("SCIM request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts the token is accepted (200) or refused (401) on every gateway replica.
async fn assert_on_every_gateway(cluster: &Cluster, token: &str, expected: StatusCode, what: &str) {
    for url in &cluster.gateways {
        let (status, body) = status_with(url, token).await;
        assert_eq!(status, expected, "{what} on {url}: {body}");
    }
}

fn token_of(issued: &Value) -> String {
    issued["token"].as_str().unwrap_or_else(|| panic!("an issued token shows its secret: {issued}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_manage_tenants_and_tokens_across_two_gateways() {
    let cluster = Cluster::start_with(ClusterOptions {
        gateways: 2,
        ..ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"))
    })
    .await;
    let admin = &cluster.admin;

    // Only the admin token is an operator credential, and the admin API is not on the SCIM port.
    let scim_token = cluster.client.endpoints.token.clone();
    let (status, body) = admin.call_as(&scim_token, Method::GET, "/admin/v1/tenants", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a SCIM token is not an admin credential: {body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let (status, _) = admin.call_as("", Method::GET, "/admin/v1/tenants", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let on_scim_port = reqwest::Client::new()
        .get(cluster.gateways[0].replace("/scim/v2", "/admin/v1/tenants"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_scim_port.status(), StatusCode::NOT_FOUND, "the gateway does not serve the admin API");

    // Tenants.
    let (status, tenant) =
        admin.call(Method::POST, "/admin/v1/tenants", Some(json!({"slug": "globex", "display_name": "Globex"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["slug"], "globex");
    assert_eq!(tenant["display_name"], "Globex");
    assert_eq!(tenant["region"], "local");
    assert_eq!(tenant["disabled"], false);
    let (status, body) = admin.call(Method::POST, "/admin/v1/tenants", Some(json!({"slug": "globex"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for bad in [json!({"slug": "Not A Slug"}), json!({"display_name": "no slug"}), json!({"slug": "x", "extra": 1})] {
        let (status, body) = admin.call(Method::POST, "/admin/v1/tenants", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    }
    let (status, list) = admin.call(Method::GET, "/admin/v1/tenants", None).await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = list["tenants"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["acme", "globex"]);

    // Issue: the secret is shown once, has the documented shape, and works on every gateway.
    let (status, body) =
        admin.call(Method::POST, "/admin/v1/tenants/globex/tokens", Some(json!({"expires_in_days": 0}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, issued) =
        admin.call(Method::POST, "/admin/v1/tenants/globex/tokens", Some(json!({"expires_in_days": 30}))).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let first = token_of(&issued);
    let first_id = issued["id"].as_str().unwrap().to_owned();
    assert!(first.starts_with("scim_local_"), "{first}");
    assert!(first.starts_with(issued["prefix"].as_str().unwrap()), "the prefix is the token's start: {issued}");
    assert!(issued["expires_at"].as_str().is_some_and(|t| t.starts_with("20")), "{issued}");
    assert_on_every_gateway(&cluster, &first, StatusCode::OK, "a new token").await;

    // List: never the secret; last use recorded.
    let tokens = eventually("the token's last use", || async {
        let (status, list) = admin.call(Method::GET, "/admin/v1/tenants/globex/tokens", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        (!list["tokens"][0]["last_used_at"].is_null()).then_some(list)
    })
    .await;
    assert!(!tokens.to_string().contains(&first), "a listing never shows a secret: {tokens}");
    assert_eq!(tokens["tokens"][0]["id"], first_id.as_str());
    assert_eq!(tokens["tokens"][0]["status"], "active");
    assert!(tokens["tokens"][0]["created_at"].is_string());
    assert!(tokens["tokens"][0]["expires_at"].is_string());

    // Rotation with overlap, then completion: the old token stops on every gateway.
    let rotate = format!("/admin/v1/tenants/globex/tokens/{first_id}/rotate");
    let (status, rotated) = admin.call(Method::POST, &rotate, None).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let second = token_of(&rotated);
    let second_id = rotated["id"].as_str().unwrap().to_owned();
    assert_eq!(rotated["rotation_of"], first_id.as_str());
    assert_on_every_gateway(&cluster, &first, StatusCode::OK, "the old token during the rotation").await;
    assert_on_every_gateway(&cluster, &second, StatusCode::OK, "the new token during the rotation").await;
    let (status, body) = admin.call(Method::POST, &rotate, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "one rotation at a time: {body}");
    let (status, ended) = admin.call(Method::POST, &format!("{rotate}/complete"), None).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["revoked"]["id"], first_id.as_str());
    assert_eq!(ended["active"]["id"], second_id.as_str());
    assert_on_every_gateway(&cluster, &first, StatusCode::UNAUTHORIZED, "the old token after completion").await;
    assert_on_every_gateway(&cluster, &second, StatusCode::OK, "the new token after completion").await;

    // A rotation cancelled: the new token stops, the current one keeps working.
    let rotate = format!("/admin/v1/tenants/globex/tokens/{second_id}/rotate");
    let (status, rotated) = admin.call(Method::POST, &rotate, None).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let third = token_of(&rotated);
    let (status, ended) = admin.call(Method::POST, &format!("{rotate}/cancel"), None).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_on_every_gateway(&cluster, &third, StatusCode::UNAUTHORIZED, "a cancelled rotation's token").await;
    assert_on_every_gateway(&cluster, &second, StatusCode::OK, "the token a rotation was cancelled for").await;
    let (status, _) = admin.call(Method::POST, &format!("{rotate}/complete"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "no rotation under way");

    // Revocation holds on every gateway replica as soon as the call returns.
    let (status, body) =
        admin.call(Method::DELETE, &format!("/admin/v1/tenants/globex/tokens/{second_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_on_every_gateway(&cluster, &second, StatusCode::UNAUTHORIZED, "a revoked token").await;
    let (status, _) = admin.call(Method::DELETE, "/admin/v1/tenants/globex/tokens/no-such-token", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin.call(Method::DELETE, &format!("/admin/v1/tenants/acme/tokens/{second_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a token is revoked through its own tenant only");

    // Disabling a tenant stops its tokens, and only its tokens.
    let (status, issued) = admin.call(Method::POST, "/admin/v1/tenants/globex/tokens", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let live = token_of(&issued);
    let (status, tenant) = admin.call(Method::POST, "/admin/v1/tenants/globex/disable", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["disabled"], true);
    let (status, body) = status_with(&cluster.gateways[1], &live).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].as_str().unwrap().contains("disabled"), "{body}");
    assert_on_every_gateway(&cluster, &scim_token, StatusCode::OK, "another tenant's token").await;
    let (status, _) = admin.call(Method::POST, "/admin/v1/tenants/globex/enable", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_on_every_gateway(&cluster, &live, StatusCode::OK, "a re-enabled tenant's token").await;

    // Settings: validated; a tenant's own rate limit applies at once, to it alone.
    for bad in [
        json!({"rate_limit": {"requests_per_second": 0, "burst": 5}}),
        json!({"rate_limit": {"requests_per_second": 5}}),
        json!({"rate_limt": {}}),
    ] {
        let (status, body) = admin.call(Method::PUT, "/admin/v1/tenants/globex/settings", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("rate_limit") || d.contains("burst")), "{body}");
    }
    let limit = json!({"rate_limit": {"requests_per_second": 1, "burst": 2}});
    let (status, settings) = admin.call(Method::PUT, "/admin/v1/tenants/globex/settings", Some(limit)).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["rate_limit"]["requests_per_second"], 1);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(status_with(&cluster.gateways[0], &live).await.0);
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "the tenant's own limit applies: {statuses:?}");
    assert_on_every_gateway(&cluster, &scim_token, StatusCode::OK, "another tenant is not limited").await;
    let (status, settings) = admin.call(Method::PUT, "/admin/v1/tenants/globex/settings", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["rate_limit"]["default"], true, "{settings}");
    let (status, _) = admin.call(Method::PUT, "/admin/v1/tenants/nobody/settings", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The provisioning log: queried by status, resource, time and page; gateway-side 400s are
    // in it, with the caller's trace id.
    let log = "/admin/v1/tenants/globex/provisioning-log";
    let limited = eventually("the 429s in the log", || async {
        let (status, body) = admin.call(Method::GET, &format!("{log}?status=429"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        (!entries.is_empty()).then_some(entries)
    })
    .await;
    assert!(limited.iter().all(|e| e["status"] == 429 && e["token_id"].is_string()), "{limited:?}");
    let globex = Client::new(Endpoints {
        scim: cluster.gateways[1].clone(),
        token: live.clone(),
        directory: cluster.client.endpoints.directory.clone(),
        tenant: "globex".to_owned(),
    });
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    globex
        .send(
            Method::POST,
            "/Users",
            &[("Content-Type", "application/scim+json"), ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
            Some("{not json"),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST);
    let rejected = eventually("the gateway's 400 in the log", || async {
        let (_, body) = admin.call(Method::GET, &format!("{log}?status=400"), None).await;
        body["entries"].as_array().and_then(|entries| entries.first().cloned())
    })
    .await;
    assert_eq!(rejected["method"], "POST");
    assert_eq!(rejected["path"], "/Users");
    assert_eq!(rejected["scim_type"], "invalidSyntax");
    assert_eq!(rejected["trace_id"], trace, "{rejected}");
    let (status, user) = globex.scim(Method::POST, "/Users", Some(json!({"userName": "logged@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = user["id"].as_str().unwrap().to_owned();
    let by_resource = eventually("the user's entry", || async {
        let (_, body) = admin.call(Method::GET, &format!("{log}?resource_id={id}"), None).await;
        body["entries"].as_array().filter(|entries| !entries.is_empty()).cloned()
    })
    .await;
    assert!(by_resource.iter().all(|e| e["resource_id"] == id.as_str()), "{by_resource:?}");
    let (_, page) = admin.call(Method::GET, &format!("{log}?limit=2"), None).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let next = page["next"].as_i64().expect("a full page names the next one");
    let (_, older) = admin.call(Method::GET, &format!("{log}?limit=2&before={next}"), None).await;
    assert!(older["entries"].as_array().unwrap().iter().all(|e| e["id"].as_i64().unwrap() < next));
    let (_, future) = admin.call(Method::GET, &format!("{log}?since=2999-01-01T00:00:00Z"), None).await;
    assert_eq!(future["entries"], json!([]));
    let (_, past) = admin.call(Method::GET, &format!("{log}?until=2000-01-01T00:00:00Z"), None).await;
    assert_eq!(past["entries"], json!([]));
    for bad in ["?status=abc", "?limit=0", "?limit=5000", "?since=yesterday", "?colour=red"] {
        let (status, body) = admin.call(Method::GET, &format!("{log}{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
    }
    let (_, all) = admin.call(Method::GET, &format!("{log}?limit=1000"), None).await;
    assert!(!all.to_string().contains("logged@example.com"), "no userName in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_tenants_of_another_region_are_refused_with_its_tenant_url() {
    let urls = "eu=https://api.eu.example.com/scim/v2,us=https://api.us.example.com/scim/v2".to_owned();
    let cluster = Cluster::start_with(ClusterOptions {
        core_env: vec![("REGION", "eu".to_owned()), ("REGION_TENANT_URLS", urls.clone())],
        gateway_env: vec![("REGION", "eu".to_owned()), ("REGION_TENANT_URLS", urls)],
        ..ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"))
    })
    .await;
    let admin = &cluster.admin;

    let (status, body) =
        admin.call(Method::POST, "/admin/v1/tenants", Some(json!({"slug": "initech", "region": "us"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("https://api.us.example.com/scim/v2"), "{body}");
    let (status, tenant) =
        admin.call(Method::POST, "/admin/v1/tenants", Some(json!({"slug": "initech", "region": "eu"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["tenant_url"], "https://api.eu.example.com/scim/v2");
    let (status, issued) = admin.call(Method::POST, "/admin/v1/tenants/initech/tokens", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token_of(&issued);
    assert!(token.starts_with("scim_eu_"), "{token}");
    assert_eq!(issued["tenant_url"], "https://api.eu.example.com/scim/v2");
    assert_eq!(status_with(&cluster.gateways[0], &token).await.0, StatusCode::OK);

    // An admin who pasted a US token into the EU tenant URL is told where it belongs.
    let us_token = token.replacen("scim_eu_", "scim_us_", 1);
    let (status, body) = status_with(&cluster.gateways[0], &us_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("'us'") && detail.contains("https://api.us.example.com/scim/v2"), "{detail}");
    let (status, body) = status_with(&cluster.gateways[0], &token.replacen("scim_eu_", "scim_ap_", 1)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].as_str().unwrap().contains("'ap'"), "{body}");
}

/// Runs `standalone admin …` with these settings; returns (success, stdout, stderr).
fn cli(args: &[&str], url: &str, token: &str) -> (bool, String, String) {
    let output = std::process::Command::new(binary("standalone"))
        .arg("admin")
        .args(args)
        .env_clear()
        .env("ADMIN_URL", url)
        .env("ADMIN_TOKEN", token)
        .output()
        .expect("run standalone admin");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_prints_an_admin_token_and_the_cli_works_against_it() {
    let standalone = Standalone::start_with(vec![("ADMIN_TOKEN", String::new())]).await;
    let log = standalone.log();
    let printed = log
        .lines()
        .find_map(|line| line.split_once("Admin token").map(|(_, rest)| rest))
        .and_then(|rest| rest.rsplit(' ').next())
        .unwrap_or_else(|| panic!("standalone prints an admin token when none is set:\n{log}"))
        .trim()
        .to_owned();
    let url = standalone.admin.url.clone();

    let (ok, out, err) = cli(&["tenants", "list"], &url, &printed);
    assert!(ok, "{err}");
    let tenants: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(tenants["tenants"][0]["slug"], "default");
    assert_eq!(tenants["tenants"][0]["tenant_url"], standalone.client.endpoints.scim.as_str());

    let (ok, out, err) = cli(&["tokens", "issue", "default", "--expires-in-days", "7"], &url, &printed);
    assert!(ok, "{err}");
    let issued: Value = serde_json::from_str(&out).expect("JSON");
    let token = token_of(&issued);
    assert_eq!(status_with(&standalone.client.endpoints.scim, &token).await.0, StatusCode::OK);
    let id = issued["id"].as_str().unwrap();
    let (ok, _, err) = cli(&["tokens", "revoke", "default", id], &url, &printed);
    assert!(ok, "{err}");
    assert_eq!(status_with(&standalone.client.endpoints.scim, &token).await.0, StatusCode::UNAUTHORIZED);

    let (ok, _, err) = cli(&["tenants", "show", "nobody"], &url, &printed);
    assert!(!ok);
    assert!(err.contains("404") && err.contains("no tenant 'nobody'"), "{err}");
    let (ok, _, err) = cli(&["tenants", "list"], &url, "wrong");
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("Stack backtrace"), "{err}");
}

/// Portal sessions for a customer's own admin: issued by the product's backend through the
/// admin API, one tenant each, listed without their secret, revocable, and never a SCIM token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sessions_are_issued_listed_and_revoked_per_tenant() {
    let standalone = Standalone::start().await;
    let admin = &standalone.admin;
    let (status, issued) = admin
        .call(
            Method::POST,
            "/admin/v1/tenants/default/portal-sessions",
            Some(json!({"ttl_minutes": 30, "label": "it@customer.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = issued["token"].as_str().expect("the secret, shown once").to_owned();
    assert!(secret.starts_with(&format!("portal_{}_", crate::support::TEST_REGION)), "{secret}");
    assert_eq!((issued["status"].as_str(), issued["label"].as_str()), (Some("active"), Some("it@customer.example")));
    let id = issued["id"].as_str().unwrap().to_owned();

    // Not a SCIM token.
    let (status, _) = status_with(&standalone.client.endpoints.scim, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Nor an admin credential.
    let (status, _) = admin.call_as(&secret, Method::GET, "/admin/v1/tenants", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, listed) = admin.call(Method::GET, "/admin/v1/tenants/default/portal-sessions", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    // Standalone issued one at start, for the link it printed.
    let labels: Vec<&str> =
        listed["portal_sessions"].as_array().unwrap().iter().filter_map(|s| s["label"].as_str()).collect();
    assert_eq!(labels, ["it@customer.example", "printed by standalone at start"], "newest first: {listed}");
    assert!(standalone.log().contains("Self-serve portal of tenant 'default'"), "{}", standalone.log());
    assert!(!listed.to_string().contains(&secret), "a listing never shows the secret");

    for (body, what) in [
        (json!({"ttl_minutes": 2}), "too short"),
        (json!({"ttl_minutes": 100_000}), "too long"),
        (json!({"label": "x".repeat(201)}), "label too long"),
        (json!({"tenant": "other"}), "unknown field"),
    ] {
        let (status, refused) = admin.call(Method::POST, "/admin/v1/tenants/default/portal-sessions", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {refused}");
        assert!(refused["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {refused}");
    }
    let (status, _) = admin.call(Method::POST, "/admin/v1/tenants/nosuch/portal-sessions", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let path = format!("/admin/v1/tenants/default/portal-sessions/{id}");
    let (status, _) = admin.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = admin.call(Method::GET, "/admin/v1/tenants/default/portal-sessions", None).await;
    assert_eq!(listed["portal_sessions"][0]["status"], "revoked", "{listed}");
    let (status, _) = admin.call(Method::DELETE, "/admin/v1/tenants/default/portal-sessions/nosuch", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin.call_as("wrong", Method::GET, "/admin/v1/tenants/default/portal-sessions", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
