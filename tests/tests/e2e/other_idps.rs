//! The quirks of OneLogin, Google Workspace, JumpCloud, Ping and Rippling (idp-clients.md §3)
//! that do not contradict what Entra and Okta need, replayed and checked at the SCIM API and in
//! the directory.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Reply, Standalone, id_of, set_of, sorted};

async fn send(client: &Client, headers: &[(&str, &str)], method: Method, path: &str, body: Option<&Value>) -> Reply {
    let text = body.map(Value::to_string);
    client.send(method, path, headers, text.as_deref()).await
}

async fn account_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("accounts", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

async fn team_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("teams", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

/// OneLogin: an admin-edited template (even with `urn:scim:schemas:core:1.0`), lookups with a
/// trailing `&`, PUT with its non-standard URNs, group membership by lowercase PATCH, an empty
/// User-Agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onelogin_templates_and_lookups() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let headers = [("User-Agent", ""), ("Content-Type", "application/scim+json")];
    let lookup = "/Users?filter=userName+eq+%22kate%40onelogin.example%22&";
    let reply = send(client, &headers, Method::GET, lookup, None).await;
    assert_eq!(reply.expect(StatusCode::OK)["totalResults"], 0);

    let body = json!({
        "schemas": ["urn:scim:schemas:core:1.0"],
        "userName": "kate@onelogin.example",
        "externalId": "48293021",
        "name": {"givenName": "Kate", "familyName": "Bell"},
        "emails": [{"value": "kate@onelogin.example", "primary": true}],
        "title": "Buyer"
    });
    let reply = send(client, &headers, Method::POST, "/Users", Some(&body)).await;
    let id = id_of(reply.expect(StatusCode::CREATED));
    let reply = send(client, &headers, Method::GET, lookup, None).await;
    let list = reply.expect(StatusCode::OK);
    assert_eq!((list["totalResults"].clone(), list["Resources"][0]["id"].clone()), (json!(1), json!(id)), "{list}");

    let body = json!({
        "schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
        "userName": "kate@onelogin.example",
        "externalId": "48293021",
        "name": {"givenName": "Katherine", "familyName": "Bell"},
        "emails": [{"value": "kate@onelogin.example", "primary": true}],
        "title": "Head Buyer",
        "active": true
    });
    let reply = send(client, &headers, Method::PUT, &format!("/Users/{id}"), Some(&body)).await;
    let user = reply.expect(StatusCode::OK);
    assert_eq!((user["name"]["givenName"].as_str(), user["title"].as_str()), (Some("Katherine"), Some("Head Buyer")));
    let account = account_until(client, &id, "Katherine", |a| a["given_name"] == "Katherine").await;
    assert_eq!(account["email"], "kate@onelogin.example");
    assert_eq!(account["external_id"], "48293021");

    let other = send(
        client,
        &headers,
        Method::POST,
        "/Users",
        Some(&json!({"schemas": ["urn:scim:schemas:core:1.0"], "userName": "lou@onelogin.example"})),
    )
    .await;
    let other = id_of(other.expect(StatusCode::CREATED));
    let group = send(client, &headers, Method::POST, "/Groups", Some(&json!({"displayName": "Buyers"}))).await;
    let group = id_of(group.expect(StatusCode::CREATED));
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": id}, {"value": other}]}
    ]});
    send(client, &headers, Method::PATCH, &format!("/Groups/{group}"), Some(&add)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &group, "two buyers", |t| sorted(&t["members"]) == set_of(&[&id, &other])).await;
    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "remove", "path": format!("members[value eq \"{other}\"]")}
    ]});
    send(client, &headers, Method::PATCH, &format!("/Groups/{group}"), Some(&remove))
        .await
        .expect(StatusCode::NO_CONTENT);
    team_until(client, &group, "one buyer", |t| t["members"] == json!([id])).await;
}

