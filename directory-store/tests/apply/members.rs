//! A team's members, paged: `GET /v1/tenants/{tenant}/teams/{id}/members?cursor=&limit=` and
//! gRPC `ListTeamMembers` (by account id, deleted accounts left out, an opaque cursor), the
//! `member_count` of the team body, and gRPC `GetTeam` answering without members.

use actix_web::http::StatusCode;
use actix_web::{App, test as actix_test, web};
use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::grpc::DirectoryService;
use proto::directory_server::Directory as _;
use proto::{ChangeEvent, GetTeamRequest, ListTeamMembersRequest, ListTeamMembersResponse};
use serde_json::{Value, json};

use crate::{TENANT, TestDirectory, account_event, apply, deleted_account_event, team_event};

macro_rules! send {
    ($app:expr, $uri:expr) => {{
        let request = actix_test::TestRequest::get()
            .uri(&$uri)
            .insert_header(("authorization", format!("Bearer {}", crate::TOKEN)))
            .to_request();
        let response = actix_test::call_service(&$app, request).await;
        let status = response.status();
        let body = actix_test::read_body(response).await;
        let json: Value = serde_json::from_slice(&body).expect("a JSON body");
        (status, json)
    }};
}

/// The live members of team `big`, in the order pages list them.
const LIVE: [&str; 11] = ["a01", "a02", "a03", "a05", "a06", "a07", "a08", "a09", "a10", "a11", "zz-pending"];

/// Team `big`: accounts a01..a11 (a04 deleted, then re-added by a late team event) and one member
/// whose account has not arrived yet; team `gone`, deleted; team `many` of 1,001 members.
fn populate(directory: &Directory) {
    // Accounts arrive in no particular order.
    for n in [7, 3, 11, 1, 9, 4, 2, 10, 5, 8, 6] {
        let id = format!("a{n:02}");
        assert_eq!(apply(directory, &account_event(&id, 1, &id)), Applied::Applied);
    }
    let added = ["a09", "zz-pending", "a02", "a11", "a04", "a01", "a07", "a03", "a10", "a05", "a08", "a06"];
    assert_eq!(apply(directory, &team_event("big", 1, "Big", &added)), Applied::Applied);
    assert_eq!(apply(directory, &deleted_account_event("a04", 2)), Applied::Applied);
    // A lagging partition still adds the deleted account: its row is stored, and not listed.
    assert_eq!(apply(directory, &team_event("big", 2, "Big", &["a04"])), Applied::Applied);

    assert_eq!(apply(directory, &team_event("gone", 1, "Gone", &["a01", "a02"])), Applied::Applied);
    let deleted = ChangeEvent {
        event_type: "group.deleted".to_owned(),
        deleted: true,
        removed_member_ids: vec!["a01".to_owned(), "a02".to_owned()],
        ..team_event("gone", 2, "Gone", &[])
    };
    assert_eq!(apply(directory, &deleted), Applied::Applied);

    let many: Vec<String> = (0..=1000).map(|n| format!("u{n:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(apply(directory, &team_event("many", 1, "Many", &many)), Applied::Applied);
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|&s| s.to_owned()).collect()
}

fn members_url(tenant: &str, team: &str, query: &str) -> String {
    format!("/v1/tenants/{tenant}/teams/{team}/members{query}")
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, detail: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body, &json!({ "status": expected.as_u16(), "detail": detail }));
}

