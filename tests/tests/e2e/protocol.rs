//! SCIM protocol features over HTTP, on standalone (the same gateway and core code as the
//! three services): sorting, RFC 9865 cursors, POST searches, ETags, /Me.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Standalone};

async fn create_users(client: &Client, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let body = json!({"userName": name, "name": {"familyName": name.to_uppercase()}, "emails": [{"value": format!("{name}@x.example")}]});
        let (status, created) = client.scim(Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn user_names(list: &Value) -> Vec<String> {
    list["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorting_cursors_and_searches() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    create_users(client, &["carol", "alice", "erin", "bob", "dave"]).await;

    let (status, sorted) = client.scim(Method::GET, "/Users?sortBy=name.familyName&sortOrder=descending", None).await;
    assert_eq!(status, StatusCode::OK, "{sorted}");
    assert_eq!(user_names(&sorted), ["erin", "dave", "carol", "bob", "alice"]);
    let (_, sorted) = client.scim(Method::GET, "/Users?sortBy=emails&startIndex=2&count=2", None).await;
    assert_eq!(user_names(&sorted), ["bob", "carol"]);
    assert_eq!(sorted["startIndex"], 2);
    let (status, error) = client.scim(Method::GET, "/Users?sortBy=userName&sortOrder=sideways", None).await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));

    // Cursor paging: every user once, in order, and no nextCursor on the last page.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (status, page) =
            client.scim(Method::GET, &format!("/Users?sortBy=userName&count=2&cursor={cursor}"), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.get("startIndex").is_none());
        assert_eq!(page["totalResults"], 5);
        seen.extend(user_names(&page));
        pages += 1;
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "cursor paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["alice", "bob", "carol", "dave", "erin"]);
    // A tampered cursor, and a cursor used with another query, are refused.
    let (_, first) = client.scim(Method::GET, "/Users?sortBy=userName&count=2&cursor=", None).await;
    let next = first["nextCursor"].as_str().unwrap().to_owned();
    let mut tampered = next.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for query in [format!("sortBy=userName&count=2&cursor={tampered}"), format!("count=2&cursor={next}")] {
        let (status, error) = client.scim(Method::GET, &format!("/Users?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error["scimType"], "invalidCursor");
    }

    // POST searches.
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"d\" or userName eq \"BOB\"",
        "attributes": ["userName"],
        "sortBy": "userName"
    });
    let (status, found) = client.scim(Method::POST, "/Users/.search", Some(request)).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(user_names(&found), ["bob", "dave"]);
    assert!(found["Resources"][0].get("emails").is_none(), "attributes projects the results");
    let (status, group) = client.scim(Method::POST, "/Groups", Some(json!({"displayName": "dwellers"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let (status, everything) =
        client.scim(Method::POST, "/.search", Some(json!({"filter": "meta.created pr", "count": 10}))).await;
    assert_eq!(status, StatusCode::OK, "{everything}");
    assert_eq!(everything["totalResults"], 6);
    assert_eq!(everything["Resources"][5]["displayName"], "dwellers");
    let (status, error) =
        client.scim(Method::POST, "/.search", Some(json!({"filter": "noSuchAttribute eq \"x\""}))).await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")), "{error}");
    let (_, users_only) = client.scim(Method::POST, "/.search", Some(json!({"filter": "userName sw \"a\""}))).await;
    assert_eq!(users_only["totalResults"], 1, "a filter on User attributes matches no Group: {users_only}");

    // /Me is not implemented, in SCIM's words.
    let (status, error) = client.scim(Method::GET, "/Me", None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(error["status"], "501");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_with_forward_references_and_limits() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "team",
             "data": {"displayName": "Bulk team", "members": [{"value": "bulkId:ann"}, {"value": "bulkId:ben"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "ann", "data": {"userName": "ann@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "ben", "data": {"userName": "ben@example.com"}},
            {"method": "PATCH", "path": "/Users/bulkId:ben",
             "data": {"Operations": [{"op": "replace", "path": "active", "value": false}]}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "ANN@example.com"}},
            {"method": "POST", "path": "/Groups", "bulkId": "loop1", "data": {"displayName": "L1", "members": [{"value": "bulkId:loop2"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "loop2", "data": {"displayName": "L2", "members": [{"value": "bulkId:loop1"}]}}
        ]
    });
    let (status, response) = client.scim(Method::POST, "/Bulk", Some(request)).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:BulkResponse");
    let outcome = |bulk_id: &str| {
        response["Operations"].as_array().unwrap().iter().find(|o| o["bulkId"] == bulk_id).cloned().unwrap()
    };
    assert_eq!(outcome("ann")["status"], "201");
    assert_eq!(outcome("team")["status"], "201", "{response}");
    assert_eq!(outcome("dup")["status"], "409");
    assert_eq!(outcome("dup")["response"]["scimType"], "uniqueness");
    assert_eq!(outcome("loop1")["status"], "409");
    let team_location = outcome("team")["location"].as_str().unwrap().to_owned();
    let team_id = team_location.rsplit('/').next().unwrap();
    let (_, team) = client.scim(Method::GET, &format!("/Groups/{team_id}"), None).await;
    assert_eq!(team["members"].as_array().map(Vec::len), Some(2), "{team}");
    let ben_id = outcome("ben")["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (_, ben) = client.scim(Method::GET, &format!("/Users/{ben_id}"), None).await;
    assert_eq!(ben["active"], false);

    // failOnErrors stops after the first failure.
    let request = json!({"failOnErrors": 1, "Operations": [
        {"method": "DELETE", "path": "/Users/no-such-user"},
        {"method": "POST", "path": "/Users", "bulkId": "never", "data": {"userName": "never@example.com"}}
    ]});
    let (_, response) = client.scim(Method::POST, "/Bulk", Some(request)).await;
    assert_eq!(response["Operations"].as_array().map(Vec::len), Some(1), "{response}");
    assert_eq!(response["Operations"][0]["status"], "404");

    // maxOperations, as advertised, answers 413.
    let (_, config) = client.scim(Method::GET, "/ServiceProviderConfig", None).await;
    let max = config["bulk"]["maxOperations"].as_u64().unwrap();
    assert!(config["bulk"]["supported"].as_bool().unwrap());
    let too_many: Vec<Value> = (0..=max).map(|_| json!({"method": "DELETE", "path": "/Users/x"})).collect();
    let (status, error) = client.scim(Method::POST, "/Bulk", Some(json!({"Operations": too_many}))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["status"], "413");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_tells_what_the_server_does() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let (status, config) = client.scim(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    assert_eq!(config["filter"]["maxResults"], 1000);
    assert_eq!(config["sort"]["supported"], true);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["changePassword"]["supported"], false);
    assert_eq!(config["pagination"]["cursor"], true);

    let (_, types) = client.scim(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 2);
    let (status, user_type) = client.scim(Method::GET, "/ResourceTypes/User", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user_type["endpoint"], "/Users");
    let (_, schemas) = client.scim(Method::GET, "/Schemas", None).await;
    assert_eq!(schemas["totalResults"], 3);
    let (status, user_schema) =
        client.scim(Method::GET, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", None).await;
    assert_eq!(status, StatusCode::OK);
    let user_name = user_schema["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);

    let (status, error) = client.scim(Method::GET, "/Schemas/urn:nope", None).await;
    assert_eq!((status, error["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));
    let (status, _) = client.scim(Method::POST, "/Schemas", Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = client.scim(Method::DELETE, "/ServiceProviderConfig", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = client.scim(Method::GET, "/Schemas?filter=id+eq+%22x%22", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, error) = client.scim(Method::GET, "/Nothing/here", None).await;
    assert_eq!((status, error["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));
}

/// A tenant declares a custom extension (with `admin schemas declare`, over the admin API): its
/// types are validated on write, its immutable attribute kept, its attributes filtered with
/// their type, and discovery lists it for that tenant. The admin API lists and removes
/// extensions, and refuses to remove one that users still hold attributes of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_extension_drives_validation_filters_and_discovery() {
    let cluster = crate::support::Cluster::start().await;
    let client = &cluster.client;
    let urn = "urn:example:params:scim:schemas:extension:badge:2.0:User";
    let schema = json!({
        "id": urn, "name": "Badge", "description": "Door badges",
        "attributes": [
            {"name": "number", "type": "integer", "mutability": "immutable"},
            {"name": "level", "type": "integer"},
            {"name": "issued", "type": "dateTime"}
        ]
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), schema.to_string()).unwrap();
    let admin_cli = |args: &[&str]| {
        std::process::Command::new(crate::support::binary("provisioning-core"))
            .arg("admin")
            .args(args)
            .env_clear()
            .env("ADMIN_URL", &cluster.admin.url)
            .env("ADMIN_TOKEN", &cluster.admin.token)
            .output()
            .unwrap()
    };
    let output = admin_cli(&["schemas", "declare", "acme", "User", file.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let declared: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((declared["id"].as_str(), declared["resource_type"].as_str()), (Some(urn), Some("User")), "{declared}");
    let old = std::process::Command::new(crate::support::binary("provisioning-core"))
        .args(["declare-schema", "acme", "User", file.path().to_str().unwrap()])
        .env_clear()
        .env("DATABASE_URL", &cluster.core_database.url)
        .output()
        .unwrap();
    assert!(!old.status.success());
    assert!(String::from_utf8_lossy(&old.stderr).contains("admin schemas declare"), "the old command says the new one");

    let badge = |number: Value, level: i64| json!({"number": number, "level": level, "issued": "2026-01-02T03:04:05Z"});
    let (status, low) = client
        .scim(Method::POST, "/Users", Some(json!({"userName": "low@example.com", urn: badge(json!(7), 1)})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{low}");
    let (status, _) = client
        .scim(Method::POST, "/Users", Some(json!({"userName": "high@example.com", urn: badge(json!(8), 5)})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = client
        .scim(Method::POST, "/Users", Some(json!({"userName": "bad@example.com", urn: badge(json!("seven"), 1)})))
        .await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{error}");

    let (_, found) = client.scim(Method::GET, &format!("/Users?filter={urn}:level+gt+2"), None).await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["userName"], "high@example.com");

    let id = low["id"].as_str().unwrap();
    let (status, error) = client
        .scim(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"userName": "low@example.com", urn: badge(json!(9), 1)})),
        )
        .await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("mutability")), "{error}");

    let (_, schemas) = client.scim(Method::GET, "/Schemas", None).await;
    assert!(schemas["Resources"].as_array().unwrap().iter().any(|s| s["id"] == urn), "{schemas}");
    let (_, user_type) = client.scim(Method::GET, "/ResourceTypes/User", None).await;
    assert!(user_type["schemaExtensions"].as_array().unwrap().iter().any(|e| e["schema"] == urn), "{user_type}");
    let anonymous: Value =
        reqwest::get(format!("{}/Schemas", client.endpoints.scim)).await.unwrap().json().await.unwrap();
    assert_eq!(anonymous["totalResults"], 3, "without a token, only the RFC schemas");

    // Listed, shown and removed through the admin API.
    let admin = &cluster.admin;
    let room = "urn:example:params:scim:schemas:extension:room_1:2.0:Group";
    let definition = json!({"id": room, "name": "Room", "attributes": [{"name": "floor", "type": "integer"}]});
    let declare = |tenant: &'static str, resource_type: &'static str, definition: Value| async move {
        let body = json!({"resource_type": resource_type, "definition": definition});
        admin.call(Method::POST, &format!("/admin/v1/tenants/{tenant}/schemas"), Some(body)).await
    };
    let (status, body) = declare("acme", "Group", definition.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = declare("acme", "Group", definition.clone()).await;
    assert_eq!(status, StatusCode::OK, "a redeclaration replaces");
    let (status, error) = declare("acme", "Group", json!({"id": "urn:ietf:params:scim:schemas:core:2.0:Group"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a built-in schema is not redeclared: {error}");
    let (status, error) = declare("nobody", "User", definition).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let (_, listed) = admin.call(Method::GET, "/admin/v1/tenants/acme/schemas", None).await;
    let ids: Vec<&str> = listed["schemas"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [urn, room], "{listed}");
    let (_, shown) = admin.call(Method::GET, &format!("/admin/v1/tenants/acme/schemas/{room}"), None).await;
    assert_eq!(shown["definition"]["attributes"][0]["name"], "floor", "{shown}");

    let (status, error) = admin.call(Method::DELETE, &format!("/admin/v1/tenants/acme/schemas/{urn}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "two users hold badge attributes: {error}");
    assert!(error["detail"].as_str().unwrap().starts_with("2 User(s)"), "{error}");
    let output = admin_cli(&["schemas", "remove", "acme", room]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (status, _) = admin.call(Method::DELETE, &format!("/admin/v1/tenants/acme/schemas/{room}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already removed");
    let (_, schemas) = client.scim(Method::GET, "/Schemas", None).await;
    let ids: Vec<&str> = schemas["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&urn) && !ids.contains(&room), "discovery follows the removal: {ids:?}");
    let (_, audit) = admin.call(Method::GET, "/admin/v1/audit?tenant=acme", None).await;
    let audited = audit["entries"].as_array().unwrap();
    assert!(
        audited
            .iter()
            .any(|e| e["method"] == "DELETE" && e["path"].as_str().unwrap().contains("room_1") && e["status"] == 204),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_count_zero_and_limits() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", client.endpoints.scim);
    let token = client.endpoints.token.clone();

    let (_, user) = client.scim(Method::POST, "/Users", Some(json!({"userName": "etag@example.com"}))).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let etag = user["meta"]["version"].as_str().unwrap().to_owned();
    assert_eq!(etag, "W/\"1\"");

    let response =
        http.get(url(&format!("/Users/{id}"))).bearer_auth(&token).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = http.get(url(&format!("/Users/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.headers()["etag"], etag.as_str());

    let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let stale = http
        .patch(url(&format!("/Users/{id}")))
        .bearer_auth(&token)
        .header("If-Match", "W/\"7\"")
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["status"], "412");
    let fresh = http
        .patch(url(&format!("/Users/{id}")))
        .bearer_auth(&token)
        .header("If-Match", &etag)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(fresh.headers()["etag"], "W/\"2\"");

    // RFC 7232 §3.1: an If-Match that names no current version is 412, whatever its form; `*`
    // and a list naming the current one go ahead.
    let with_if_match = |value: &str, title: &str| {
        let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": title}]});
        http.patch(url(&format!("/Users/{id}"))).bearer_auth(&token).header("If-Match", value).json(&patch).send()
    };
    for value in ["W/\"abc\"", "\"abc\", W/\"1\"", "not-an-etag", "W/\"2"] {
        let refused = with_if_match(value, "refused").await.unwrap();
        assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED, "If-Match {value}");
    }
    let listed = with_if_match("W/\"9\", W/\"2\"", "y").await.unwrap();
    assert_eq!((listed.status(), &listed.headers()["etag"]), (StatusCode::OK, &"W/\"3\"".parse().unwrap()));
    let any = with_if_match("*", "z").await.unwrap();
    assert_eq!((any.status(), &any.headers()["etag"]), (StatusCode::OK, &"W/\"4\"".parse().unwrap()));
    let missing = http
        .delete(url("/Users/00000000-0000-0000-0000-000000000000"))
        .bearer_auth(&token)
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "`*` matches only an existing resource");
    let listed_none_match = http
        .get(url(&format!("/Users/{id}")))
        .bearer_auth(&token)
        .header("If-None-Match", "W/\"1\", W/\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(listed_none_match.status(), StatusCode::NOT_MODIFIED);

    // count=0: the total, no resources.
    let (_, counted) = client.scim(Method::GET, "/Users?count=0", None).await;
    assert_eq!(counted["totalResults"], 1);
    assert_eq!(counted["itemsPerPage"], 0);
    assert_eq!(counted["Resources"], json!([]));

    // Limits answer in SCIM's words, and the service stays up.
    let too_many: Vec<Value> =
        (0..=1000).map(|i| json!({"op": "add", "path": "nickName", "value": i.to_string()})).collect();
    let (status, error) =
        client.scim(Method::PATCH, &format!("/Users/{id}"), Some(json!({"Operations": too_many}))).await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{error}");
    let huge = "x".repeat(5 * 1024 * 1024);
    let (status, error) =
        client.scim(Method::POST, "/Users", Some(json!({"userName": "big@example.com", "title": huge}))).await;
    assert_eq!((status, error["status"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("413")));
    let long_filter = format!("userName eq \"{}\"", "y".repeat(5000));
    let (status, error) = client.scim(Method::GET, &format!("/Users?filter={long_filter}"), None).await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")));
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(100), ")".repeat(100));
    let (status, error) = client.scim(Method::GET, &format!("/Users?filter={deep}"), None).await;
    assert_eq!((status, error["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")));
    let (status, _) = client.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

/// A tenant over its rate limit gets 429 with `Retry-After` and a SCIM error, then is served
/// again once its bucket refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_rate_limit_gets_429() {
    let standalone =
        Standalone::start_with(vec![("RATE_LIMIT_PER_SECOND", "2".to_owned()), ("RATE_LIMIT_BURST", "3".to_owned())])
            .await;
    let http = reqwest::Client::new();
    let url = format!("{}/Users?count=1", standalone.client.endpoints.scim);
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..10 {
        let response = http.get(&url).bearer_auth(&standalone.client.endpoints.token).send().await.unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS && limited.is_none() {
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            limited = Some((retry_after, body));
        }
    }
    assert!(statuses[..3].iter().all(|s| *s == StatusCode::OK), "the burst is served: {statuses:?}");
    let (retry_after, body) = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert!(retry_after.is_some_and(|v| v.parse::<u32>().is_ok()));
    assert_eq!(body["status"], "429");
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    crate::support::eventually("the bucket to refill", || async {
        let response = http.get(&url).bearer_auth(&standalone.client.endpoints.token).send().await.ok()?;
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
}
