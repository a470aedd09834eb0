//! A group of 100,000 members, end to end, on PostgreSQL + Kafka and on standalone: built by
//! PATCH chunks as an IdP's initial sync does, then single members added and removed, renamed,
//! its whole member set replaced by a PUT, all removed, 50,000 added in one PATCH, and deleted. After each step the directory holds
//! exactly the team it should (read through its paged members API), and no event was set aside
//! or larger than the bound the event contract gives.
//!
//! The 100,000 users are a fixture: one user is created through SCIM, then copied in the core's
//! database (as `bench/run.py` seeds its RSS run), because creating them one request at a time
//! would take minutes; their groups' changes all go through SCIM, the gRPC hop, the outbox, the
//! broker (or standalone's in-process delivery) and the directory.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Admin, Client, Cluster, Standalone, id_of};

const MEMBERS: usize = 100_000;
/// Members per PATCH while the group is built.
const PER_PATCH: usize = 1_000;
/// `provisioning_core::write::publish::MAX_EVENT_BYTES`, as the README's event contract states.
const MAX_EVENT_BYTES: i64 = 512 * 1024;

const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn seed_id(n: usize) -> String {
    format!("seed-{n:06}")
}

/// Where the core keeps its state, to seed users and read the outbox.
enum CoreDb {
    Postgres(String),
    Sqlite(std::path::PathBuf),
}

#[derive(QueryableByName)]
struct Largest {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

impl CoreDb {
    fn execute(&self, sql: &str) -> usize {
        match self {
            CoreDb::Postgres(url) => {
                let mut conn = PgConnection::establish(url).expect("core database");
                diesel::sql_query(sql).execute(&mut conn).expect("seeding")
            }
            CoreDb::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.display().to_string()).expect("core database");
                diesel::sql_query("PRAGMA busy_timeout = 30000").execute(&mut conn).expect("busy timeout");
                diesel::sql_query(sql).execute(&mut conn).expect("seeding")
            }
        }
    }

    fn largest_event(&self) -> i64 {
        let sql = "SELECT CAST(COALESCE(MAX(LENGTH(payload)), 0) AS BIGINT) AS bytes FROM outbox";
        let rows: Vec<Largest> = match self {
            CoreDb::Postgres(url) => {
                let mut conn = PgConnection::establish(url).expect("core database");
                diesel::sql_query(sql).load(&mut conn).expect("outbox")
            }
            CoreDb::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.display().to_string()).expect("core database");
                diesel::sql_query(sql).load(&mut conn).expect("outbox")
            }
        };
        rows.first().map_or(0, |row| row.bytes)
    }

    /// `count` copies of the template user, with ids `seed-000001`…
    fn copy_user(&self, tenant: &str, template: &str, count: usize) {
        let (series, id, from) = match self {
            CoreDb::Postgres(_) => (
                String::new(),
                "'seed-' || lpad(g::text, 6, '0')",
                format!("scim_users t, generate_series(1, {count}) g"),
            ),
            CoreDb::Sqlite(_) => (
                format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count}) "),
                "printf('seed-%06d', g.n)",
                "scim_users t, g".to_owned(),
            ),
        };
        let sql = format!(
            "{series}INSERT INTO scim_users (tenant_id, id, user_name, user_name_key, external_id, active, \
             display_name, attributes, version, created_at, updated_at, account_id, record, record_version) \
             SELECT t.tenant_id, {id}, {id} || '@example.com', {id} || '@example.com', NULL, t.active, \
             t.display_name, t.attributes, t.version, t.created_at, t.updated_at, NULL, t.record, t.record_version \
             FROM {from} WHERE t.tenant_id = '{tenant}' AND t.id = '{template}'"
        );
        assert_eq!(self.execute(&sql), count, "seeded users");
    }
}

fn members_body(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|id| json!({"value": id})).collect())
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": operations})
}

async fn patch_group(client: &Client, id: &str, operations: Value) {
    let (status, body) = client.scim(Method::PATCH, &format!("/Groups/{id}"), Some(patch(operations))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "PATCH /Groups/{id} → {body}");
}

