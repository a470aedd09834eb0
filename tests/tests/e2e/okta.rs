//! Okta, replayed: the requests its SCIM 2.0 client sends (idp-clients.md §2), from "Test
//! Connector Configuration" to group push, checked at the SCIM API and in the directory.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Reply, Standalone, id_of, set_of, sorted};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The headers of Okta's SCIM client (a 2018 capture, §2.7).
const OKTA: [(&str, &str); 4] = [
    ("User-Agent", "Okta SCIM Client 1.0.0"),
    ("Accept", "application/scim+json"),
    ("Accept-Charset", "utf-8"),
    ("Content-Type", "application/scim+json; charset=utf-8"),
];

async fn okta(client: &Client, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let text = body.map(Value::to_string);
    client.send(method, path, &OKTA, text.as_deref()).await
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Okta-Ref20's create body: `password`, `groups: []`, Okta's user id as externalId.
fn okta_user(user_name: &str, given: &str, family: &str, password: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": format!("00u{}", &uuid::Uuid::new_v4().simple().to_string()[..17]),
        "groups": [],
        "password": password,
        "active": true
    })
}

async fn create_user(client: &Client, user_name: &str, given: &str) -> String {
    let reply = okta(client, Method::POST, "/Users", Some(&okta_user(user_name, given, "User", "Pa55word!"))).await;
    id_of(reply.expect(StatusCode::CREATED))
}

/// The existence check Okta runs before it creates a user.
fn existence_check(user_name: &str) -> String {
    let encoded = user_name.replace('@', "%40");
    format!("/Users?filter=userName%20eq%20%22{encoded}%22&startIndex=1&count=100")
}

/// A ListResponse whose counters are JSON integers; returns its resources.
#[track_caller]
fn list_of(list: &Value, total: u64, start_index: u64) -> Vec<Value> {
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]), "{list}");
    assert_eq!(list["totalResults"].as_u64(), Some(total), "totalResults, an integer: {list}");
    assert_eq!(list["startIndex"].as_u64(), Some(start_index), "startIndex, an integer: {list}");
    let resources = list["Resources"].as_array().cloned().unwrap_or_default();
    assert_eq!(list["itemsPerPage"].as_u64(), Some(resources.len() as u64), "itemsPerPage, an integer: {list}");
    resources
}

