//! From SCIM resources to the product's accounts and teams, end to end: what an IdP sends goes in
//! at the SCIM API, the mapped record comes out of the directory's HTTP API and, on the cluster,
//! the change topic. Each scenario runs against the three services on PostgreSQL + Kafka and
//! against standalone on SQLite; the change-event checks only on the cluster. Covered: the
//! default mapping and its diagnostics in the provisioning log, editing a tenant's mapping,
//! group permissions, deactivation, soft delete (restore and purge), hard delete, userName
//! changes, and linking to accounts the product made by hand.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Admin, Client, Cluster, ClusterOptions, Standalone, eventually, id_of, required_env};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// What a scenario drives: the tenant's SCIM client (with the directory), the admin API, and,
/// on the cluster, the change topic.
struct System<'a> {
    client: &'a Client,
    admin: &'a Admin,
    events: Option<Events>,
}

impl System<'_> {
    fn tenant(&self) -> &str {
        &self.client.endpoints.tenant
    }
}

/// Settings every scenario's system starts with: tombstones purged every second once due.
fn purge_every_second() -> Vec<(&'static str, String)> {
    vec![("PURGE_INTERVAL_SECONDS", "1".into())]
}

async fn cluster() -> Cluster {
    Cluster::start_with(ClusterOptions {
        core_env: purge_every_second(),
        ..ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"))
    })
    .await
}

async fn standalone() -> Standalone {
    Standalone::start_with(purge_every_second()).await
}

fn on_cluster(cluster: &Cluster) -> System<'_> {
    System { client: &cluster.client, admin: &cluster.admin, events: Some(Events::subscribe(&cluster.topic)) }
}

fn on_standalone(standalone: &Standalone) -> System<'_> {
    System { client: &standalone.client, admin: &standalone.admin, events: None }
}

// ---- the change topic -------------------------------------------------------------------------

/// A reader of the cluster's change topic from its beginning; keeps every event it has read.
struct Events {
    consumer: StreamConsumer,
    seen: Mutex<Vec<proto::ChangeEvent>>,
}

fn describe(event: &proto::ChangeEvent) -> String {
    let changes: Vec<String> =
        event.changes.iter().map(|c| format!("{}: {} → {}", c.field, c.before_json, c.after_json)).collect();
    format!(
        "{} {} v{} deleted={} link={:?} purge_after={:?} changes={changes:?} record={:?}",
        event.event_type,
        event.resource_id,
        event.version,
        event.deleted,
        event.link,
        event.purge_after_micros,
        event.record
    )
}

impl Events {
    fn subscribe(topic: &str) -> Self {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
            .set("group.id", format!("mapping-reader-{}", uuid::Uuid::new_v4().simple()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("a Kafka consumer");
        consumer.subscribe(&[topic]).expect("subscribing to the change topic");
        Self { consumer, seen: Mutex::new(Vec::new()) }
    }

    /// The first event read that satisfies `wanted`, reading on for up to 30 s.
    async fn find(&self, what: &str, wanted: impl Fn(&proto::ChangeEvent) -> bool) -> proto::ChangeEvent {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let seen = self.seen.lock().unwrap();
                if let Some(event) = seen.iter().find(|event| wanted(event)) {
                    return event.clone();
                }
                if Instant::now() > deadline {
                    let seen: Vec<String> = seen.iter().map(describe).collect();
                    panic!("timed out waiting for {what}; the topic has:\n{}", seen.join("\n"));
                }
            }
            if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(500), self.consumer.recv()).await {
                let event =
                    proto::ChangeEvent::decode(message.payload().unwrap_or_default()).expect("a ChangeEvent payload");
                self.seen.lock().unwrap().push(event);
            }
        }
    }

    /// The first event of this type for this SCIM resource.
    async fn of(&self, event_type: &str, resource_id: &str) -> proto::ChangeEvent {
        self.find(&format!("{event_type} of {resource_id}"), |e| {
            e.event_type == event_type && e.resource_id == resource_id
        })
        .await
    }
}

/// The account an event carries.
#[track_caller]
fn account_of(event: &proto::ChangeEvent) -> &proto::Account {
    match &event.record {
        Some(proto::change_event::Record::Account(account)) => account,
        other => panic!("{} carries an account, not {other:?}", event.event_type),
    }
}

/// An event's changes as (field, before JSON, after JSON).
fn changes_of(event: &proto::ChangeEvent) -> Vec<(String, String, String)> {
    event.changes.iter().map(|c| (c.field.clone(), c.before_json.clone(), c.after_json.clone())).collect()
}

fn change(field: &str, before: &str, after: &str) -> (String, String, String) {
    (field.to_owned(), before.to_owned(), after.to_owned())
}