/// Google Workspace auto-provisioning: `Content-Type: application/json` (not configurable), its
/// User-Agent, a plain `GET /Users` first, a create body mixing SCIM 1.0 and 2.0 URNs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_workspace_json_and_mixed_urns() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let headers = [
        ("User-Agent", "Google-Auto-Provisioning"),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    let reply = send(client, &headers, Method::GET, "/Users", None).await;
    let list = reply.expect(StatusCode::OK);
    assert_eq!(list["totalResults"], 0, "{list}");

    let body = json!({
        "schemas": ["urn:scim:schemas:core:1.0", "urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "gus@gworkspace.example",
        "externalId": "105370284583931627481",
        "name": {"givenName": "Gus", "familyName": "Grant"},
        "emails": [{"value": "gus@gworkspace.example", "type": "work", "primary": true}],
        "active": true
    });
    let reply = send(client, &headers, Method::POST, "/Users", Some(&body)).await;
    let created = reply.expect(StatusCode::CREATED);
    let id = id_of(created);
    assert_eq!(created["userName"], "gus@gworkspace.example");
    let reply = send(client, &headers, Method::GET, "/Users", None).await;
    assert_eq!(reply.expect(StatusCode::OK)["Resources"][0]["id"], id.as_str());
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let reply = send(client, &headers, Method::PATCH, &format!("/Users/{id}"), Some(&deactivate)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], false);
    let account = account_until(client, &id, "Gus, deactivated", |a| a["active"] == false).await;
    assert_eq!(
        (account["given_name"].as_str(), account["email"].as_str()),
        (Some("Gus"), Some("gus@gworkspace.example"))
    );
    assert_eq!(account["external_id"], "105370284583931627481");
}

/// JumpCloud's activation: a test user and a test group are created, then DELETEd; member
/// removal in Entra's form (`path: "members"` with a value list), lowercase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jumpcloud_activation_test_objects() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let headers = [("Content-Type", "application/scim+json")];
    let user = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
               "name": {"givenName": "Jump", "familyName": "Cloud"},
               "emails": [{"value": name, "type": "work", "primary": true}], "active": true})
    };
    let test_user = send(client, &headers, Method::POST, "/Users", Some(&user("scim-test@verified.example"))).await;
    let test_user = id_of(test_user.expect(StatusCode::CREATED));
    let second = send(client, &headers, Method::POST, "/Users", Some(&user("scim-test2@verified.example"))).await;
    let second = id_of(second.expect(StatusCode::CREATED));
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                       "displayName": "JumpCloud test group",
                       "members": [{"value": test_user}, {"value": second}]});
    let group = send(client, &headers, Method::POST, "/Groups", Some(&group)).await;
    let group = id_of(group.expect(StatusCode::CREATED));
    team_until(client, &group, "the test team", |t| sorted(&t["members"]).len() == 2).await;

    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "remove", "path": "members", "value": [{"value": second}]}
    ]});
    send(client, &headers, Method::PATCH, &format!("/Groups/{group}"), Some(&remove))
        .await
        .expect(StatusCode::NO_CONTENT);
    team_until(client, &group, "only the test user", |t| t["members"] == json!([test_user])).await;

    for path in [format!("/Groups/{group}"), format!("/Users/{test_user}"), format!("/Users/{second}")] {
        let reply = send(client, &headers, Method::DELETE, &path, None).await;
        reply.expect(StatusCode::NO_CONTENT);
        send(client, &headers, Method::GET, &path, None).await.expect_error(StatusCode::NOT_FOUND);
    }
    client.directory_until("teams", &group, "the test team deleted", |status, _| status == StatusCode::NOT_FOUND).await;
    client
        .directory_until("accounts", &test_user, "the test user deleted", |status, _| status == StatusCode::NOT_FOUND)
        .await;
}