async fn account_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("accounts", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

async fn team_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("teams", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

/// "Test Connector Configuration" (§2.2) and the required steps of Okta's SPEC test (§2.9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_test_connector() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let reply = okta(client, Method::GET, "/Users?startIndex=1&count=2", None).await;
    assert_eq!(list_of(reply.expect(StatusCode::OK), 0, 1), Vec::<Value>::new());
    let reply = okta(client, Method::GET, "/Groups?startIndex=1&count=100", None).await;
    assert_eq!(list_of(reply.expect(StatusCode::OK), 0, 1), Vec::<Value>::new());

    let mut ids = Vec::new();
    for (name, given) in [("ann@okta.local", "Ann"), ("ben@okta.local", "Ben"), ("cat@okta.local", "Cat")] {
        ids.push(create_user(client, name, given).await);
    }
    let reply = okta(
        client,
        Method::POST,
        "/Groups",
        Some(&json!({"schemas": [CORE_GROUP], "displayName": "Okta", "members": [{"value": ids[0]}]})),
    )
    .await;
    reply.expect(StatusCode::CREATED);

    let reply = okta(client, Method::GET, "/Users?startIndex=1&count=2", None).await;
    let users = list_of(reply.expect(StatusCode::OK), 3, 1);
    assert_eq!(users.len(), 2);
    // What the SPEC test asserts of the first resource (step 1), then reads by id (step 2).
    let first = &users[0];
    for field in ["/id", "/name/familyName", "/name/givenName", "/userName", "/emails/0/value"] {
        assert!(first.pointer(field).and_then(Value::as_str).is_some_and(|v| !v.is_empty()), "{field}: {first}");
    }
    assert!(first["active"].is_boolean(), "{first}");
    let reply = okta(client, Method::GET, &format!("/Users/{}", id_of(first)), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["userName"], first["userName"]);
    let reply = okta(client, Method::GET, "/Users?count=1&startIndex=1", None).await;
    assert_eq!(list_of(reply.expect(StatusCode::OK), 3, 1).len(), 1);
    let reply = okta(client, Method::GET, "/Groups?startIndex=1&count=100", None).await;
    let groups = list_of(reply.expect(StatusCode::OK), 1, 1);
    assert_eq!(groups[0]["displayName"], "Okta");
    assert!(groups[0]["members"].is_array(), "{groups:?}");
    let reply = okta(client, Method::GET, "/Groups", None).await;
    assert_eq!(list_of(reply.expect(StatusCode::OK), 1, 1).len(), 1);

    // Steps 3–5 and 12: unknown users and ids.
    let reply =
        okta(client, Method::GET, &existence_check(&format!("{}@okta.local", uuid::Uuid::new_v4())), None).await;
    list_of(reply.expect(StatusCode::OK), 0, 1);
    okta(client, Method::GET, "/Users/00919288221112222", None).await.expect_error(StatusCode::NOT_FOUND);
    // Step 11: a bad Authorization header is a SCIM 401.
    let response = reqwest::Client::new()
        .get(format!("{}/Users?filter=userName%20eq%20%22ann%40okta.local%22", client.endpoints.scim))
        .header("Authorization", "non-token")
        .header("Accept", "application/scim+json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], "401");
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}

/// A user's life in Okta: existence check, create with password and `groups: []`, 409 on the
/// duplicate, profile push by PUT of the whole object with `id`/`meta` echoed, password sync,
/// deactivation by a path-less `{"active": false}` and by PUT, reactivation. The password is
/// never returned and never stored as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_user_lifecycle() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let password = "1mz050nq";
    let check = existence_check("test.user@okta.local");
    let reply = okta(client, Method::GET, &check, None).await;
    list_of(reply.expect(StatusCode::OK), 0, 1);

    // The SPEC test creates with Content-Type application/json.
    let body = okta_user("test.user@okta.local", "Test", "User", password);
    let external_id = body["externalId"].as_str().unwrap().to_owned();
    let reply =
        client.send(Method::POST, "/Users", &[("Content-Type", "application/json")], Some(&body.to_string())).await;
    let created = reply.expect(StatusCode::CREATED).clone();
    let id = id_of(&created);
    assert!(!reply.text.contains(password), "the password is never returned: {}", reply.text);
    assert!(created.get("password").is_none());
    assert_eq!(created["userName"], "test.user@okta.local");
    assert_eq!(created["name"], json!({"givenName": "Test", "familyName": "User"}));
    assert_eq!(created["emails"], json!([{"primary": true, "value": "test.user@okta.local", "type": "work"}]));
    assert_eq!(created["displayName"], "Test User");
    assert_eq!(created["locale"], "en-US");
    assert_eq!(created["externalId"], external_id.as_str());
    assert_eq!(created["active"], true);
    assert!(sorted(&created["schemas"]).contains(&CORE_USER.to_owned()), "{created}");
    assert_eq!(reply.location.as_deref(), created["meta"]["location"].as_str());

    // Linked by the existence check, whatever the case (SPEC step 9), userName as stored.
    let reply = okta(client, Method::GET, &existence_check("TEST.USER@OKTA.LOCAL"), None).await;
    let found = list_of(reply.expect(StatusCode::OK), 1, 1);
    assert_eq!(
        (found[0]["id"].as_str(), found[0]["userName"].as_str()),
        (Some(id.as_str()), Some("test.user@okta.local"))
    );
    assert!(!reply.text.contains(password));
    let account = account_until(client, &id, "the account", |_| true).await;
    assert_eq!(
        account,
        json!({"id": id, "user_name": "test.user@okta.local", "external_id": external_id, "active": true,
               "email": "test.user@okta.local", "given_name": "Test", "family_name": "User",
               "display_name": "Test User", "roles": [], "teams": [], "permissions": [], "custom_fields": {},
               "scim_user_id": id, "origin": "scim"})
    );

    // The same POST again: 409, which stops Okta's job (SPEC step 8).
    let reply = okta(client, Method::POST, "/Users", Some(&body)).await;
    assert_eq!(reply.expect_error(StatusCode::CONFLICT)["scimType"], "uniqueness");

    // Profile push: GET, then PUT of that object with the change, id, meta, groups and
    // emails[].display echoed back.
    let reply = okta(client, Method::GET, &format!("/Users/{id}"), None).await;
    let mut pushed = reply.expect(StatusCode::OK).clone();
    assert!(!reply.text.contains(password));
    pushed["name"]["givenName"] = json!("Testy");
    pushed["groups"] = json!([]);
    pushed["emails"][0]["display"] = json!("test.user@okta.local");
    pushed["password"] = json!(password);
    let reply = okta(client, Method::PUT, &format!("/Users/{id}"), Some(&pushed)).await;
    let replaced = reply.expect(StatusCode::OK);
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["name"]["givenName"], "Testy");
    assert_eq!(replaced["externalId"], external_id.as_str());
    assert_eq!(replaced["locale"], "en-US", "what was echoed back is kept");
    assert!(!reply.text.contains(password));
    account_until(client, &id, "the pushed given name", |a| a["given_name"] == "Testy").await;

    // Password sync (OIN): a path-less replace.
    let sync = patch(json!([{"op": "replace", "value": {"password": "n3wPa55word"}}]));
    let reply = okta(client, Method::PATCH, &format!("/Users/{id}"), Some(&sync)).await;
    assert_eq!(reply.expect(StatusCode::OK)["id"], id.as_str());
    assert!(!reply.text.contains("n3wPa55word"));

    // Deactivation and reactivation (OIN): a path-less replace of active.
    let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let reply = okta(client, Method::PATCH, &format!("/Users/{id}"), Some(&deactivate)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], false);
    let reply = okta(client, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], false, "Okta never deletes: GET still answers");
    account_until(client, &id, "deactivated", |a| a["active"] == false).await;
    let reactivate = patch(json!([{"op": "replace", "value": {"active": true}}]));
    let reply = okta(client, Method::PATCH, &format!("/Users/{id}"), Some(&reactivate)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], true);
    account_until(client, &id, "reactivated", |a| a["active"] == true).await;
    // AIW apps deactivate with a PUT of the whole object.
    let reply = okta(client, Method::GET, &format!("/Users/{id}"), None).await;
    let mut pushed = reply.expect(StatusCode::OK).clone();
    pushed["active"] = json!(false);
    let reply = okta(client, Method::PUT, &format!("/Users/{id}"), Some(&pushed)).await;
    assert_eq!(reply.expect(StatusCode::OK)["active"], false);
    let account = account_until(client, &id, "deactivated by PUT", |a| a["active"] == false).await;
    assert_eq!(account["given_name"], "Testy");

    let reply = okta(client, Method::GET, "/Users?startIndex=1&count=100", None).await;
    assert!(!reply.expect(StatusCode::OK).to_string().contains(password));
    // Kept at all, the password is hashed: neither password is in the stored files.
    for (path, bytes) in standalone.stored_bytes() {
        for secret in [password, "n3wPa55word"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the password as sent",
                path.display()
            );
        }
    }
}

