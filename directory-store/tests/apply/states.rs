//! The states of a tenant's accounts and teams, for reconciliation (`ListAccountStates`,
//! `ListTeamStates` and their HTTP equivalents): every record, deleted and purged ones too, by id
//! in pages, each team with its count of live members, in a bounded number of statements.

use actix_web::http::StatusCode;
use actix_web::{App, test as actix_test, web};
use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::grpc::DirectoryService;
use proto::directory_server::Directory as _;
use proto::{AccountState, ChangeEvent, ListStatesRequest, ListTeamMembersRequest, TeamState};
use serde_json::{Value, json};

use crate::{TENANT, TestDirectory, account_event, apply, deleted_account_event, team_event};

fn request(tenant: &str, after: &str, limit: u32) -> tonic::Request<ListStatesRequest> {
    crate::authorized(ListStatesRequest { tenant_id: tenant.to_owned(), after_id: after.to_owned(), limit })
}

/// Every account state of the tenant, walked `limit` at a time as a client would.
async fn all_account_states(service: &DirectoryService, limit: u32) -> Vec<AccountState> {
    let mut all: Vec<AccountState> = Vec::new();
    loop {
        let after = all.last().map(|state| state.id.clone()).unwrap_or_default();
        let page = service.list_account_states(request(TENANT, &after, limit)).await.expect("a page").into_inner();
        let last = page.accounts.len() < limit as usize;
        all.extend(page.accounts);
        if last {
            return all;
        }
    }
}

async fn all_team_states(service: &DirectoryService, limit: u32) -> Vec<TeamState> {
    let mut all: Vec<TeamState> = Vec::new();
    loop {
        let after = all.last().map(|state| state.id.clone()).unwrap_or_default();
        let page = service.list_team_states(request(TENANT, &after, limit)).await.expect("a page").into_inner();
        let last = page.teams.len() < limit as usize;
        all.extend(page.teams);
        if last {
            return all;
        }
    }
}

fn account_state(id: &str, version: i64, deleted: bool, purged: bool) -> AccountState {
    AccountState {
        id: id.to_owned(),
        scim_user_id: id.to_owned(),
        version,
        deleted,
        purged,
        active: !deleted,
        origin: "scim".to_owned(),
    }
}

fn team_state(id: &str, version: i64, deleted: bool, member_count: u64) -> TeamState {
    TeamState { id: id.to_owned(), version, deleted, member_count }
}

/// The same event for another tenant.
fn elsewhere(event: ChangeEvent) -> ChangeEvent {
    let mut event = ChangeEvent { tenant_id: "other".to_owned(), ..event };
    match &mut event.record {
        Some(proto::change_event::Record::Account(account)) => account.tenant_id = "other".to_owned(),
        Some(proto::change_event::Record::Team(team)) => team.tenant_id = "other".to_owned(),
        None => {}
    }
    event
}