#[actix_web::test]
async fn team_members_page_over_http_sqlite() {
    team_members_page_over_http(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn team_members_page_over_http_postgres() {
    team_members_page_over_http(&TestDirectory::postgres()).await;
}

async fn team_members_page_over_http(directory: &Directory) {
    populate(directory);
    let app = actix_test::init_service(
        App::new().app_data(web::Data::new(directory.clone())).configure(directory_store::http::routes),
    )
    .await;

    // Pages of 4, following the cursors: every live member once, in order, then `null`.
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut cursors: Vec<Value> = Vec::new();
    let mut query = "?limit=4".to_owned();
    loop {
        assert!(pages.len() < 10, "the pages do not end: {pages:?}");
        let (status, body) = send!(app, members_url(TENANT, "big", &query));
        assert_eq!(status, StatusCode::OK, "{body}");
        let object = body.as_object().expect("an object");
        assert_eq!(object.keys().collect::<Vec<_>>(), ["members", "next_cursor"], "{body}");
        pages.push(serde_json::from_value(body["members"].clone()).expect("a list of ids"));
        cursors.push(body["next_cursor"].clone());
        match body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?cursor={cursor}&limit=4"),
            None => break,
        }
    }
    assert_eq!(pages, vec![strings(&LIVE[0..4]), strings(&LIVE[4..8]), strings(&LIVE[8..])]);
    // The cursor is the page's last account id in URL-safe base64: "a05", "a09".
    assert_eq!(cursors, vec![json!("YTA1"), json!("YTA5"), Value::Null]);

    // A page that ends exactly at the last member has no next page; one short of it has.
    let (status, body) = send!(app, members_url(TENANT, "big", "?limit=11"));
    assert_eq!((status, body), (StatusCode::OK, json!({ "members": LIVE, "next_cursor": null })));
    let (status, body) = send!(app, members_url(TENANT, "big", "?limit=10"));
    assert_eq!((status, body), (StatusCode::OK, json!({ "members": LIVE[..10], "next_cursor": "YTEx" })));
    let (status, body) = send!(app, members_url(TENANT, "big", "?cursor=YTEx&limit=10"));
    assert_eq!((status, body), (StatusCode::OK, json!({ "members": ["zz-pending"], "next_cursor": null })));
    // The bounds, and an empty cursor (the first page).
    let (status, body) = send!(app, members_url(TENANT, "big", "?limit=1&cursor="));
    assert_eq!((status, body), (StatusCode::OK, json!({ "members": ["a01"], "next_cursor": "YTAx" })));
    let (status, body) = send!(app, members_url(TENANT, "big", "?limit=10000"));
    assert_eq!((status, body), (StatusCode::OK, json!({ "members": LIVE, "next_cursor": null })));
    // The last page's cursor: nothing after it.
    let (status, body) = send!(app, members_url(TENANT, "big", "?cursor=enotcGVuZGluZw"));
    assert_eq!((status, body), (StatusCode::OK, json!({ "members": [], "next_cursor": null })));

    // 1,000 by default.
    let (status, first) = send!(app, members_url(TENANT, "many", ""));
    assert_eq!(status, StatusCode::OK, "{first}");
    let expected: Vec<String> = (0..1000).map(|n| format!("u{n:04}")).collect();
    assert_eq!(first["members"], json!(expected));
    assert_eq!(first["next_cursor"], json!("dTA5OTk"));
    let (status, rest) = send!(app, members_url(TENANT, "many", "?cursor=dTA5OTk"));
    assert_eq!((status, rest), (StatusCode::OK, json!({ "members": ["u1000"], "next_cursor": null })));

    // The team body keeps its whole member list and counts it.
    let (status, team) = send!(app, format!("/v1/tenants/{TENANT}/teams/big"));
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(
        team,
        json!({
            "id": "big", "name": "Big", "external_id": null, "members": LIVE, "member_count": 11, "permissions": []
        })
    );
    let (status, team) = send!(app, format!("/v1/tenants/{TENANT}/teams/many"));
    assert_eq!(
        (status, &team["member_count"], team["members"].as_array().map(Vec::len)),
        (StatusCode::OK, &json!(1001), Some(1001))
    );

    // Refused queries.
    let limit = "limit must be a whole number from 1 to 10000";
    for (query, detail) in [
        ("?limit=0", format!("{limit}, not \"0\"")),
        ("?limit=20000", format!("{limit}, not \"20000\"")),
        ("?limit=10001", format!("{limit}, not \"10001\"")),
        ("?limit=-1", format!("{limit}, not \"-1\"")),
        ("?limit=ten", format!("{limit}, not \"ten\"")),
        ("?limit=", format!("{limit}, not \"\"")),
        ("?cursor=!!!!", "the cursor is not one this API returned".to_owned()),
        ("?cursor=YTA1%3D", "the cursor is not one this API returned".to_owned()),
        ("?cursor=_w", "the cursor is not one this API returned".to_owned()),
        ("?cursor=a", "the cursor is not one this API returned".to_owned()),
    ] {
        let (status, body) = send!(app, members_url(TENANT, "big", query));
        assert_error(status, &body, StatusCode::BAD_REQUEST, &detail);
    }
    for query in ["?page=2", "?limit=4&offset=4", "?limit=4&limit=5"] {
        let (status, body) = send!(app, members_url(TENANT, "big", query));
        assert_eq!((status, &body["status"]), (StatusCode::BAD_REQUEST, &json!(400)), "{query}: {body}");
        let detail = body["detail"].as_str().expect("a detail");
        assert!(detail.starts_with("invalid query: "), "{query}: {detail}");
    }

    // Unknown, deleted, or another tenant's: 404.
    for url in [
        members_url(TENANT, "nope", ""),
        members_url(TENANT, "gone", ""),
        members_url(TENANT, "gone", "?limit=4"),
        members_url("other", "big", ""),
    ] {
        let (status, body) = send!(app, url);
        assert_error(status, &body, StatusCode::NOT_FOUND, "team not found");
    }
}

#[actix_web::test]
async fn list_team_members_pages_over_grpc_and_get_team_has_no_members_sqlite() {
    list_team_members_pages_over_grpc_and_get_team_has_no_members(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn list_team_members_pages_over_grpc_and_get_team_has_no_members_postgres() {
    list_team_members_pages_over_grpc_and_get_team_has_no_members(&TestDirectory::postgres()).await;
}

async fn list_team_members_pages_over_grpc_and_get_team_has_no_members(directory: &Directory) {
    populate(directory);
    let service = DirectoryService::new(directory.clone());
    let request = |tenant: &str, team: &str, cursor: &str, limit: u32| {
        crate::authorized(ListTeamMembersRequest {
            tenant_id: tenant.to_owned(),
            team_id: team.to_owned(),
            cursor: cursor.to_owned(),
            limit,
        })
    };

    let mut pages: Vec<ListTeamMembersResponse> = Vec::new();
    let mut cursor = String::new();
    loop {
        assert!(pages.len() < 10, "the pages do not end: {pages:?}");
        let page = service.list_team_members(request(TENANT, "big", &cursor, 4)).await.expect("a page").into_inner();
        cursor = page.next_cursor.clone();
        pages.push(page);
        if cursor.is_empty() {
            break;
        }
    }
    let page = |members: &[&str], next: &str| ListTeamMembersResponse {
        member_ids: strings(members),
        next_cursor: next.to_owned(),
    };
    assert_eq!(pages, vec![page(&LIVE[0..4], "YTA1"), page(&LIVE[4..8], "YTA5"), page(&LIVE[8..], "")]);

    // 0 is the default (1,000); 10,000 at most.
    let all = service.list_team_members(request(TENANT, "big", "", 0)).await.expect("a page").into_inner();
    assert_eq!(all, page(&LIVE, ""));
    let first = service.list_team_members(request(TENANT, "many", "", 0)).await.expect("a page").into_inner();
    let expected: Vec<String> = (0..1000).map(|n| format!("u{n:04}")).collect();
    assert_eq!((first.member_ids, first.next_cursor.as_str()), (expected, "dTA5OTk"));
    let rest = service.list_team_members(request(TENANT, "many", "dTA5OTk", 10_000)).await.expect("a page");
    assert_eq!(rest.into_inner(), page(&["u1000"], ""));

    for (refused, detail) in [
        (request(TENANT, "big", "", 10_001), "limit must be a whole number from 1 to 10000, not \"10001\""),
        (request(TENANT, "big", "", u32::MAX), "limit must be a whole number from 1 to 10000, not \"4294967295\""),
        (request(TENANT, "big", "!!!!", 4), "the cursor is not one this API returned"),
        (request(TENANT, "big", "YTA1=", 4), "the cursor is not one this API returned"),
        (request("", "big", "", 4), "tenant_id is required"),
        (request(TENANT, "", "", 4), "team_id is required"),
    ] {
        let status = service.list_team_members(refused).await.expect_err("an invalid request");
        assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, detail));
    }
    for (tenant, team) in [(TENANT, "nope"), (TENANT, "gone"), ("other", "big")] {
        let status = service.list_team_members(request(tenant, team, "", 4)).await.expect_err("no such team");
        assert_eq!((status.code(), status.message()), (tonic::Code::NotFound, "team not found"));
    }

    // GetTeam answers the team without its members.
    let get = |id: &str| crate::authorized(GetTeamRequest { tenant_id: TENANT.to_owned(), id: id.to_owned() });
    let team = service.get_team(get("big")).await.expect("the team").into_inner();
    let expected = proto::Team {
        id: "big".to_owned(),
        tenant_id: TENANT.to_owned(),
        name: "Big".to_owned(),
        external_id: None,
        member_ids: Vec::new(),
        permissions: Vec::new(),
    };
    assert_eq!(team, expected);
    let many = service.get_team(get("many")).await.expect("the team").into_inner();
    assert_eq!((many.name.as_str(), many.member_ids.len()), ("Many", 0));
    let status = service.get_team(get("gone")).await.expect_err("a deleted team");
    assert_eq!(status.code(), tonic::Code::NotFound);
    // The members are still there for the other reads.
    assert_eq!(crate::team(directory, "big").expect("the team").member_ids, strings(&LIVE));
}
