//! The directory read API as a product uses it, on the embedded default: service credentials
//! issued with the command line (stored hashed), required on every HTTP route and gRPC method,
//! scoped to a tenant and to read or write; accounts listed and looked up by each of their keys
//! (externalId, userName, email, SCIM user id, active, team) with cursor paging; teams listed
//! with their member counts; a revoked credential refused at once.

use proto::directory_client::DirectoryClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Standalone, eventually, id_of};

struct Directory {
    http: reqwest::Client,
    url: String,
}

impl Directory {
    async fn call(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("directory request");
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every account of a listing, following the cursor `limit` at a time.
    async fn all_accounts(&self, token: &str, query: &str, limit: usize) -> Vec<Value> {
        let mut accounts = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/tenants/default/accounts?limit={limit}&cursor={cursor}{query}");
            let (status, page) = self.call(Some(token), Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            let listed = page["accounts"].as_array().expect("accounts");
            assert!(listed.len() <= limit, "{page}");
            accounts.extend(listed.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return accounts,
            }
        }
    }
}

fn user_names(accounts: &[Value]) -> Vec<&str> {
    let mut names: Vec<&str> = accounts.iter().map(|a| a["user_name"].as_str().unwrap_or_default()).collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_api_needs_a_credential_and_finds_accounts_by_every_key() {
    let standalone = Standalone::start().await;
    let client = &standalone.client;
    let directory = Directory { http: reqwest::Client::new(), url: client.endpoints.directory.clone() };

    let issued = standalone.directory_credentials(&["issue", "billing", "--tenant", "default"]);
    let reader = issued["token"].as_str().expect("the token, shown once").to_owned();
    assert!(reader.starts_with("dirsvc_"), "{issued}");
    assert_eq!(
        (issued["credential"]["scope"].as_str(), issued["credential"]["tenant_id"].as_str()),
        (Some("read"), Some("default"))
    );
    let writer = standalone.directory_credentials(&["issue", "onboarding", "--scope", "write"])["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let listed = standalone.directory_credentials(&["list"]);
    let listed = listed["credentials"].as_array().expect("credentials");
    assert!(listed.iter().any(|c| c["name"] == "billing") && listed.iter().all(|c| c.get("token").is_none()));
    assert!(!serde_json::to_string(listed).unwrap().contains(&reader), "the list never shows a token");

    // Three users and a team of two, through SCIM.
    let mut ids = Vec::new();
    for (name, external, email) in [
        ("ann@acme.example", "oid-ann", "Ann@Acme.example"),
        ("bob@acme.example", "oid-bob", "bob@acme.example"),
        ("cy@acme.example", "oid-cy", "cy@acme.example"),
    ] {
        let body = json!({"userName": name, "externalId": external, "emails": [{"value": email, "primary": true}]});
        let (status, user) = client.scim(Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        ids.push(id_of(&user));
    }
    let members = json!([{"value": ids[0]}, {"value": ids[1]}]);
    let (status, group) = client
        .scim(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Billing", "externalId": "oid-g", "members": members})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let team = id_of(&group);
    eventually("the team and its members in the directory", || async {
        let (status, body) =
            directory.call(Some(&reader), Method::GET, &format!("/v1/tenants/default/teams/{team}"), None).await;
        (status == StatusCode::OK && body["member_count"] == 2 && body["members"].as_array().is_some()).then_some(())
    })
    .await;

    // No credential, an unknown one, another tenant's path, a write with a read credential.
    let account = format!("/v1/tenants/default/accounts/{}", ids[0]);
    for (token, method, path, body, status) in [
        (None, Method::GET, account.clone(), None, StatusCode::UNAUTHORIZED),
        (Some("dirsvc_not_issued"), Method::GET, account.clone(), None, StatusCode::UNAUTHORIZED),
        (Some(reader.as_str()), Method::GET, "/v1/tenants/globex/accounts".to_owned(), None, StatusCode::FORBIDDEN),
        (Some(reader.as_str()), Method::GET, "/v1/dead-letters".to_owned(), None, StatusCode::FORBIDDEN),
        (None, Method::GET, "/v1/tenants/default/teams".to_owned(), None, StatusCode::UNAUTHORIZED),
        (
            Some(reader.as_str()),
            Method::POST,
            "/v1/tenants/default/accounts".to_owned(),
            Some(json!({"email": "new@acme.example"})),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (got, answer) = directory.call(token, method.clone(), &path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()), "{answer}");
    }
    let (status, made) = directory
        .call(Some(&writer), Method::POST, "/v1/tenants/default/accounts", Some(json!({"email": "dee@acme.example"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "a write credential makes manual accounts: {made}");

    // Listing: every account once across pages of two; then by each key.
    let all = directory.all_accounts(&reader, "", 2).await;
    assert_eq!(user_names(&all), ["ann@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example"]);
    for (query, expected) in [
        ("&external_id=oid-bob", vec!["bob@acme.example"]),
        ("&user_name=cy%40acme.example", vec!["cy@acme.example"]),
        ("&email=ann%40ACME.example", vec!["ann@acme.example"]),
        (&*format!("&scim_user_id={}", ids[2]), vec!["cy@acme.example"]),
        (&*format!("&team={team}"), vec!["ann@acme.example", "bob@acme.example"]),
        (&*format!("&team={team}&external_id=oid-ann"), vec!["ann@acme.example"]),
        ("&external_id=nobody", vec![]),
    ] {
        let found = directory.all_accounts(&reader, query, 1000).await;
        assert_eq!(user_names(&found), expected, "{query}");
    }
    let by_team = directory.all_accounts(&reader, &format!("&team={team}"), 1000).await;
    assert!(by_team.iter().all(|a| a["teams"] == json!([team])), "{by_team:?}");
    // Active: after a deactivation, the filter sees it.
    assert_eq!(client.set_active(&ids[1], false).await, StatusCode::OK);
    let inactive = eventually("bob inactive in the directory", || async {
        let found = directory.all_accounts(&reader, "&active=false", 1000).await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(user_names(&inactive), ["bob@acme.example"]);
    for bad in ["&active=yes", "&limit=0", "&limit=1001", "&cursor=%21", "&email=", "&colour=blue"] {
        let (status, answer) = directory
            .call(Some(&reader), Method::GET, &format!("/v1/tenants/default/accounts?x{bad}").replace("?x&", "?"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
    }

    // Teams: listed with their member counts, by name or externalId.
    let (status, teams) =
        directory.call(Some(&reader), Method::GET, "/v1/tenants/default/teams?name=Billing", None).await;
    assert_eq!(status, StatusCode::OK, "{teams}");
    assert_eq!(
        teams["teams"],
        json!([{"id": team, "name": "Billing", "external_id": "oid-g", "permissions": [], "member_count": 2}])
    );
    assert_eq!(teams["next_cursor"], Value::Null);
    let (_, none) =
        directory.call(Some(&reader), Method::GET, "/v1/tenants/default/teams?external_id=other", None).await;
    assert_eq!(none["teams"], json!([]));

    // gRPC: the same credentials in `authorization` metadata.
    let mut grpc = DirectoryClient::connect(standalone.directory_grpc.clone()).await.expect("the directory's gRPC");
    let get = |tenant: &str, token: Option<&str>| {
        let mut request =
            tonic::Request::new(proto::GetAccountRequest { tenant_id: tenant.to_owned(), id: ids[0].clone() });
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("metadata"));
        }
        request
    };
    let refused = grpc.get_account(get("default", None)).await.expect_err("no credential");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let refused = grpc.get_account(get("globex", Some(&reader))).await.expect_err("another tenant");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let found = grpc.get_account(get("default", Some(&reader))).await.expect("with the credential").into_inner();
    assert_eq!(found.user_name, "ann@acme.example");
    // Listing over gRPC: the same filters and cursor paging.
    fn authorized<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("metadata"));
        request
    }
    let mut listed_names = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = grpc
            .list_accounts(authorized(
                &reader,
                proto::ListAccountsRequest {
                    tenant_id: "default".to_owned(),
                    cursor: cursor.clone(),
                    limit: 3,
                    ..Default::default()
                },
            ))
            .await
            .expect("ListAccounts")
            .into_inner();
        assert!(page.accounts.len() <= 3);
        listed_names.extend(page.accounts.into_iter().map(|a| a.user_name));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    listed_names.sort();
    assert_eq!(listed_names, ["ann@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example"]);
    let members = grpc
        .list_accounts(authorized(
            &reader,
            proto::ListAccountsRequest {
                tenant_id: "default".to_owned(),
                team_id: Some(team.clone()),
                active: Some(true),
                ..Default::default()
            },
        ))
        .await
        .expect("ListAccounts by team")
        .into_inner();
    let member_names: Vec<&str> = members.accounts.iter().map(|a| a.user_name.as_str()).collect();
    assert_eq!(member_names, ["ann@acme.example"], "bob is inactive");
    let blank = grpc
        .list_accounts(authorized(
            &reader,
            proto::ListAccountsRequest {
                tenant_id: "default".to_owned(),
                email: Some(" ".to_owned()),
                ..Default::default()
            },
        ))
        .await
        .expect_err("a blank filter");
    assert_eq!(blank.code(), tonic::Code::InvalidArgument, "{blank:?}");
    let teams = grpc
        .list_teams(authorized(
            &reader,
            proto::ListTeamsRequest {
                tenant_id: "default".to_owned(),
                external_id: Some("oid-g".to_owned()),
                ..Default::default()
            },
        ))
        .await
        .expect("ListTeams")
        .into_inner();
    assert_eq!(teams.teams.len(), 1, "{teams:?}");
    assert_eq!((teams.teams[0].name.as_str(), teams.teams[0].member_count), ("Billing", 2));
    let other_tenant = grpc
        .list_teams(authorized(
            &reader,
            proto::ListTeamsRequest { tenant_id: "globex".to_owned(), ..Default::default() },
        ))
        .await
        .expect_err("another tenant");
    assert_eq!(other_tenant.code(), tonic::Code::PermissionDenied);

    // Revoked: refused at once, over both.
    let billing_id =
        listed.iter().find(|c| c["name"] == "billing").expect("billing")["id"].as_str().expect("an id").to_owned();
    standalone.directory_credentials(&["revoke", &billing_id]);
    let (status, _) = directory.call(Some(&reader), Method::GET, &account, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refused = grpc.get_account(get("default", Some(&reader))).await.expect_err("revoked");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}