// ---- SCIM, the directory and the admin API -----------------------------------------------------

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Creates a user; returns its SCIM resource.
async fn create_user(client: &Client, body: Value) -> Value {
    let (status, created) = client.scim(Method::POST, "/Users", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "POST /Users {body} → {created}");
    created
}

async fn create_group(client: &Client, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members,
    });
    let (status, created) = client.scim(Method::POST, "/Groups", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "POST /Groups {body} → {created}");
    id_of(&created)
}

async fn patch_resource(client: &Client, path: &str, operations: Value) {
    let (status, body) = client.scim(Method::PATCH, path, Some(patch(operations.clone()))).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::NO_CONTENT,
        "PATCH {path} {operations} → {status}: {body}"
    );
}

async fn delete_user(client: &Client, id: &str) {
    let (status, body) = client.scim(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "DELETE /Users/{id} → {body}");
}

/// Waits until the directory has the account and it satisfies `check`; returns it.
async fn account_until(client: &Client, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    client.directory_until("accounts", id, what, |status, body| status == StatusCode::OK && check(body)).await
}

/// Waits until the directory answers 404 for the account.
async fn account_gone(client: &Client, id: &str, what: &str) {
    client.directory_until("accounts", id, what, |status, _| status == StatusCode::NOT_FOUND).await;
}

