//! The events API (`GET /admin/v1/events`) for products that poll: the retained outbox as
//! CloudEvents, paged by an opaque cursor, per tenant or for all, nothing missed or repeated
//! across pages and new writes, bad and expired cursors refused. On standalone (SQLite) and on
//! the three services (PostgreSQL, where visibility follows transaction ids).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Admin, Client, Cluster, ClusterOptions, Standalone, eventually, id_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_api_pages_the_outbox_on_standalone() {
    let standalone = Standalone::start_with(vec![("EVENT_TYPE_PREFIX", "com.acme.scim".to_owned())]).await;
    let scim_url = standalone.client.endpoints.scim.clone();
    let directory = standalone.client.endpoints.directory.clone();
    let other = standalone.admin.tenant_client("globex", &scim_url, &directory).await;
    events_are_paged(&standalone.admin, &standalone.client, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_api_pages_the_outbox_on_the_three_services() {
    let mut options = ClusterOptions::new(crate::support::required_env("KAFKA_BOOTSTRAP_SERVERS"));
    options.core_env = vec![("EVENT_TYPE_PREFIX", "com.acme.scim".to_owned())];
    let cluster = Cluster::start_with(options).await;
    let other = cluster.admin.tenant_client("globex", &cluster.gateways[0], &cluster.client.endpoints.directory).await;
    events_are_paged(&cluster.admin, &cluster.client, &other).await;
}

/// Follows `next_cursor` from `after` until a page comes back empty; the events and the cursor
/// to poll with next.
async fn drain(admin: &Admin, query: &str, mut after: Option<String>) -> (Vec<Value>, Option<String>) {
    let mut events = Vec::new();
    loop {
        let cursor = after.as_deref().map(|c| format!("&after={c}")).unwrap_or_default();
        let (status, page) = admin.call(Method::GET, &format!("/admin/v1/events?{query}{cursor}"), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let listed = page["events"].as_array().expect("events").clone();
        if listed.is_empty() {
            assert_eq!(page["has_more"], false, "{page}");
            assert_eq!(page["next_cursor"].as_str().map(str::to_owned), after, "an empty page keeps the cursor");
            return (events, after);
        }
        after = Some(page["next_cursor"].as_str().expect("a cursor after events").to_owned());
        events.extend(listed);
    }
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (e["type"].as_str().unwrap_or_default().to_owned(), e["subject"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

async fn events_are_paged(admin: &Admin, client: &Client, other: &Client) {
    let tenant = client.endpoints.tenant.clone();
    let (status, _) = admin.call_as("wrong", Method::GET, "/admin/v1/events", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut expected = Vec::new();
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, user) =
            client.scim(Method::POST, "/Users", Some(json!({"userName": format!("poll{n}@acme.example")}))).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        expected.push(("com.acme.scim.user.created".to_owned(), format!("Users/{}", id_of(&user))));
        ids.push(id_of(&user));
    }
    let (status, group) = client
        .scim(Method::POST, "/Groups", Some(json!({"displayName": "Pollers", "members": [{"value": ids[0]}]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    expected.push(("com.acme.scim.group.created".to_owned(), format!("Groups/{}", id_of(&group))));
    let (status, stranger) = other.scim(Method::POST, "/Users", Some(json!({"userName": "g@globex.example"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{stranger}");

    // The tenant's feed two at a time: every change once, in order, as CloudEvents.
    let query = format!("tenant={tenant}&limit=2");
    let (events, cursor) = eventually("the tenant's four events in the feed", || async {
        let (events, cursor) = drain(admin, &query, None).await;
        (events.len() >= expected.len()).then_some((events, cursor))
    })
    .await;
    assert_eq!(summary(&events), expected);
    for event in &events {
        assert_eq!(event["specversion"], "1.0", "{event}");
        assert_eq!(event["tenantid"], tenant.as_str(), "{event}");
        assert_eq!(event["dataschema"], "urn:scim-provisioning:events:v1", "{event}");
        assert!(event["time"].as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()), "{event}");
    }
    assert_eq!(events[0]["data"]["account"]["user_name"], "poll0@acme.example");
    assert_eq!(events[3]["data"]["added_member_ids"].as_array().map(Vec::len), Some(1), "{}", events[3]);

    // All tenants: the other tenant's event too; a bigger page holds everything at once.
    let (all, _) = drain(admin, "limit=1000", None).await;
    let strangers: Vec<&Value> = all.iter().filter(|e| e["tenantid"] == "globex").collect();
    assert_eq!(strangers.len(), 1, "{all:?}");
    assert_eq!(strangers[0]["subject"], format!("Users/{}", id_of(&stranger)));

    // Polling on: nothing new, then exactly the next change.
    let (none, same) = drain(admin, &query, cursor.clone()).await;
    assert!(none.is_empty() && same == cursor);
    assert_eq!(client.set_active(&ids[1], false).await, StatusCode::OK);
    let next = eventually("the deactivation in the feed", || async {
        let (events, _) = drain(admin, &query, cursor.clone()).await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(summary(&next), [("com.acme.scim.user.deactivated".to_owned(), format!("Users/{}", ids[1]))]);

    // Refused: a cursor not from the API, one older than the retention, a tenant that does
    // not exist, a page size out of bounds, an unknown parameter.
    let expired = base64_url(b"v1.0.1.0");
    for (path, status) in [
        ("/admin/v1/events?after=bogus".to_owned(), StatusCode::BAD_REQUEST),
        (format!("/admin/v1/events?after={expired}"), StatusCode::GONE),
        ("/admin/v1/events?tenant=nosuch".to_owned(), StatusCode::NOT_FOUND),
        ("/admin/v1/events?limit=0".to_owned(), StatusCode::BAD_REQUEST),
        ("/admin/v1/events?limit=1001".to_owned(), StatusCode::BAD_REQUEST),
        ("/admin/v1/events?since=yesterday".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let (got, answer) = admin.call(Method::GET, &path, None).await;
        assert_eq!(got, status, "{path}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()), "{path}: {answer}");
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