/// Every member of a team in the directory, through its paged API.
async fn directory_members(client: &Client, team: &str) -> Option<BTreeSet<String>> {
    let http = reqwest::Client::new();
    let mut members = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let url = format!(
            "{}/v1/tenants/{}/teams/{team}/members?limit=10000{}",
            client.endpoints.directory,
            client.endpoints.tenant,
            if cursor.is_empty() { String::new() } else { format!("&cursor={cursor}") }
        );
        let response =
            http.get(url).bearer_auth(crate::support::DIRECTORY_TOKEN).send().await.expect("directory request");
        if response.status() != StatusCode::OK {
            return None;
        }
        let page: Value = response.json().await.expect("a page");
        let ids = page["members"].as_array().expect("members");
        assert!(ids.len() <= 10_000, "a page holds at most its limit");
        members.extend(ids.iter().map(|id| id.as_str().expect("an id").to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return Some(members),
        }
    }
}

/// Waits until the directory's team has exactly `expected` members and `name`.
async fn directory_has(client: &Client, team: &str, name: &str, expected: &BTreeSet<String>, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, body) = client.directory("teams", team).await;
        if status == StatusCode::OK
            && body["name"] == name
            && body["member_count"] == expected.len()
            && let Some(members) = directory_members(client, team).await
        {
            if &members == expected {
                return;
            }
            let missing = expected.difference(&members).take(5).collect::<Vec<_>>();
            let extra = members.difference(expected).take(5).collect::<Vec<_>>();
            assert!(
                Instant::now() < deadline,
                "{step}: the directory's team differs: missing {missing:?}, extra {extra:?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "{step}: the directory's team did not reach {} members named {name}: {status} {}",
            expected.len(),
            json!({"name": body["name"], "member_count": body["member_count"]})
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The SCIM group's members, as a GET returns them.
async fn scim_members(client: &Client, path: &str) -> (Value, BTreeSet<String>) {
    let (status, group) = client.scim(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}");
    let members = group["members"]
        .as_array()
        .map(|members| members.iter().map(|m| m["value"].as_str().expect("value").to_owned()).collect())
        .unwrap_or_default();
    (group, members)
}

async fn no_event_set_aside(admin: &Admin) {
    let response =
        reqwest::Client::new().get(format!("{}/metrics", admin.url)).send().await.expect("the core's metrics");
    let text = response.text().await.expect("metrics text");
    let set_aside = text
        .lines()
        .find_map(|line| line.strip_prefix("scimsvc_outbox_set_aside_events "))
        .unwrap_or_else(|| panic!("scimsvc_outbox_set_aside_events is missing from the metrics:\n{text}"));
    assert_eq!(set_aside.trim(), "0", "no event was set aside");
}

async fn hundred_thousand_members(client: &Client, admin: &Admin, db: &CoreDb) {
    let started = Instant::now();
    let (status, template) =
        client.scim(Method::POST, "/Users", Some(json!({"userName": "template@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    db.copy_user(&client.endpoints.tenant, &id_of(&template), MEMBERS);
    let seeds: Vec<String> = (1..=MEMBERS).map(seed_id).collect();
    eprintln!("large group: {MEMBERS} users seeded in {:?}", started.elapsed());

    // Built in PATCH chunks, as an IdP's initial sync adds members.
    let (status, group) = client.scim(Method::POST, "/Groups", Some(json!({"displayName": "All employees"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let id = id_of(&group);
    let built = Instant::now();
    for chunk in seeds.chunks(PER_PATCH) {
        patch_group(client, &id, json!([{"op": "add", "path": "members", "value": members_body(chunk)}])).await;
    }
    eprintln!("large group: {} PATCHes of {PER_PATCH} members in {:?}", MEMBERS / PER_PATCH, built.elapsed());
    let mut expected: BTreeSet<String> = seeds.iter().cloned().collect();
    directory_has(client, &id, "All employees", &expected, "built").await;

    // SCIM reads: every member (Okta reads them), none with excludedAttributes (Entra).
    let path = format!("/Groups/{id}");
    let (_, members) = scim_members(client, &path).await;
    assert_eq!(members, expected, "GET returns all 100,000 members");
    let (thin, members) = scim_members(client, &format!("{path}?excludedAttributes=members")).await;
    assert!(members.is_empty() && thin.get("members").is_none(), "excludedAttributes=members: {thin}");
    assert_eq!(thin["displayName"], "All employees");
    let (status, list) =
        client.scim(Method::GET, "/Groups?filter=displayName%20eq%20%22All%20employees%22", None).await;
    assert_eq!(status, StatusCode::OK, "{}", list["detail"]);
    assert_eq!(list["Resources"][0]["members"].as_array().map(Vec::len), Some(MEMBERS), "a query's page too");
    // A page as Okta's import reads it (startIndex=1&count=100, then 101…): every group it asks
    // for, the huge one with all its members (streamed), the small one with its own.
    let (status, small) = client
        .scim(Method::POST, "/Groups", Some(json!({"displayName": "Small", "members": [{"value": seeds[0]}]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    let (status, page) = client.scim(Method::GET, "/Groups?startIndex=1&count=100", None).await;
    assert_eq!(status, StatusCode::OK, "{}", page["detail"]);
    assert_eq!((&page["totalResults"], &page["itemsPerPage"]), (&json!(2), &json!(2)), "a full page");
    let sizes: Vec<(Value, Option<usize>)> = page["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|group| (group["id"].clone(), group["members"].as_array().map(Vec::len)))
        .collect();
    assert_eq!(sizes, [(json!(id), Some(MEMBERS)), (small["id"].clone(), Some(1))]);
    assert_eq!(page["Resources"][1]["members"][0]["value"], seeds[0].as_str());
    let (status, _) = client.scim(Method::DELETE, &format!("/Groups/{}", id_of(&small)), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // One member joins, one leaves: one PATCH each, as Entra sends them.
    let (status, newcomer) =
        client.scim(Method::POST, "/Users", Some(json!({"userName": "newcomer@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{newcomer}");
    let newcomer = id_of(&newcomer);
    patch_group(client, &id, json!([{"op": "add", "path": "members", "value": [{"value": newcomer}]}])).await;
    expected.insert(newcomer.clone());
    let leaver = seed_id(500);
    patch_group(client, &id, json!([{"op": "remove", "path": format!("members[value eq \"{leaver}\"]")}])).await;
    expected.remove(&leaver);
    directory_has(client, &id, "All employees", &expected, "one added, one removed").await;

    // Renamed.
    patch_group(client, &id, json!([{"op": "replace", "path": "displayName", "value": "Everyone"}])).await;
    directory_has(client, &id, "Everyone", &expected, "renamed").await;

    // The whole member set replaced: 40,000 leave, 60,001 stay (with the newcomer).
    let kept: Vec<String> = seeds[40_000..].iter().cloned().chain([newcomer.clone()]).collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone",
        "members": members_body(&kept)});
    let (status, replaced) = client.scim(Method::PUT, &path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "PUT {path} → {}", replaced["detail"]);
    assert_eq!(replaced["members"].as_array().map(Vec::len), Some(kept.len()), "the PUT's answer lists them all");
    expected = kept.into_iter().collect();
    directory_has(client, &id, "Everyone", &expected, "whole set replaced").await;

    // Every member removed at once (past SQLite's 32,766 bound parameters), then 50,000 added
    // back in one PATCH.
    patch_group(client, &id, json!([{"op": "remove", "path": "members"}])).await;
    expected.clear();
    directory_has(client, &id, "Everyone", &expected, "all removed").await;
    let back: Vec<String> = seeds[..50_000].to_vec();
    patch_group(client, &id, json!([{"op": "add", "path": "members", "value": members_body(&back)}])).await;
    expected = back.into_iter().collect();
    directory_has(client, &id, "Everyone", &expected, "50,000 added in one PATCH").await;

    // Deleted, with its 50,000 members.
    let (status, _) = client.scim(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    client.directory_until("teams", &id, "the team deleted", |status, _| status == StatusCode::NOT_FOUND).await;
    assert_eq!(directory_members(client, &id).await, None, "a deleted team has no members page");

    no_event_set_aside(admin).await;
    let largest = db.largest_event();
    eprintln!("large group: largest event {largest} bytes; whole run {:?}", started.elapsed());
    assert!(largest > 0 && largest <= MAX_EVENT_BYTES, "every event is at most {MAX_EVENT_BYTES} bytes: {largest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_100000_members_on_the_cluster() {
    let cluster = Cluster::start().await;
    let db = CoreDb::Postgres(cluster.core_database.url.clone());
    hundred_thousand_members(&cluster.client, &cluster.admin, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_100000_members_on_standalone() {
    let standalone = Standalone::start().await;
    let db = CoreDb::Sqlite(standalone.core_database());
    hundred_thousand_members(&standalone.client, &standalone.admin, &db).await;
}