/// "Push Groups" (OIN, §2.6): existence check by displayName, create with `members: []`, the
/// rename op with `id` that comes with every membership update, removes of members that are not
/// there, adds with `display`, a full push by replace, the AIW PUT of the whole group, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_group_push() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let ann = create_user(client, "ann@okta.local", "Ann").await;
    let ben = create_user(client, "ben@okta.local", "Ben").await;
    let cat = create_user(client, "cat@okta.local", "Cat").await;
    let lookup = "/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100";
    let reply = okta(client, Method::GET, lookup, None).await;
    list_of(reply.expect(StatusCode::OK), 0, 1);

    let body = json!({"schemas": [CORE_GROUP], "displayName": "Test SCIMv2", "members": []});
    let reply = okta(client, Method::POST, "/Groups", Some(&body)).await;
    let created = reply.expect(StatusCode::CREATED);
    let id = id_of(created);
    assert_eq!(created["displayName"], "Test SCIMv2");
    let reply = okta(client, Method::GET, lookup, None).await;
    let found = list_of(reply.expect(StatusCode::OK), 1, 1);
    assert_eq!(found[0]["id"], id.as_str());
    team_until(client, &id, "the pushed group", |t| t["name"] == "Test SCIMv2").await;
    let path = format!("/Groups/{id}");

    // The rename op, with the group's own id in the value.
    let rename = |name: &str| json!({"op": "replace", "value": {"id": id, "displayName": name}});
    let reply = okta(client, Method::PATCH, &path, Some(&patch(json!([rename("Test SCIMv2")])))).await;
    reply.expect(StatusCode::NO_CONTENT);
    let reply = okta(client, Method::PATCH, &path, Some(&patch(json!([rename("Test SCIMv2 renamed")])))).await;
    reply.expect(StatusCode::NO_CONTENT);
    team_until(client, &id, "the renamed team", |t| t["name"] == "Test SCIMv2 renamed").await;

    // A membership update: the rename op, a remove of someone who is not a member, adds with display.
    let update = patch(json!([
        rename("Test SCIMv2 renamed"),
        {"op": "remove", "path": format!("members[value eq \"{cat}\"]")},
        {"op": "add", "path": "members", "value": [
            {"value": ann, "display": "ann@okta.local"}, {"value": ben, "display": "ben@okta.local"}
        ]}
    ]));
    okta(client, Method::PATCH, &path, Some(&update)).await.expect(StatusCode::NO_CONTENT);
    let reply = okta(client, Method::GET, &path, None).await;
    let group = reply.expect(StatusCode::OK);
    assert_eq!(sorted(&group["members"]), set_of(&[&ann, &ben]), "Okta reads members back: {group}");
    assert_eq!(group["displayName"], "Test SCIMv2 renamed");
    team_until(client, &id, "ann and ben", |t| sorted(&t["members"]) == set_of(&[&ann, &ben])).await;
    let update = patch(json!([
        rename("Test SCIMv2 renamed"),
        {"op": "remove", "path": format!("members[value eq \"{ann}\"]")},
        {"op": "remove", "path": format!("members[value eq \"{cat}\"]")}
    ]));
    okta(client, Method::PATCH, &path, Some(&update)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &id, "ben alone", |t| t["members"] == json!([ben])).await;
    account_until(client, &ann, "ann out of the team", |a| a["teams"] == json!([])).await;

    // A full push.
    let push = patch(json!([{"op": "replace", "path": "members", "value": [
        {"value": ann, "display": "ann@okta.local"}, {"value": cat, "display": "cat@okta.local"}
    ]}]));
    okta(client, Method::PATCH, &path, Some(&push)).await.expect(StatusCode::NO_CONTENT);
    team_until(client, &id, "ann and cat", |t| sorted(&t["members"]) == set_of(&[&ann, &cat])).await;

    // AIW apps PUT the whole group, read back with its id and meta, with every member.
    let reply = okta(client, Method::GET, &path, None).await;
    let mut group = reply.expect(StatusCode::OK).clone();
    group["members"] =
        json!([{"value": ben, "display": "ben@okta.local"}, {"value": cat, "display": "cat@okta.local"}]);
    let reply = okta(client, Method::PUT, &path, Some(&group)).await;
    let replaced = reply.expect(StatusCode::OK);
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(sorted(&replaced["members"]), set_of(&[&ben, &cat]));
    team_until(client, &id, "ben and cat", |t| sorted(&t["members"]) == set_of(&[&ben, &cat])).await;

    // "Delete the group in the target app".
    let reply = okta(client, Method::DELETE, &path, None).await;
    reply.expect(StatusCode::NO_CONTENT);
    okta(client, Method::GET, &path, None).await.expect_error(StatusCode::NOT_FOUND);
    client.directory_until("teams", &id, "the team deleted", |status, _| status == StatusCode::NOT_FOUND).await;
    account_until(client, &cat, "cat without teams", |a| a["teams"] == json!([])).await;
}

