//! The self-serve portal's API (`/portal/v1`), as the page and a customer's admin use it: a
//! portal session from the admin API opens one tenant; with it the admin reads the tenant URL,
//! generates a token, sees their IdP's requests arrive (connection, counts, problems in plain
//! words, the log, users and groups), gives a group permissions (which reach the directory),
//! rotates and revokes the token. Then every endpoint's errors, and sessions that expire or
//! are revoked. Tenant scoping is in the isolation suite.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Admin, Client, Cluster, ClusterOptions, Endpoints, Portal, Standalone, entra, eventually, id_of};

fn codes(overview: &Value) -> Vec<String> {
    overview["problems"]
        .as_array()
        .map(|list| list.iter().filter_map(|p| p["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn problem<'a>(overview: &'a Value, code: &str) -> &'a Value {
    overview["problems"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["code"] == code))
        .unwrap_or_else(|| panic!("a problem {code}: {overview}"))
}

#[track_caller]
fn ok(reply: (StatusCode, Value), expected: StatusCode) -> Value {
    assert_eq!(reply.0, expected, "{}", reply.1);
    reply.1
}

/// What an admin does alone, from the link to a working, permissioned, rotated set-up.
/// `tenant_url` is the one the portal shows (this region's public one); `scim_url` is where
/// the test reaches the gateway.
async fn admin_sets_up_provisioning_alone(
    admin: &Admin,
    portal_url: &str,
    tenant_url: &str,
    scim_url: &str,
    directory_url: &str,
) {
    let tenant = "globex";
    let created = admin
        .call(Method::POST, "/admin/v1/tenants", Some(json!({"slug": tenant, "display_name": "Globex Corp"})))
        .await;
    ok(created, StatusCode::CREATED);
    let (portal, issued) = Portal::open(admin, portal_url, tenant).await;
    let link = issued["url"].as_str().expect("the link for the admin's browser");
    assert_eq!(link, format!("{portal_url}/portal/#session={}", portal.session), "the secret is in the fragment");

    // A new tenant: no token, no request yet.
    let overview = ok(portal.call(Method::GET, "/overview", None).await, StatusCode::OK);
    assert_eq!(overview["tenant"]["slug"], tenant, "{overview}");
    assert_eq!(overview["tenant"]["display_name"], "Globex Corp", "{overview}");
    assert_eq!(overview["tenant_url"], tenant_url, "this region's tenant URL: {overview}");
    assert_eq!(overview["connection"]["status"], "never", "{overview}");
    assert_eq!(overview["counts"]["users"], 0, "{overview}");
    assert!(overview["session_expires_at"].is_string(), "{overview}");
    assert_eq!(codes(&overview), ["no_live_token", "never_connected"], "{overview}");

    // Generate a token, shown once.
    let issued = ok(portal.call(Method::POST, "/tokens", Some(json!({}))).await, StatusCode::CREATED);
    let token = issued["token"].as_str().expect("the secret").to_owned();
    assert!(token.starts_with("scim_"), "{issued}");
    assert_eq!(issued["tenant_url"], tenant_url, "{issued}");
    let listed = ok(portal.call(Method::GET, "/tokens", None).await, StatusCode::OK);
    assert_eq!(listed["tokens"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(!listed.to_string().contains(&token), "a listing never shows the secret: {listed}");
    let token_id = issued["id"].as_str().unwrap().to_owned();

    // Entra provisions with it: one user arrives without givenName (a mapping removed).
    let mut ids = Vec::new();
    for (user_name, name) in [
        ("ann@globex.example", json!({"givenName": "Ann", "familyName": "Lee"})),
        ("bob@globex.example", json!({"givenName": "Bob", "familyName": "Ray"})),
        ("cara@globex.example", json!({"familyName": "Jones"})),
    ] {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name, "active": true, "name": name,
            "emails": [{"value": user_name, "type": "work", "primary": true}],
            "externalId": format!("oid-{user_name}"),
        });
        ids.push(id_of(&ok(entra(scim_url, &token, Method::POST, "/Users", Some(body)).await, StatusCode::CREATED)));
    }
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering", "externalId": "oid-engineering",
        "members": [{"value": ids[0]}, {"value": ids[1]}],
    });
    let group = id_of(&ok(entra(scim_url, &token, Method::POST, "/Groups", Some(group)).await, StatusCode::CREATED));
    // A member that was never provisioned: accepted with a warning.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": "never-provisioned"}]}],
    });
    let (status, _) = entra(scim_url, &token, Method::PATCH, &format!("/Groups/{group}"), Some(patch)).await;
    assert!(status.is_success(), "{status}");
    // A duplicate: a failure the admin should see.
    let duplicate =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@globex.example"});
    let (status, _) = entra(scim_url, &token, Method::POST, "/Users", Some(duplicate)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let overview = eventually("the portal to see Entra's requests", || async {
        let overview = portal.call(Method::GET, "/overview", None).await.1;
        let seen =
            overview["connection"]["status"] == "on_schedule" && codes(&overview).contains(&"requests_failing".into());
        seen.then_some(overview)
    })
    .await;
    assert_eq!(overview["connection"]["idp"], "Microsoft Entra ID", "{overview}");
    assert_eq!(overview["connection"]["user_agent"], crate::support::ENTRA_USER_AGENT, "{overview}");
    assert!(overview["connection"]["last_error"].as_str().is_some_and(|e| e.contains("409")), "{overview}");
    let counts = &overview["counts"];
    assert_eq!(
        (counts["users"].as_i64(), counts["active_users"].as_i64(), counts["groups"].as_i64()),
        (Some(3), Some(3), Some(1))
    );
    assert_eq!(counts["users_without_given_name"], 1, "{overview}");
    assert_eq!(counts["users_without_family_name"], 0, "{overview}");
    let missing = problem(&overview, "missing_given_name");
    assert_eq!(missing["message"], "1 of 3 users arrived without givenName.", "{missing}");
    assert!(
        missing["fix"].as_str().is_some_and(|f| f.contains("name.givenName") && f.contains("Entra ID")),
        "{missing}"
    );
    assert!(
        problem(&overview, "requests_failing")["message"].as_str().is_some_and(|m| m.contains("409")),
        "{overview}"
    );
    assert_eq!(problem(&overview, "requests_with_warnings")["severity"], "info", "{overview}");
    assert!(!codes(&overview).contains(&"no_live_token".into()), "{overview}");

    // Users and groups, paged and searchable.
    let found = ok(portal.call(Method::GET, "/users?search=CARA", None).await, StatusCode::OK);
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["users"][0]["user_name"], "cara@globex.example", "{found}");
    assert_eq!(found["users"][0]["given_name"], Value::Null, "{found}");
    assert_eq!(found["users"][0]["family_name"], "Jones", "{found}");
    let first = ok(portal.call(Method::GET, "/users?count=2", None).await, StatusCode::OK);
    assert_eq!((first["total"].as_i64(), first["users"].as_array().map(Vec::len)), (Some(3), Some(2)), "{first}");
    let rest = ok(portal.call(Method::GET, "/users?count=2&start_index=3", None).await, StatusCode::OK);
    assert_eq!(rest["users"].as_array().map(Vec::len), Some(1), "{rest}");
    let groups = ok(portal.call(Method::GET, "/groups?search=engin", None).await, StatusCode::OK);
    assert_eq!(groups["total"], 1, "{groups}");
    assert_eq!(groups["groups"][0]["id"], group.as_str(), "{groups}");
    assert_eq!(groups["groups"][0]["members"], 2, "{groups}");
    assert_eq!(groups["groups"][0]["permissions"], json!([]), "{groups}");

    // The group's permissions reach the directory.
    let changed = ok(
        portal
            .call(
                Method::PUT,
                &format!("/groups/{group}/permissions"),
                Some(json!({"permissions": ["read", "deploy", "read"]})),
            )
            .await,
        StatusCode::OK,
    );
    assert_eq!(changed["group"]["permissions"], json!(["deploy", "read"]), "{changed}");
    assert!(changed["republishing_job"].is_string(), "{changed}");
    let directory = Client::new(Endpoints {
        scim: scim_url.to_owned(),
        token: token.clone(),
        directory: directory_url.to_owned(),
        tenant: tenant.to_owned(),
    });
    let team = directory
        .directory_until("teams", &group, "the team's permissions in the directory", |status, team| {
            status == StatusCode::OK && team["permissions"] == json!(["deploy", "read"])
        })
        .await;
    assert_eq!(team["name"], "Engineering", "{team}");
    let account = directory
        .directory_until("accounts", &ids[0], "ann's permissions from her team", |_, a| a["permissions"] != json!([]))
        .await;
    assert_eq!(account["permissions"], json!(["deploy", "read"]), "{account}");
    let stored = ok(
        admin.call(Method::GET, &format!("/admin/v1/tenants/{tenant}/group-permissions"), None).await,
        StatusCode::OK,
    );
    assert_eq!(
        stored["group_permissions"],
        json!({"oid-engineering": ["deploy", "read"]}),
        "keyed by externalId: {stored}"
    );

    // The log, filtered and paged.
    let errors = ok(portal.call(Method::GET, "/log?status=error", None).await, StatusCode::OK);
    let errors = errors["entries"].as_array().cloned().unwrap_or_default();
    assert!(!errors.is_empty() && errors.iter().all(|e| e["status"].as_i64() >= Some(400)), "{errors:?}");
    let of_groups = ok(portal.call(Method::GET, "/log?resource_type=Group", None).await, StatusCode::OK);
    let of_groups = of_groups["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(of_groups.len(), 2, "the POST and the PATCH: {of_groups:?}");
    assert!(of_groups.iter().all(|e| e["resource_type"] == "Group"), "{of_groups:?}");
    assert!(of_groups[0]["warnings"].as_array().is_some_and(|w| !w.is_empty()), "the PATCH's warning: {of_groups:?}");
    let newest = ok(portal.call(Method::GET, "/log?limit=1", None).await, StatusCode::OK);
    let next = newest["next"].as_i64().expect("a next page");
    let older = ok(portal.call(Method::GET, &format!("/log?limit=1&before={next}"), None).await, StatusCode::OK);
    let (older_id, newest_id) = (older["entries"][0]["id"].as_i64(), newest["entries"][0]["id"].as_i64());
    assert!(older_id.is_some() && older_id < newest_id, "an older page: {older} {newest}");

    // Rotation with overlap: both tokens work until it is completed.
    let rotated = ok(portal.call(Method::POST, &format!("/tokens/{token_id}/rotate"), None).await, StatusCode::CREATED);
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(rotated["rotation_of"], token_id.as_str(), "{rotated}");
    for secret in [&token, &new_token] {
        assert_eq!(entra(scim_url, secret, Method::GET, "/Users?count=1", None).await.0, StatusCode::OK);
    }
    let ended =
        ok(portal.call(Method::POST, &format!("/tokens/{token_id}/rotate/complete"), None).await, StatusCode::OK);
    assert_eq!(
        (ended["revoked"]["id"].as_str(), ended["revoked"]["status"].as_str()),
        (Some(token_id.as_str()), Some("revoked"))
    );
    assert_eq!(entra(scim_url, &token, Method::GET, "/Users?count=1", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(entra(scim_url, &new_token, Method::GET, "/Users?count=1", None).await.0, StatusCode::OK);

    // Revocation: at once.
    let new_id = rotated["id"].as_str().unwrap();
    let (status, _) = portal.call(Method::DELETE, &format!("/tokens/{new_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(entra(scim_url, &new_token, Method::GET, "/Users?count=1", None).await.0, StatusCode::UNAUTHORIZED);
    let overview = ok(portal.call(Method::GET, "/overview", None).await, StatusCode::OK);
    assert_eq!(codes(&overview)[0], "no_live_token", "{overview}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_provisioning_alone_on_standalone() {
    let standalone = Standalone::start().await;
    let scim = &standalone.client.endpoints;
    admin_sets_up_provisioning_alone(&standalone.admin, &standalone.portal, &scim.scim, &scim.scim, &scim.directory)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_provisioning_alone_on_the_three_services() {
    let public = "https://scim.local.example.test/scim/v2";
    let mut options = ClusterOptions::new(crate::support::required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.core_env = vec![("REGION_TENANT_URLS", format!("local={public}"))];
    let cluster = Cluster::start_with(options).await;
    let scim = &cluster.client.endpoints;
    admin_sets_up_provisioning_alone(&cluster.admin, &cluster.portal, public, &scim.scim, &scim.directory).await;
}

#[track_caller]
fn refused(reply: (StatusCode, Value), status: StatusCode, what: &str) -> String {
    assert_eq!(reply.0, status, "{what}: {}", reply.1);
    assert_eq!(reply.1["status"], status.as_u16(), "{what}: {}", reply.1);
    let detail = reply.1["detail"].as_str().unwrap_or_default().to_owned();
    assert!(!detail.is_empty(), "{what}: a detail that says what to do: {}", reply.1);
    detail
}

/// Every endpoint's errors: the `{"status", "detail"}` form, the right status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_endpoint_refuses_what_it_cannot_do() {
    let standalone = Standalone::start().await;
    let (portal, _) = Portal::open(&standalone.admin, &standalone.portal, "default").await;
    let scim_token = standalone.client.endpoints.token.clone();

    for path in ["/overview", "/tokens", "/log", "/users", "/groups"] {
        let detail = refused(portal.call_as(None, Method::GET, path, None).await, StatusCode::UNAUTHORIZED, path);
        assert!(detail.contains("portal link"), "{detail}");
        for credential in [scim_token.as_str(), standalone.admin.token.as_str()] {
            let detail = refused(
                portal.call_as(Some(credential), Method::GET, path, None).await,
                StatusCode::UNAUTHORIZED,
                path,
            );
            assert!(detail.contains("not a portal session"), "{detail}");
        }
        let forged = format!("portal_local_{}", "A".repeat(43));
        refused(portal.call_as(Some(&forged), Method::GET, path, None).await, StatusCode::UNAUTHORIZED, path);
    }
    refused(portal.call(Method::GET, "/nothing", None).await, StatusCode::NOT_FOUND, "unknown endpoint");
    refused(portal.call(Method::POST, "/overview", None).await, StatusCode::METHOD_NOT_ALLOWED, "wrong method");

    for (body, what) in [
        (json!({"expires_in_days": 0}), "expiry too short"),
        (json!({"expires_in_days": 100_000}), "expiry too long"),
        (json!({"tenant": "other"}), "unknown field"),
        (json!(["a list"]), "not an object"),
    ] {
        refused(portal.call(Method::POST, "/tokens", Some(body)).await, StatusCode::BAD_REQUEST, what);
    }
    refused(portal.call(Method::DELETE, "/tokens/nosuch", None).await, StatusCode::NOT_FOUND, "unknown token");
    refused(portal.call(Method::POST, "/tokens/nosuch/rotate", None).await, StatusCode::NOT_FOUND, "rotate unknown");
    let tokens = ok(portal.call(Method::GET, "/tokens", None).await, StatusCode::OK);
    let bootstrap = tokens["tokens"][0]["id"].as_str().expect("the bootstrap token").to_owned();
    let detail = refused(
        portal.call(Method::POST, &format!("/tokens/{bootstrap}/rotate/complete"), None).await,
        StatusCode::CONFLICT,
        "complete without a rotation",
    );
    assert!(detail.contains("not being rotated"), "{detail}");
    // At most five live tokens.
    let mut issued = Vec::new();
    for _ in 0..4 {
        issued.push(
            ok(portal.call(Method::POST, "/tokens", None).await, StatusCode::CREATED)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let detail = refused(portal.call(Method::POST, "/tokens", None).await, StatusCode::CONFLICT, "a sixth token");
    assert!(detail.contains("5 live tokens"), "{detail}");
    let (status, _) = portal.call(Method::DELETE, &format!("/tokens/{}", issued[0]), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let detail = refused(
        portal.call(Method::POST, &format!("/tokens/{}/rotate", issued[0]), None).await,
        StatusCode::CONFLICT,
        "rotate a revoked token",
    );
    assert!(detail.contains("revoked"), "{detail}");
    let successor =
        ok(portal.call(Method::POST, &format!("/tokens/{}/rotate", issued[1]), None).await, StatusCode::CREATED);
    refused(
        portal.call(Method::POST, &format!("/tokens/{}/rotate", issued[1]), None).await,
        StatusCode::CONFLICT,
        "rotate twice",
    );
    let cancelled =
        ok(portal.call(Method::POST, &format!("/tokens/{}/rotate/cancel", issued[1]), None).await, StatusCode::OK);
    assert_eq!(cancelled["revoked"]["id"], successor["id"], "cancel revokes the successor: {cancelled}");
    assert_eq!(cancelled["active"]["id"], issued[1].as_str(), "{cancelled}");
    // A chain of rotations stops at the cap and its overlap (six live tokens).
    let first =
        ok(portal.call(Method::POST, &format!("/tokens/{}/rotate", issued[1]), None).await, StatusCode::CREATED);
    let second = ok(
        portal.call(Method::POST, &format!("/tokens/{}/rotate", first["id"].as_str().unwrap()), None).await,
        StatusCode::CREATED,
    );
    let detail = refused(
        portal.call(Method::POST, &format!("/tokens/{}/rotate", second["id"].as_str().unwrap()), None).await,
        StatusCode::CONFLICT,
        "a seventh token through rotations",
    );
    assert!(detail.contains("6 live tokens"), "{detail}");

    let long = "x".repeat(201);
    for query in ["count=0", "count=101", &format!("search={long}"), "sort=userName", "start_index=abc"] {
        for list in ["/users", "/groups"] {
            refused(portal.call(Method::GET, &format!("{list}?{query}"), None).await, StatusCode::BAD_REQUEST, query);
        }
    }
    for query in ["status=abc", "resource_type=Account", "limit=0", "limit=201", "since=yesterday", "tenant=other"] {
        refused(portal.call(Method::GET, &format!("/log?{query}"), None).await, StatusCode::BAD_REQUEST, query);
    }

    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"});
    let (status, created) = standalone.client.scim(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/groups/{}/permissions", id_of(&created));
    let many: Vec<String> = (0..51).map(|i| format!("p{i}")).collect();
    for (body, what) in [
        (json!({"permissions": many}), "51 permissions"),
        (json!({"permissions": [""]}), "an empty permission"),
        (json!({"permissions": ["a\u{7}"]}), "a control character"),
        (json!({"permissions": ["x".repeat(101)]}), "a permission too long"),
        (json!({}), "no permissions field"),
        (json!({"permissions": "read"}), "not a list"),
    ] {
        refused(portal.call(Method::PUT, &path, Some(body)).await, StatusCode::BAD_REQUEST, what);
    }
    refused(
        portal.call(Method::PUT, "/groups/nosuch/permissions", Some(json!({"permissions": ["read"]}))).await,
        StatusCode::NOT_FOUND,
        "unknown group",
    );
    let stored = ok(
        standalone.admin.call(Method::GET, "/admin/v1/tenants/default/group-permissions", None).await,
        StatusCode::OK,
    );
    assert_eq!(stored["group_permissions"], json!({}), "nothing was stored: {stored}");
}

/// A session stops working when it expires or is revoked, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sessions_expire_and_are_revoked() {
    use diesel::{Connection, RunQueryDsl};
    let standalone = Standalone::start().await;
    let (expiring, issued) = Portal::open(&standalone.admin, &standalone.portal, "default").await;
    ok(expiring.call(Method::GET, "/overview", None).await, StatusCode::OK);
    let path = standalone.core_database().display().to_string();
    let mut conn = diesel::SqliteConnection::establish(&path).expect("the core's database");
    let id = issued["id"].as_str().unwrap();
    let changed =
        diesel::sql_query(format!("UPDATE portal_sessions SET expires_at = expires_at - 3600000000 WHERE id = '{id}'"))
            .execute(&mut conn)
            .expect("ageing the session by an hour");
    assert_eq!(changed, 1);
    let detail = refused(expiring.call(Method::GET, "/overview", None).await, StatusCode::UNAUTHORIZED, "expired");
    assert!(detail.contains("expired or was revoked"), "{detail}");

    let (revoked, issued) = Portal::open(&standalone.admin, &standalone.portal, "default").await;
    ok(revoked.call(Method::GET, "/tokens", None).await, StatusCode::OK);
    let path = format!("/admin/v1/tenants/default/portal-sessions/{}", issued["id"].as_str().unwrap());
    assert_eq!(standalone.admin.call(Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
    refused(revoked.call(Method::POST, "/tokens", None).await, StatusCode::UNAUTHORIZED, "revoked");
    let (_, listed) = standalone.admin.call(Method::GET, "/admin/v1/tenants/default/portal-sessions", None).await;
    let statuses: Vec<&str> =
        listed["portal_sessions"].as_array().unwrap().iter().filter_map(|s| s["status"].as_str()).collect();
    assert!(statuses.contains(&"expired") && statuses.contains(&"revoked"), "{listed}");
}

/// The page and its files come from the binary, with headers that keep it self-contained; the
/// OpenAPI description names every endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_the_openapi_description_are_served() {
    let standalone = Standalone::start().await;
    let (portal, _) = Portal::open(&standalone.admin, &standalone.portal, "default").await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/portal", standalone.portal))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()["location"], "/portal/");
    for (path, content_type, marker) in [
        ("/portal/", "text/html; charset=utf-8", "<script src=\"portal.js\" defer></script>"),
        ("/portal/portal.js", "text/javascript; charset=utf-8", "sessionStorage"),
        ("/portal/portal.css", "text/css; charset=utf-8", ":focus-visible"),
    ] {
        let response = portal.get_raw(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains(marker), "{path}");
        assert!(!text.contains("https://"), "{path} loads nothing from elsewhere");
    }
    let response = portal.get_raw("/portal/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let description: Value = response.json().await.unwrap();
    assert!(description["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{description}");
    let paths = description["paths"].as_object().expect("paths");
    let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/portal/v1/groups",
            "/portal/v1/groups/{id}/permissions",
            "/portal/v1/log",
            "/portal/v1/overview",
            "/portal/v1/tokens",
            "/portal/v1/tokens/{id}",
            "/portal/v1/tokens/{id}/rotate",
            "/portal/v1/tokens/{id}/rotate/cancel",
            "/portal/v1/tokens/{id}/rotate/complete",
            "/portal/v1/users",
            "/portal/v1/webhooks",
            "/portal/v1/webhooks/{id}",
            "/portal/v1/webhooks/{id}/deliveries",
            "/portal/v1/webhooks/{id}/replay",
        ]
    );
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert_eq!(operation["security"], json!([{"portal_session": []}]), "{method} {path}");
            assert!(operation["responses"].get("401").is_some(), "{method} {path} documents 401");
        }
    }
    assert_eq!(description["components"]["securitySchemes"]["portal_session"]["scheme"], "bearer");
    assert!(description["components"]["schemas"]["Overview"].is_object(), "the schemas come from the code");
}

/// The tenant's admin manages webhook endpoints in the portal: made for their tenant only (the
/// secret shown once), listed without the operator's or another tenant's, deliveries of the
/// tenant's changes listed and replayed, removed; someone else's endpoint is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_admin_manages_its_webhooks_in_the_portal() {
    let standalone = Standalone::start().await;
    let (portal, _) = Portal::open(&standalone.admin, &standalone.portal, "default").await;
    let directory = standalone.client.endpoints.directory.clone();
    standalone.admin.tenant_client("globex", &standalone.client.endpoints.scim, &directory).await;
    // The operator's endpoints: one of every tenant, one of another tenant.
    let mut theirs = Vec::new();
    for body in [json!({"url": "http://127.0.0.1:9/all"}), json!({"url": "http://127.0.0.1:9/g", "tenant": "globex"})] {
        let (status, made) = standalone.admin.call(Method::POST, "/admin/v1/webhooks", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        theirs.push(made["id"].as_str().expect("an id").to_owned());
    }

    // A receiver that is not listening: deliveries stay pending with the error of each attempt.
    let (status, refused) = portal
        .call(Method::POST, "/webhooks", Some(json!({"url": "http://127.0.0.1:9/mine", "tenant": "globex"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "another tenant: {refused}");
    let (status, made) = portal
        .call(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/mine", "event_types": ["user.created"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["tenant"], "default");
    assert!(made["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")), "{made}");
    let mine = made["id"].as_str().expect("an id").to_owned();
    let (status, listed) = portal.call(Method::GET, "/webhooks", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> =
        listed["webhooks"].as_array().expect("webhooks").iter().filter_map(|w| w["id"].as_str()).collect();
    assert_eq!(ids, [mine.as_str()], "only the tenant's own: {listed}");
    assert!(listed["webhooks"][0].get("secret").is_none(), "the secret is shown once");

    let (status, _) =
        standalone.client.scim(Method::POST, "/Users", Some(json!({"userName": "hook@acme.example"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let tried = eventually("an attempt to the endpoint", || async {
        let (_, page) = portal.call(Method::GET, &format!("/webhooks/{mine}/deliveries"), None).await;
        let first = page["deliveries"].get(0).cloned()?;
        (first["attempts"].as_i64() >= Some(1)).then_some(first)
    })
    .await;
    assert_eq!(
        (tried["event_type"].as_str(), tried["state"].as_str()),
        (Some("user.created"), Some("pending")),
        "{tried}"
    );
    assert!(tried["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{tried}");
    let (status, replayed) = portal.call(Method::POST, &format!("/webhooks/{mine}/replay"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{replayed}");

    // The operator's and the other tenant's endpoints do not exist for this portal.
    for id in &theirs {
        for (method, path) in [
            (Method::DELETE, format!("/webhooks/{id}")),
            (Method::GET, format!("/webhooks/{id}/deliveries")),
            (Method::POST, format!("/webhooks/{id}/replay")),
        ] {
            let (status, answer) = portal.call(method.clone(), &path, Some(json!({}))).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        }
    }
    let (status, _) = portal.call(Method::DELETE, &format!("/webhooks/{mine}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = portal.call(Method::GET, "/webhooks", None).await;
    assert_eq!(listed["webhooks"], json!([]));
    let (_, all) = standalone.admin.call(Method::GET, "/admin/v1/webhooks", None).await;
    assert_eq!(all["webhooks"].as_array().map(Vec::len), Some(2), "the operator's are untouched: {all}");
}