/// Ping (PingFederate / PingOne): no PATCH, every update a PUT; multi-valued attributes with
/// one value per type, whose `type` and `primary` must come back; groups with only displayName
/// and members; non-ASCII group names in filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_put_only_and_typed_values() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let headers = [("Content-Type", "application/scim+json")];
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "pia@ping.example",
        "externalId": "pia",
        "name": {"givenName": "Pia", "familyName": "Ping"},
        "emails": [
            {"value": "pia@ping.example", "type": "work", "primary": true},
            {"value": "pia@home.example", "type": "home", "primary": false}
        ],
        "phoneNumbers": [
            {"value": "555-0100", "type": "work", "primary": true},
            {"value": "555-0101", "type": "mobile", "primary": false}
        ],
        "active": true
    });
    let reply = send(client, &headers, Method::POST, "/Users", Some(&body)).await;
    let created = reply.expect(StatusCode::CREATED);
    let id = id_of(created);
    assert_eq!(created["emails"], body["emails"], "type and primary come back");
    assert_eq!(created["phoneNumbers"], body["phoneNumbers"]);

    body["emails"][1]["value"] = json!("pia@new-home.example");
    body["phoneNumbers"][1]["value"] = json!("555-0199");
    let reply = send(client, &headers, Method::PUT, &format!("/Users/{id}"), Some(&body)).await;
    let replaced = reply.expect(StatusCode::OK);
    assert_eq!(replaced["emails"], body["emails"]);
    assert_eq!(replaced["phoneNumbers"], body["phoneNumbers"]);
    let reply = send(client, &headers, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["emails"], body["emails"]);
    account_until(client, &id, "the work email", |a| a["email"] == "pia@ping.example").await;

    // Deactivation is a PUT too.
    body["active"] = json!(false);
    let reply = send(client, &headers, Method::PUT, &format!("/Users/{id}"), Some(&body)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], false);
    account_until(client, &id, "deactivated by PUT", |a| a["active"] == false).await;

    let group = json!({"displayName": "Équipe Zürich", "members": [{"value": id}]});
    let reply = send(client, &headers, Method::POST, "/Groups", Some(&group)).await;
    let group_id = id_of(reply.expect(StatusCode::CREATED));
    let query = "/Groups?filter=displayName%20eq%20%22%C3%89quipe%20Z%C3%BCrich%22";
    let reply = send(client, &headers, Method::GET, query, None).await;
    let list = reply.expect(StatusCode::OK);
    assert_eq!((list["totalResults"].clone(), list["Resources"][0]["id"].clone()), (json!(1), json!(group_id)));
    let group = json!({"displayName": "Équipe Zürich", "members": []});
    let reply = send(client, &headers, Method::PUT, &format!("/Groups/{group_id}"), Some(&group)).await;
    assert_eq!(reply.expect(StatusCode::OK)["displayName"], "Équipe Zürich");
    let team = team_until(client, &group_id, "the emptied team", |t| t["members"] == json!([])).await;
    assert_eq!(team["name"], "Équipe Zürich");
}

/// Rippling probes `/ServiceProviderConfig` on Test Connection, and clients such as authentik
/// use PATCH only when it is advertised; Rippling then sends only the attributes the admin
/// ticked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rippling_capability_probe_and_sparse_users() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let headers = [("Accept", "application/json"), ("Content-Type", "application/json")];
    let reply = send(client, &headers, Method::GET, "/ServiceProviderConfig", None).await;
    let config = reply.expect(StatusCode::OK);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    assert!(config["filter"]["maxResults"].is_u64(), "{config}");

    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "rita@rippling.example",
        "externalId": "rippling-1",
        "name": {"givenName": "Rita", "familyName": "Ripple"},
        "emails": [{"primary": true, "value": "rita@rippling.example"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E-7"}
    });
    let reply = send(client, &headers, Method::POST, "/Users", Some(&body)).await;
    let created = reply.expect(StatusCode::CREATED);
    let id = id_of(created);
    assert_eq!(created["active"], true, "active defaults to true when not sent");
    let account = account_until(client, &id, "Rita", |_| true).await;
    assert_eq!(
        (account["email"].as_str(), account["active"].as_bool(), account["external_id"].as_str()),
        (Some("rita@rippling.example"), Some(true), Some("rippling-1"))
    );
}
