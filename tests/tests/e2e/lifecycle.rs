//! The provisioning lifecycle an IdP drives, checked at the SCIM API and in the directory:
//! create → account appears; deactivate → inactive; group of two → team of two; member
//! removed → one; user deleted → gone from the team and the directory. The same scenario runs
//! against the three services on PostgreSQL + Kafka and against standalone.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Client, Cluster, Standalone};

fn user(user_name: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{given}"),
        "active": true,
        "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
        "emails": [
            {"type": "home", "value": format!("{given}@home.example")},
            {"type": "work", "value": format!("{given}@work.example"), "primary": true}
        ],
        "roles": [{"value": "Reader"}]
    })
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn provisioning_lifecycle(client: &Client) {
    // Entra's Test Connection: a filter on a user that does not exist → 200, empty list.
    let (status, body) =
        client.scim(Method::GET, "/Users?filter=userName+eq+%227d420df3-9995-4831-a406-ecf8166f5f6a%22", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));

    // Create two users.
    let (status, alice) =
        client.scim(Method::POST, "/Users", Some(user("Alice@Example.com", "alice", "Liddell"))).await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    let alice_id = alice["id"].as_str().expect("id").to_owned();
    assert_eq!(alice["meta"]["version"], "W/\"1\"");
    assert!(alice["meta"]["location"].as_str().unwrap().ends_with(&format!("/Users/{alice_id}")));
    let (status, bob) = client.scim(Method::POST, "/Users", Some(user("bob@example.com", "bob", "Builder"))).await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let bob_id = bob["id"].as_str().expect("id").to_owned();

    // userName is unique case-insensitively.
    let (status, error) = client.scim(Method::POST, "/Users", Some(user("alice@example.COM", "x", "y"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["scimType"], "uniqueness");
    assert_eq!(error["status"], "409");

    // Both lookups an IdP matches with.
    let (_, found) = client.scim(Method::GET, "/Users?filter=userName%20eq%20%22alice@example.com%22", None).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], alice_id.as_str());
    let (_, found) = client.scim(Method::GET, "/Users?filter=externalId+eq+%22ext-bob%22", None).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], bob_id.as_str());

    // The account appears in the directory, mapped.
    let account =
        client.directory_until("accounts", &alice_id, "alice's account", |status, _| status == StatusCode::OK).await;
    assert_eq!(account["user_name"], "Alice@Example.com");
    assert_eq!(account["email"], "alice@work.example");
    assert_eq!(account["given_name"], "alice");
    assert_eq!(account["family_name"], "Liddell");
    assert_eq!(account["external_id"], "ext-alice");
    assert_eq!(account["roles"], json!(["Reader"]));
    assert_eq!(account["active"], true);

    // Entra deactivates with a capitalized op and a string boolean.
    let (status, patched) = client
        .scim(
            Method::PATCH,
            &format!("/Users/{alice_id}"),
            Some(patch(json!([{"op": "Replace", "path": "active", "value": "False"}]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    // A deactivated user still answers GET.
    let (status, fetched) = client.scim(Method::GET, &format!("/Users/{alice_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["active"], false);
    client
        .directory_until("accounts", &alice_id, "alice deactivated", |status, body| {
            status == StatusCode::OK && body["active"] == false
        })
        .await;

    // A path-less replace (Okta's and aadOptscim062020's form) of names.
    let (status, renamed) = client
        .scim(
            Method::PATCH,
            &format!("/Users/{bob_id}"),
            Some(patch(
                json!([{"op": "replace", "value": {"name.givenName": "Robert", "displayName": "Robert Builder"}}]),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"]["givenName"], "Robert");
    client
        .directory_until("accounts", &bob_id, "bob renamed", |_, body| {
            body["given_name"] == "Robert" && body["display_name"] == "Robert Builder"
        })
        .await;

    // A group with both users → a team of two.
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "externalId": "grp-eng",
        "members": [{"value": alice_id}, {"value": bob_id}]
    });
    let (status, created) = client.scim(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let group_id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["members"].as_array().map(Vec::len), Some(2));
    let team = client
        .directory_until("teams", &group_id, "a team of two", |status, body| {
            status == StatusCode::OK && body["members"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    assert_eq!(team["name"], "Engineering");
    let (_, with_teams) = client.directory("accounts", &bob_id).await;
    assert_eq!(with_teams["teams"], json!([group_id]));

    // Entra's group lookup without members.
    let (_, groups) = client
        .scim(Method::GET, "/Groups?excludedAttributes=members&filter=displayName+eq+%22engineering%22", None)
        .await;
    assert_eq!(groups["totalResults"], 1);
    assert!(groups["Resources"][0].get("members").is_none());

    // Entra's default member removal: only the listed member goes.
    let (status, _) = client
        .scim(
            Method::PATCH,
            &format!("/Groups/{group_id}"),
            Some(patch(json!([{"op": "Remove", "path": "members", "value": [{"value": bob_id}]}]))),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let team = client
        .directory_until("teams", &group_id, "a team of one", |_, body| {
            body["members"].as_array().map(Vec::len) == Some(1)
        })
        .await;
    assert_eq!(team["members"], json!([alice_id]));

    // Deleting a user: gone from the team and from the directory.
    let (status, _) = client.scim(Method::DELETE, &format!("/Users/{alice_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = client.scim(Method::GET, &format!("/Users/{alice_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["status"], "404");
    client.directory_until("accounts", &alice_id, "alice gone", |status, _| status == StatusCode::NOT_FOUND).await;
    client.directory_until("teams", &group_id, "an empty team", |_, body| body["members"] == json!([])).await;
    let (_, group) = client.scim(Method::GET, &format!("/Groups/{group_id}"), None).await;
    assert!(group.get("members").is_none(), "{group}");

    // The group is deleted too.
    let (status, _) = client.scim(Method::DELETE, &format!("/Groups/{group_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    client.directory_until("teams", &group_id, "team gone", |status, _| status == StatusCode::NOT_FOUND).await;

    // Errors are SCIM errors: a bad filter, a bad token.
    let (status, error) = client.scim(Method::GET, "/Users?filter=userName+eq", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "invalidFilter");
    let unauthenticated = reqwest::Client::new()
        .get(format!("{}/Users", client.endpoints.scim))
        .bearer_auth("scim_local_not-a-token")
        .send()
        .await
        .expect("request");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let body: Value = unauthenticated.json().await.expect("json");
    assert_eq!(body["status"], "401");
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_through_grpc_postgres_and_kafka() {
    let cluster = Cluster::start().await;
    provisioning_lifecycle(&cluster.client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_standalone() {
    let standalone = Standalone::start().await;
    provisioning_lifecycle(&standalone.client).await;
}

/// The directory is a projection: dropped and rebuilt on an empty database, in the same
/// consumer group (whose offsets Kafka has committed), it replays the topic from the offsets it
/// stores itself, none, so from the beginning, and holds every record again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_rebuilds_from_the_topic() {
    let mut cluster = Cluster::start().await;
    let (status, created) =
        cluster.client.scim(Method::POST, "/Users", Some(user("rebuild@example.com", "re", "Build"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().expect("id").to_owned();
    cluster.client.directory_until("accounts", &id, "the account", |status, _| status == StatusCode::OK).await;

    cluster.rebuild_directory().await;
    let account = cluster
        .client
        .directory_until("accounts", &id, "the account in the rebuilt directory", |status, _| status == StatusCode::OK)
        .await;
    assert_eq!(account["email"], "re@work.example");
}