#[actix_web::test]
async fn every_state_is_listed_by_id_in_pages_sqlite() {
    every_state_is_listed_by_id_in_pages(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn every_state_is_listed_by_id_in_pages_postgres() {
    every_state_is_listed_by_id_in_pages(&TestDirectory::postgres()).await;
}

async fn every_state_is_listed_by_id_in_pages(directory: &Directory) {
    for id in ["u1", "u2", "u3", "u4", "u5"] {
        assert_eq!(apply(directory, &account_event(id, 1, id)), Applied::Applied);
    }
    assert_eq!(apply(directory, &account_event("u2", 4, "u2.b")), Applied::Applied);
    assert_eq!(apply(directory, &deleted_account_event("u3", 2)), Applied::Applied);
    let purge = ChangeEvent { event_type: "user.purged".to_owned(), ..deleted_account_event("u4", 3) };
    assert_eq!(apply(directory, &purge), Applied::Applied);
    let manual = crate::manual_account(directory, "carol@example.com");
    assert_eq!(apply(directory, &elsewhere(account_event("u6", 1, "theirs"))), Applied::Applied);

    // t1: u1, u2, u3 (deleted, left out) and a member whose account the directory has not
    // seen (listed by ListTeamMembers, so counted). t2: deleted. t3: no members. t4: u5.
    assert_eq!(apply(directory, &team_event("t1", 1, "One", &["u1", "u2", "u3", "unseen"])), Applied::Applied);
    assert_eq!(apply(directory, &team_event("t2", 1, "Two", &["u1", "u2"])), Applied::Applied);
    let deleted =
        ChangeEvent { event_type: "group.deleted".to_owned(), deleted: true, ..team_event("t2", 2, "Two", &[]) };
    assert_eq!(apply(directory, &deleted), Applied::Applied);
    assert_eq!(apply(directory, &team_event("t3", 5, "Three", &[])), Applied::Applied);
    assert_eq!(apply(directory, &team_event("t4", 1, "Four", &["u5"])), Applied::Applied);
    assert_eq!(apply(directory, &elsewhere(team_event("t1", 1, "Theirs", &["u6", "u7"]))), Applied::Applied);
    assert_eq!(apply(directory, &elsewhere(team_event("t35", 1, "Theirs", &["u6"]))), Applied::Applied);

    let service = DirectoryService::new(directory.clone());
    let mut expected_accounts = vec![
        account_state("u1", 1, false, false),
        account_state("u2", 4, false, false),
        account_state("u3", 2, true, false),
        account_state("u4", 3, true, true),
        account_state("u5", 1, false, false),
        AccountState {
            id: manual.id.clone(),
            scim_user_id: String::new(),
            version: 0,
            deleted: false,
            purged: false,
            active: true,
            origin: "manual".to_owned(),
        },
    ];
    expected_accounts.sort_by(|a, b| a.id.cmp(&b.id));
    for limit in [1, 2, 4, 6, 0] {
        let limit_or_default = if limit == 0 { 1000 } else { limit };
        assert_eq!(all_account_states(&service, limit_or_default).await, expected_accounts, "limit {limit}");
    }
    let page = service.list_account_states(request(TENANT, "u2", 2)).await.expect("a page").into_inner();
    assert_eq!(
        page.accounts,
        expected_accounts[expected_accounts.iter().position(|a| a.id == "u3").expect("u3")..][..2]
    );

    let expected_teams = vec![
        team_state("t1", 1, false, 3),
        team_state("t2", 2, true, 0),
        team_state("t3", 5, false, 0),
        team_state("t4", 1, false, 1),
    ];
    for limit in [1, 2, 3, 1000] {
        assert_eq!(all_team_states(&service, limit).await, expected_teams, "limit {limit}");
    }
    // The count is what ListTeamMembers lists.
    let members = service
        .list_team_members(crate::authorized(ListTeamMembersRequest {
            tenant_id: TENANT.to_owned(),
            team_id: "t1".to_owned(),
            cursor: String::new(),
            limit: 0,
        }))
        .await
        .expect("the members")
        .into_inner();
    assert_eq!(members.member_ids, ["u1", "u2", "unseen"]);

    // A page of teams is two queries (in one read transaction) however many teams it holds.
    let statements = |limit: u32, after: &'static str| {
        let service = DirectoryService::new(directory.clone());
        async move {
            let before = directory.database().statements();
            service.list_team_states(request(TENANT, after, limit)).await.expect("a page");
            directory.database().statements() - before
        }
    };
    let one = statements(1, "t3").await;
    assert_eq!(statements(4, "").await, one);
    assert_eq!(statements(1000, "").await, one);

    // Bad requests.
    for (tenant, limit) in [("", 0), (TENANT, 10_001)] {
        let refused = service.list_account_states(request(tenant, "", limit)).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        let refused = service.list_team_states(request(tenant, "", limit)).await.expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    }
    assert!(service.list_account_states(request(TENANT, "", 10_000)).await.is_ok());
    let none = service.list_team_states(request("nobody", "", 0)).await.expect("an empty page").into_inner();
    assert!(none.teams.is_empty());

    // Over HTTP.
    let app = actix_test::init_service(
        App::new().app_data(web::Data::new(directory.clone())).configure(directory_store::http::routes),
    )
    .await;
    let get = |uri: String| {
        actix_test::TestRequest::get()
            .uri(&uri)
            .insert_header(("authorization", format!("Bearer {}", crate::TOKEN)))
            .to_request()
    };
    let read = |response: actix_web::dev::ServiceResponse| async move {
        let status = response.status();
        let body: Value = serde_json::from_slice(&actix_test::read_body(response).await).expect("a JSON body");
        (status, body)
    };
    let (status, body) = read(
        actix_test::call_service(&app, get(format!("/v1/tenants/{TENANT}/account-states?after=u2&limit=2"))).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "accounts": [
            {
                "id": "u3", "scim_user_id": "u3", "version": 2,
                "deleted": true, "purged": false, "active": false, "origin": "scim",
            },
            {
                "id": "u4", "scim_user_id": "u4", "version": 3,
                "deleted": true, "purged": true, "active": false, "origin": "scim",
            },
        ]})
    );
    let (status, body) = read(
        actix_test::call_service(&app, get(format!("/v1/tenants/{TENANT}/account-states?after={}", manual.id))).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after_manual: Vec<&str> =
        expected_accounts.iter().map(|a| a.id.as_str()).filter(|id| *id > manual.id.as_str()).collect();
    let listed: Vec<&str> =
        body["accounts"].as_array().expect("accounts").iter().map(|a| a["id"].as_str().expect("an id")).collect();
    assert_eq!(listed, after_manual);
    let manual_state = json!({
        "id": manual.id, "scim_user_id": null, "version": 0,
        "deleted": false, "purged": false, "active": true, "origin": "manual",
    });
    let (_, body) =
        read(actix_test::call_service(&app, get(format!("/v1/tenants/{TENANT}/account-states?limit=10000"))).await)
            .await;
    assert!(body["accounts"].as_array().expect("accounts").contains(&manual_state), "{body}");

    let (status, body) =
        read(actix_test::call_service(&app, get(format!("/v1/tenants/{TENANT}/team-states?after=t1&limit=2"))).await)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "teams": [
            { "id": "t2", "version": 2, "deleted": true, "member_count": 0 },
            { "id": "t3", "version": 5, "deleted": false, "member_count": 0 },
        ]})
    );
    let (_, body) = read(actix_test::call_service(&app, get(format!("/v1/tenants/{TENANT}/team-states"))).await).await;
    assert_eq!(body["teams"][0], json!({ "id": "t1", "version": 1, "deleted": false, "member_count": 3 }));
    for query in ["limit=0", "limit=10001", "limit=ten", "cursor=abc"] {
        for resource in ["account-states", "team-states"] {
            let (status, body) =
                read(actix_test::call_service(&app, get(format!("/v1/tenants/{TENANT}/{resource}?{query}"))).await)
                    .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{resource}?{query}: {body}");
        }
    }
}
