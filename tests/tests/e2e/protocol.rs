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

    // /Me is not implemented, in SCIM's words.
    let (status, error) = client.scim(Method::GET, "/Me", None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(error["status"], "501");
}