/// `POST /v1/tenants/{tenant}/accounts` on the directory: an account the product makes by hand.
async fn manual_account(client: &Client, body: Value) -> (StatusCode, Value) {
    let url = format!("{}/v1/tenants/{}/accounts", client.endpoints.directory, client.endpoints.tenant);
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(crate::support::DIRECTORY_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("directory request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET /v1/tenants/{tenant}/accounts?email=…` on the directory.
async fn accounts_with_email(client: &Client, email: &str) -> (StatusCode, Value) {
    let url = format!("{}/v1/tenants/{}/accounts", client.endpoints.directory, client.endpoints.tenant);
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(crate::support::DIRECTORY_TOKEN)
        .query(&[("email", email)])
        .send()
        .await
        .expect("directory request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `PUT /admin/v1/tenants/{tenant}/{what}`, expecting 200; returns the answer.
async fn admin_put(system: &System<'_>, what: &str, body: Value) -> Value {
    let path = format!("/admin/v1/tenants/{}/{what}", system.tenant());
    let (status, answer) = system.admin.call(Method::PUT, &path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "PUT {path} {body} → {answer}");
    answer
}

/// Waits for the background job that re-publishes after a rules change (named in the answer of
/// the change) to finish; returns it as the admin API shows it.
async fn republishing_done(system: &System<'_>, answer: &Value) -> Value {
    let job = &answer["republishing"];
    assert!(job["id"].is_string(), "the answer names its re-publishing job: {answer}");
    assert!(["pending", "running", "done"].contains(&job["state"].as_str().unwrap_or_default()), "{answer}");
    let path = format!("/admin/v1/tenants/{}/jobs/{}", system.tenant(), job["id"].as_str().unwrap_or_default());
    let done = eventually(&format!("the re-publishing job {path}"), || async {
        let (status, body) = system.admin.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path} → {body}");
        (body["state"] == "done").then_some(body)
    })
    .await;
    assert_eq!(done["done"], done["total"], "a finished job went through all its items: {done}");
    let (status, list) =
        system.admin.call(Method::GET, &format!("/admin/v1/tenants/{}/jobs", system.tenant()), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["jobs"][0]["id"], done["id"], "the newest job comes first: {list}");
    done
}

/// The warnings of the provisioning-log entry of the request that created this resource.
async fn creation_warnings(system: &System<'_>, resource_id: &str) -> Vec<String> {
    let path = format!("/admin/v1/tenants/{}/provisioning-log?resource_id={resource_id}", system.tenant());
    let entry = eventually(&format!("the log entry of POST {resource_id}"), || async {
        let (status, body) = system.admin.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path} → {body}");
        body["entries"].as_array().and_then(|entries| entries.iter().find(|e| e["method"] == "POST").cloned())
    })
    .await;
    assert_eq!(entry["status"], 201, "{entry}");
    assert_eq!(entry["resource_id"], resource_id, "{entry}");
    entry["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("warnings are a list: {entry}"))
        .iter()
        .map(|w| w.as_str().unwrap_or_else(|| panic!("a warning is text: {entry}")).to_owned())
        .collect()
}

// ---- 1. the default mapping and its diagnostics ------------------------------------------------

async fn default_mapping_and_diagnostics(system: &System<'_>) {
    let client = system.client;
    // Entra with a mapping that sends no name: only displayName and a work email.
    let ada = create_user(
        client,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada.lovelace@corp.example",
            "active": true,
            "displayName": "Ada King Lovelace",
            "emails": [{"type": "work", "value": "ada@example.com", "primary": true}],
        }),
    )
    .await;
    let ada_id = id_of(&ada);
    let account = account_until(client, &ada_id, "ada's account", |_| true).await;
    assert_eq!(account["id"], ada_id.as_str(), "{account}");
    assert_eq!(account["scim_user_id"], ada_id.as_str(), "{account}");
    assert_eq!(account["origin"], "scim", "{account}");
    assert_eq!(account["user_name"], "ada.lovelace@corp.example", "{account}");
    assert_eq!(account["given_name"], "Ada", "the first word of displayName: {account}");
    assert_eq!(account["family_name"], "King Lovelace", "the rest of displayName: {account}");
    assert_eq!(account["display_name"], "Ada King Lovelace", "{account}");
    assert_eq!(account["email"], "ada@example.com", "the primary email, not the userName: {account}");
    assert_eq!(account["active"], true, "{account}");
    assert_eq!(account["roles"], json!([]), "{account}");
    assert_eq!(account["permissions"], json!([]), "{account}");
    assert_eq!(account["custom_fields"], json!({}), "{account}");
    assert_eq!(account["teams"], json!([]), "{account}");
    // The request's log entry says which IdP attributes to map.
    let warnings = creation_warnings(system, &ada_id).await;
    assert!(
        warnings.contains(
            &"account given_name: the IdP sent no name.givenName, so the first word of displayName was used; \
              map it in the IdP's attribute mapping"
                .to_owned()
        ),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(
            &"account family_name: the IdP sent no name.familyName, so what follows the first word of displayName \
              was used; map it in the IdP's attribute mapping"
                .to_owned()
        ),
        "{warnings:?}"
    );
    assert_eq!(warnings.len(), 2, "only the two guessed names: {warnings:?}");

    // Okta's default: name.givenName and name.familyName, no displayName; the userName is the email.
    let grace = create_user(
        client,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "grace@example.com",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
        }),
    )
    .await;
    let grace_id = id_of(&grace);
    let account = account_until(client, &grace_id, "grace's account", |_| true).await;
    assert_eq!(account["display_name"], "Grace Hopper", "display name ← given + family: {account}");
    assert_eq!(account["given_name"], "Grace", "{account}");
    assert_eq!(account["family_name"], "Hopper", "{account}");
    assert_eq!(account["email"], "grace@example.com", "an address as userName is the email: {account}");
    assert_eq!(creation_warnings(system, &grace_id).await, Vec::<String>::new(), "nothing was guessed");

    if let Some(events) = &system.events {
        let created = events.of("user.created", &ada_id).await;
        let record = account_of(&created);
        assert_eq!(record.id, ada_id, "{}", describe(&created));
        assert_eq!(record.scim_user_id, ada_id, "{}", describe(&created));
        assert_eq!(record.given_name.as_deref(), Some("Ada"), "{}", describe(&created));
        assert_eq!(record.family_name.as_deref(), Some("King Lovelace"), "{}", describe(&created));
        assert_eq!(record.email.as_deref(), Some("ada@example.com"), "{}", describe(&created));
        assert_eq!(created.link, None, "a new account: {}", describe(&created));
        assert!(created.changes.is_empty(), "a creation lists no changes: {}", describe(&created));
        let created = events.of("user.created", &grace_id).await;
        assert_eq!(account_of(&created).display_name.as_deref(), Some("Grace Hopper"), "{}", describe(&created));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_defaults_and_diagnostics_on_the_cluster() {
    let cluster = cluster().await;
    default_mapping_and_diagnostics(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_defaults_and_diagnostics_on_standalone() {
    let standalone = standalone().await;
    default_mapping_and_diagnostics(&on_standalone(&standalone)).await;
}

// ---- 2. editing the mapping --------------------------------------------------------------------

async fn mapping_edit(system: &System<'_>) {
    let client = system.client;
    let tenant = system.tenant().to_owned();
    // A user provisioned before the tenant's mapping changes.
    let before = create_user(
        client,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "bea@example.com",
            "name": {"givenName": "Bea", "familyName": "Early"},
            "roles": [{"value": "Approver"}],
            ENTERPRISE: {"department": "R&D"},
        }),
    )
    .await;
    let bea = id_of(&before);
    let account = account_until(client, &bea, "bea's account", |_| true).await;
    assert_eq!(account["custom_fields"], json!({}), "no custom fields by default: {account}");
    assert_eq!(account["roles"], json!(["Approver"]), "without a role table values pass unchanged: {account}");

    // An invalid mapping is refused, naming the field, and changes nothing.
    let path = format!("/admin/v1/tenants/{tenant}/mapping");
    let bad = json!({"account": {"email": ["emails[type eq"]}});
    let (status, error) = system.admin.call(Method::PUT, &path, Some(bad.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "PUT {path} {bad} → {error}");
    assert_eq!(error["status"], 400, "{error}");
    let detail = error["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("account.email: "), "the detail names the field: {error}");
    assert!(detail.contains("'emails[type eq'"), "and the source: {error}");
    let bad = json!({"custom_fields": {"cost center": ["title"]}});
    let (status, error) = system.admin.call(Method::PUT, &path, Some(bad.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "PUT {path} {bad} → {error}");
    assert!(
        error["detail"].as_str().is_some_and(|d| d.contains("custom_fields") && d.contains("cost center")),
        "{error}"
    );
    let (status, stored) = system.admin.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, json!({"mapping": {}, "group_permissions": {}}), "nothing was stored");

    // The tenant's mapping: a custom field from the enterprise extension and a role table.
    let mapping = json!({
        "custom_fields": {"department": [format!("{ENTERPRISE}:department")]},
        "roles": {"table": {"Approver": "approver"}, "default_role": "member"},
    });
    let answer = admin_put(system, "mapping", mapping.clone()).await;
    assert_eq!(answer["mapping"], mapping, "{answer}");
    let job = republishing_done(system, &answer).await;
    assert_eq!(
        (&job["reason"], &job["published"]),
        (&json!("mapping changed"), &json!(1)),
        "bea's record changed: {job}"
    );
    let (status, stored) = system.admin.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, json!({"mapping": mapping, "group_permissions": {}}));

    // The existing user is re-mapped.
    let account = account_until(client, &bea, "bea re-mapped", |a| a["custom_fields"] != json!({})).await;
    assert_eq!(account["custom_fields"], json!({"department": "R&D"}), "{account}");
    assert_eq!(account["roles"], json!(["approver"]), "through the role table now: {account}");
    assert_eq!(account["id"], bea.as_str(), "{account}");

    // Entra's app roles: JSON serialized into the value; a value outside the table gets the default.
    let entra = create_user(
        client,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "cem@example.com",
            "name": {"givenName": "Cem", "familyName": "Later"},
            "roles": [
                {
                    "value": "{\"id\":\"1\",\"value\":\"Approver\",\"displayName\":\"Approver\"}",
                    "type": "WindowsAzureActiveDirectoryRole"
                },
                {"value": "Intern"}
            ],
        }),
    )
    .await;
    let cem = id_of(&entra);
    let account = account_until(client, &cem, "cem's account", |_| true).await;
    assert_eq!(account["roles"], json!(["approver", "member"]), "{account}");
    assert_eq!(account["custom_fields"], json!({}), "cem has no department: {account}");
    let warnings = creation_warnings(system, &cem).await;
    assert_eq!(
        warnings,
        vec!["role 'Intern' is not in the tenant's role table; the default role 'member' was given".to_owned()],
        "one warning, naming the unknown value"
    );

    if let Some(events) = &system.events {
        let updated = events.of("user.updated", &bea).await;
        assert_eq!(
            changes_of(&updated),
            vec![
                change("custom_fields.department", "null", "\"R&D\""),
                change("roles", "[\"Approver\"]", "[\"approver\"]")
            ],
            "{}",
            describe(&updated)
        );
        assert_eq!(account_of(&updated).custom_fields.get("department").map(String::as_str), Some("R&D"));
        let created = events.of("user.created", &cem).await;
        assert_eq!(account_of(&created).roles, vec!["approver", "member"], "{}", describe(&created));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_edit_remaps_users_on_the_cluster() {
    let cluster = cluster().await;
    mapping_edit(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_edit_remaps_users_on_standalone() {
    let standalone = standalone().await;
    mapping_edit(&on_standalone(&standalone)).await;
}

// ---- 3. group permissions ----------------------------------------------------------------------

async fn group_permissions(system: &System<'_>) {
    let client = system.client;
    let table = json!({"Engineering": ["deploy", "read"]});
    let answer = admin_put(system, "group-permissions", table.clone()).await;
    assert_eq!(answer["group_permissions"], table, "{answer}");
    let job = republishing_done(system, &answer).await;
    assert_eq!(job["published"], 0, "nothing to re-map yet: {job}");

    let user =
        create_user(client, json!({"userName": "ann@example.com", "name": {"givenName": "Ann", "familyName": "Dev"}}))
            .await;
    let ann = id_of(&user);
    let account = account_until(client, &ann, "ann's account", |_| true).await;
    assert_eq!(account["permissions"], json!([]), "no team, no permissions: {account}");

    let group = create_group(client, "Engineering", &[&ann]).await;
    let account =
        account_until(client, &ann, "ann's permissions from Engineering", |a| a["permissions"] != json!([])).await;
    assert_eq!(account["permissions"], json!(["deploy", "read"]), "{account}");
    let account = account_until(client, &ann, "ann in the team", |a| a["teams"] != json!([])).await;
    assert_eq!(account["teams"], json!([group]), "{account}");
    let team =
        client.directory_until("teams", &group, "the Engineering team", |status, _| status == StatusCode::OK).await;
    assert_eq!(team["name"], "Engineering", "{team}");
    assert_eq!(team["permissions"], json!(["deploy", "read"]), "{team}");
    assert_eq!(team["members"], json!([ann]), "{team}");

    // Entra removes the member: the account loses the team's permissions.
    patch_resource(
        client,
        &format!("/Groups/{group}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    let account = account_until(client, &ann, "ann without permissions", |a| a["permissions"] == json!([])).await;
    assert_eq!(account["active"], true, "{account}");
    let account = account_until(client, &ann, "ann out of the team", |a| a["teams"] == json!([])).await;
    assert_eq!(account["permissions"], json!([]), "{account}");
    let team = client.directory_until("teams", &group, "an empty team", |_, t| t["members"] == json!([])).await;
    assert_eq!(team["permissions"], json!(["deploy", "read"]), "the team keeps its permissions: {team}");

    if let Some(events) = &system.events {
        let granted = events
            .find("user.updated granting ann the team's permissions", |e| {
                e.event_type == "user.updated" && e.resource_id == ann && !account_of(e).permissions.is_empty()
            })
            .await;
        assert_eq!(
            changes_of(&granted),
            vec![change("permissions", "[]", "[\"deploy\",\"read\"]")],
            "{}",
            describe(&granted)
        );
        let revoked = events
            .find("user.updated revoking ann's permissions", |e| {
                e.event_type == "user.updated"
                    && e.resource_id == ann
                    && e.version > granted.version
                    && account_of(e).permissions.is_empty()
            })
            .await;
        assert_eq!(
            changes_of(&revoked),
            vec![change("permissions", "[\"deploy\",\"read\"]", "[]")],
            "{}",
            describe(&revoked)
        );
        let removed = events.of("group.member_removed", &group).await;
        assert_eq!(removed.removed_member_ids, vec![ann.clone()], "{}", describe(&removed));
        let created = events.of("group.created", &group).await;
        let Some(proto::change_event::Record::Team(team)) = &created.record else {
            panic!("a team record: {}", describe(&created))
        };
        assert_eq!(team.permissions, vec!["deploy", "read"], "{}", describe(&created));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_group_permissions_on_the_cluster() {
    let cluster = cluster().await;
    group_permissions(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_group_permissions_on_standalone() {
    let standalone = standalone().await;
    group_permissions(&on_standalone(&standalone)).await;
}

// ---- 4. deactivation keeps memberships and roles -----------------------------------------------

async fn deactivation_keeps_memberships_and_roles(system: &System<'_>) {
    let client = system.client;
    admin_put(system, "group-permissions", json!({"Sales": ["crm"]})).await;
    let user = create_user(
        client,
        json!({
            "userName": "dan@example.com",
            "name": {"givenName": "Dan", "familyName": "Paused"},
            "roles": [{"value": "Reader"}],
        }),
    )
    .await;
    let dan = id_of(&user);
    let group = create_group(client, "Sales", &[&dan]).await;
    account_until(client, &dan, "dan in Sales", |a| a["teams"] == json!([group])).await;
    let before = account_until(client, &dan, "dan's permissions", |a| a["permissions"] == json!(["crm"])).await;
    assert_eq!(before["roles"], json!(["Reader"]), "{before}");
    assert_eq!(before["active"], true, "{before}");

    // Entra deactivates.
    patch_resource(client, &format!("/Users/{dan}"), json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    let inactive = account_until(client, &dan, "dan deactivated", |a| a["active"] == false).await;
    assert_eq!(inactive["teams"], json!([group]), "still in the team: {inactive}");
    assert_eq!(inactive["roles"], json!(["Reader"]), "roles kept: {inactive}");
    assert_eq!(inactive["permissions"], json!(["crm"]), "permissions kept: {inactive}");
    let (status, team) = client.directory("teams", &group).await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team["members"], json!([dan]), "{team}");

    // …and re-enables: the same teams and roles, without Entra re-adding them.
    patch_resource(client, &format!("/Users/{dan}"), json!([{"op": "Replace", "path": "active", "value": "True"}]))
        .await;
    let active = account_until(client, &dan, "dan reactivated", |a| a["active"] == true).await;
    assert_eq!(active["teams"], json!([group]), "{active}");
    assert_eq!(active["roles"], json!(["Reader"]), "{active}");
    assert_eq!(active["permissions"], json!(["crm"]), "{active}");
    assert_eq!(active["id"], dan.as_str(), "{active}");

    if let Some(events) = &system.events {
        let deactivated = events.of("user.deactivated", &dan).await;
        let record = account_of(&deactivated);
        assert!(!record.active, "{}", describe(&deactivated));
        assert_eq!(record.roles, vec!["Reader"], "{}", describe(&deactivated));
        assert_eq!(record.permissions, vec!["crm"], "{}", describe(&deactivated));
        assert_eq!(changes_of(&deactivated), vec![change("active", "true", "false")], "{}", describe(&deactivated));
        let reactivated = events.of("user.reactivated", &dan).await;
        let record = account_of(&reactivated);
        assert!(record.active, "{}", describe(&reactivated));
        assert_eq!(record.roles, vec!["Reader"], "{}", describe(&reactivated));
        assert_eq!(record.permissions, vec!["crm"], "{}", describe(&reactivated));
        assert!(reactivated.version > deactivated.version, "{}", describe(&reactivated));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_deactivation_keeps_teams_and_roles_on_the_cluster() {
    let cluster = cluster().await;
    deactivation_keeps_memberships_and_roles(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_deactivation_keeps_teams_and_roles_on_standalone() {
    let standalone = standalone().await;
    deactivation_keeps_memberships_and_roles(&on_standalone(&standalone)).await;
}

// ---- 5. soft delete: restore within the tombstone period, purge after it -----------------------

fn person(user_name: &str, given: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": given, "familyName": "Tester"},
        "emails": [{"type": "work", "value": format!("{}@work.example", given.to_lowercase()), "primary": true}],
    })
}

const DAY_MICROS: i64 = 86_400_000_000;

async fn soft_delete_and_restore(system: &System<'_>) {
    let client = system.client;
    // The defaults: soft, 30 days.
    let first = create_user(client, person("rosa@example.com", "Rosa")).await;
    let old = id_of(&first);
    account_until(client, &old, "rosa's account", |_| true).await;
    delete_user(client, &old).await;
    account_gone(client, &old, "rosa's account gone after DELETE").await;

    // The IdP creates the same userName again: a new SCIM user, the old account.
    let second = create_user(client, person("rosa@example.com", "Rosa")).await;
    let new = id_of(&second);
    assert_ne!(new, old, "a new SCIM resource");
    let account = account_until(client, &old, "rosa's account restored", |a| a["scim_user_id"] == new.as_str()).await;
    assert_eq!(account["id"], old.as_str(), "{account}");
    assert_eq!(account["active"], true, "{account}");
    assert_eq!(account["user_name"], "rosa@example.com", "{account}");
    assert_eq!(account["email"], "rosa@work.example", "{account}");
    let (status, body) = client.directory("accounts", &new).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no second account under the new SCIM id: {body}");

    if let Some(events) = &system.events {
        let deleted = events.of("user.deleted", &old).await;
        assert!(deleted.deleted, "{}", describe(&deleted));
        let purge_after = deleted.purge_after_micros.unwrap_or_else(|| panic!("a soft delete: {}", describe(&deleted)));
        // 30 days from the delete (the event's time and the tombstone's are taken moments apart).
        let period = purge_after - deleted.occurred_at_micros;
        assert!((period - 30 * DAY_MICROS).abs() < 60_000_000, "30 days: {period} µs, {}", describe(&deleted));
        let created = events.of("user.created", &new).await;
        let link = created.link.clone().unwrap_or_else(|| panic!("a restore is a link: {}", describe(&created)));
        assert_eq!(link.reason, "restored", "{}", describe(&created));
        assert_eq!(link.account_id, old, "{}", describe(&created));
        assert_eq!(account_of(&created).id, old, "{}", describe(&created));
        assert_eq!(account_of(&created).scim_user_id, new, "{}", describe(&created));
    }

    // Tombstones kept for 0 days are purged by the next run (every second here).
    let settings = admin_put(system, "settings", json!({"lifecycle": {"delete": "soft", "tombstone_days": 0}})).await;
    assert_eq!(
        settings["lifecycle"],
        json!({"delete": "soft", "tombstone_days": 0, "link_by_email": true, "default": false}),
        "{settings}"
    );
    let first = create_user(client, person("pia@example.com", "Pia")).await;
    let old = id_of(&first);
    account_until(client, &old, "pia's account", |_| true).await;
    let deleted_at = Instant::now();
    delete_user(client, &old).await;
    account_gone(client, &old, "pia's account gone after DELETE").await;
    match &system.events {
        Some(events) => {
            let purged = events.of("user.purged", &old).await;
            assert!(
                deleted_at.elapsed() < Duration::from_secs(15),
                "the purge came {:?} after the DELETE",
                deleted_at.elapsed()
            );
            assert!(purged.deleted, "{}", describe(&purged));
            assert_eq!(account_of(&purged).id, old, "{}", describe(&purged));
            let deleted = events.of("user.deleted", &old).await;
            assert!(purged.version > deleted.version, "{} after {}", describe(&purged), describe(&deleted));
        }
        // No topic to watch: give the purge job (every second) a few runs.
        None => tokio::time::sleep(Duration::from_secs(4)).await,
    }
    let second = create_user(client, person("pia@example.com", "Pia")).await;
    let new = id_of(&second);
    let account = account_until(client, &new, "pia's new account", |_| true).await;
    assert_eq!(account["id"], new.as_str(), "after the purge, a new account: {account}");
    assert_eq!(account["scim_user_id"], new.as_str(), "{account}");
    let (status, body) = client.directory("accounts", &old).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the purged account stays gone: {body}");
    if let Some(events) = &system.events {
        let created = events.of("user.created", &new).await;
        assert_eq!(created.link, None, "nothing restored: {}", describe(&created));
        assert_eq!(account_of(&created).id, new, "{}", describe(&created));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_soft_delete_restores_then_purges_on_the_cluster() {
    let cluster = cluster().await;
    soft_delete_and_restore(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_soft_delete_restores_then_purges_on_standalone() {
    let standalone = standalone().await;
    soft_delete_and_restore(&on_standalone(&standalone)).await;
}

// ---- 6. hard delete -----------------------------------------------------------------------------

async fn hard_delete(system: &System<'_>) {
    let client = system.client;
    let settings = admin_put(system, "settings", json!({"lifecycle": {"delete": "hard"}})).await;
    assert_eq!(
        settings["lifecycle"],
        json!({"delete": "hard", "tombstone_days": 30, "link_by_email": true, "default": false}),
        "{settings}"
    );
    let first = create_user(client, person("hal@example.com", "Hal")).await;
    let old = id_of(&first);
    account_until(client, &old, "hal's account", |_| true).await;
    delete_user(client, &old).await;
    account_gone(client, &old, "hal's account gone after DELETE").await;
    if let Some(events) = &system.events {
        let deleted = events.of("user.deleted", &old).await;
        assert!(deleted.deleted, "{}", describe(&deleted));
        assert_eq!(deleted.purge_after_micros, None, "no tombstone: {}", describe(&deleted));
        let purged = events.of("user.purged", &old).await;
        assert!(purged.deleted, "{}", describe(&purged));
        assert!(purged.version > deleted.version, "{} after {}", describe(&purged), describe(&deleted));
        assert_eq!(account_of(&purged).id, old, "{}", describe(&purged));
        assert_eq!(account_of(&purged).given_name, None, "a purge keeps no personal data: {}", describe(&purged));
    }

    let second = create_user(client, person("hal@example.com", "Hal")).await;
    let new = id_of(&second);
    let account = account_until(client, &new, "hal's new account", |_| true).await;
    assert_eq!(account["id"], new.as_str(), "a hard delete restores nothing: {account}");
    assert_eq!(account["scim_user_id"], new.as_str(), "{account}");
    let (status, body) = client.directory("accounts", &old).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    if let Some(events) = &system.events {
        let created = events.of("user.created", &new).await;
        assert_eq!(created.link, None, "{}", describe(&created));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_hard_delete_on_the_cluster() {
    let cluster = cluster().await;
    hard_delete(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_hard_delete_on_standalone() {
    let standalone = standalone().await;
    hard_delete(&on_standalone(&standalone)).await;
}

// ---- 7. a userName change keeps the account -----------------------------------------------------

async fn user_name_change_keeps_the_account(system: &System<'_>) {
    let client = system.client;
    let user = create_user(client, person("una@old.example", "Una")).await;
    let una = id_of(&user);
    account_until(client, &una, "una's account", |_| true).await;
    patch_resource(
        client,
        &format!("/Users/{una}"),
        json!([{"op": "Replace", "path": "userName", "value": "una@new.example"}]),
    )
    .await;
    let account = account_until(client, &una, "una renamed", |a| a["user_name"] == "una@new.example").await;
    assert_eq!(account["id"], una.as_str(), "the same account: {account}");
    assert_eq!(account["scim_user_id"], una.as_str(), "{account}");
    assert_eq!(account["email"], "una@work.example", "{account}");
    assert_eq!(account["given_name"], "Una", "{account}");
    if let Some(events) = &system.events {
        let updated = events.of("user.updated", &una).await;
        assert_eq!(
            changes_of(&updated),
            vec![change("user_name", "\"una@old.example\"", "\"una@new.example\"")],
            "{}",
            describe(&updated)
        );
        assert_eq!(account_of(&updated).id, una, "{}", describe(&updated));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_user_name_change_keeps_the_account_on_the_cluster() {
    let cluster = cluster().await;
    user_name_change_keeps_the_account(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_user_name_change_keeps_the_account_on_standalone() {
    let standalone = standalone().await;
    user_name_change_keeps_the_account(&on_standalone(&standalone)).await;
}

// ---- 8. linking to accounts the product made by hand --------------------------------------------

async fn linking_by_email(system: &System<'_>) {
    let client = system.client;
    let (status, manual) = manual_account(client, json!({"email": "lin@example.com", "given_name": "Lin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{manual}");
    let manual_id = id_of(&manual);
    assert_eq!(manual["origin"], "manual", "{manual}");
    assert_eq!(manual["scim_user_id"], Value::Null, "{manual}");
    assert_eq!(manual["email"], "lin@example.com", "{manual}");
    assert_eq!(manual["user_name"], "lin@example.com", "the email is the user name by default: {manual}");

    // The IdP provisions a user with that email (in another case).
    let user = create_user(
        client,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "lin.wong@corp.example",
            "externalId": "lin-ext",
            "name": {"givenName": "Lin", "familyName": "Wong"},
            "emails": [{"type": "work", "value": "LIN@example.com"}],
        }),
    )
    .await;
    let scim_id = id_of(&user);
    assert_ne!(scim_id, manual_id, "the SCIM id is the SCIM resource's own");
    let account =
        account_until(client, &manual_id, "the manual account linked", |a| a["scim_user_id"] == scim_id.as_str()).await;
    assert_eq!(account["id"], manual_id.as_str(), "{account}");
    assert_eq!(account["user_name"], "lin.wong@corp.example", "the SCIM data: {account}");
    assert_eq!(account["email"], "LIN@example.com", "{account}");
    assert_eq!(account["given_name"], "Lin", "{account}");
    assert_eq!(account["family_name"], "Wong", "{account}");
    assert_eq!(account["display_name"], "Lin Wong", "{account}");
    assert_eq!(account["external_id"], "lin-ext", "{account}");
    assert_eq!(account["active"], true, "{account}");
    assert_eq!(account["origin"], "manual", "a manual account stays manual: {account}");
    let (status, body) = client.directory("accounts", &scim_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no second account: {body}");
    let (status, found) = accounts_with_email(client, "lin@example.com").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let ids: Vec<&str> = found["accounts"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, vec![manual_id.as_str()], "one account with the email: {found}");

    if let Some(events) = &system.events {
        let created = events.of("user.created", &scim_id).await;
        let link = created.link.clone().unwrap_or_else(|| panic!("a link: {}", describe(&created)));
        assert_eq!(link.reason, "email", "{}", describe(&created));
        assert_eq!(link.account_id, manual_id, "{}", describe(&created));
        assert_eq!(account_of(&created).id, manual_id, "{}", describe(&created));
        assert_eq!(account_of(&created).scim_user_id, scim_id, "{}", describe(&created));
    }

    // With linking off, a manual account's email does not link.
    let settings = admin_put(system, "settings", json!({"lifecycle": {"link_by_email": false}})).await;
    assert_eq!(
        settings["lifecycle"],
        json!({"delete": "soft", "tombstone_days": 30, "link_by_email": false, "default": false}),
        "{settings}"
    );
    let (status, other) = manual_account(client, json!({"email": "otto@example.com", "given_name": "Otto"})).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other_id = id_of(&other);
    let user = create_user(
        client,
        json!({
            "userName": "otto.scim@corp.example",
            "name": {"givenName": "Otto", "familyName": "Separate"},
            "emails": [{"type": "work", "value": "otto@example.com"}],
        }),
    )
    .await;
    let otto = id_of(&user);
    let account = account_until(client, &otto, "otto's own account", |_| true).await;
    assert_eq!(account["id"], otto.as_str(), "{account}");
    assert_eq!(account["scim_user_id"], otto.as_str(), "{account}");
    assert_eq!(account["origin"], "scim", "{account}");
    assert_eq!(account["email"], "otto@example.com", "{account}");
    let (status, manual) = client.directory("accounts", &other_id).await;
    assert_eq!(status, StatusCode::OK, "{manual}");
    assert_eq!(manual["scim_user_id"], Value::Null, "not linked: {manual}");
    assert_eq!(manual["given_name"], "Otto", "{manual}");
    assert_eq!(manual["family_name"], Value::Null, "untouched by SCIM: {manual}");
    if let Some(events) = &system.events {
        let created = events.of("user.created", &otto).await;
        assert_eq!(created.link, None, "{}", describe(&created));
        assert_eq!(account_of(&created).id, otto, "{}", describe(&created));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_links_manual_accounts_by_email_on_the_cluster() {
    let cluster = cluster().await;
    linking_by_email(&on_cluster(&cluster)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_links_manual_accounts_by_email_on_standalone() {
    let standalone = standalone().await;
    linking_by_email(&on_standalone(&standalone)).await;
}