/// Import (§2.4): pages of `startIndex`/`count` cover every user once, in an order that does not
/// depend on the page size, nor change when users are updated between pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_paging_is_stable() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let mut created = Vec::new();
    for name in ["zed", "amy", "kim", "bob", "yan", "eve", "liz"] {
        created.push(create_user(client, &format!("{name}@okta.local"), name).await);
    }
    let page = |start: u64, count: u64| format!("/Users?startIndex={start}&count={count}");
    async fn ids(client: &Client, path: &str, start: u64) -> Vec<String> {
        let reply = okta(client, Method::GET, path, None).await;
        list_of(reply.expect(StatusCode::OK), 7, start).iter().map(id_of).collect()
    }

    let mut paged = Vec::new();
    for start in [1, 4, 7] {
        paged.extend(ids(client, &page(start, 3), start).await);
    }
    assert_eq!(paged.len(), 7, "{paged:?}");
    let mut unique = paged.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, set_of(&created.iter().map(String::as_str).collect::<Vec<_>>()), "every user exactly once");
    assert_eq!(ids(client, &page(1, 7), 1).await, paged, "the order does not depend on count");
    let mut by_two = Vec::new();
    for start in [1, 3, 5, 7] {
        by_two.extend(ids(client, &page(start, 2), start).await);
    }
    assert_eq!(by_two, paged);

    // Updates between two pages do not reorder.
    for id in [&paged[0], &paged[3]] {
        let reply = okta(client, Method::GET, &format!("/Users/{id}"), None).await;
        let mut user = reply.expect(StatusCode::OK).clone();
        user["name"]["givenName"] = json!("Updated");
        okta(client, Method::PUT, &format!("/Users/{id}"), Some(&user)).await.expect(StatusCode::OK);
    }
    let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
    okta(client, Method::PATCH, &format!("/Users/{}", paged[1]), Some(&deactivate)).await.expect(StatusCode::OK);
    assert_eq!(ids(client, &page(1, 7), 1).await, paged, "updates do not reorder");

    // Past the end: an empty page with the total; without startIndex and count: everything.
    let reply = okta(client, Method::GET, &page(101, 100), None).await;
    assert_eq!(list_of(reply.expect(StatusCode::OK), 7, 101), Vec::<Value>::new());
    let reply = okta(client, Method::GET, "/Users", None).await;
    assert_eq!(list_of(reply.expect(StatusCode::OK), 7, 1).iter().map(id_of).collect::<Vec<_>>(), paged);
}
