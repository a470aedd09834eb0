//! The product's APIs: manual accounts (`POST /v1/tenants/{tenant}/accounts`), the lookup by
//! email over HTTP (`?email=`) and gRPC (`FindAccounts`), and the JSON of accounts and teams.
//! The HTTP routes run in actix's test service.

use actix_web::http::StatusCode;
use actix_web::{App, test as actix_test, web};
use directory_store::Directory;
use directory_store::apply::Applied;
use directory_store::grpc::DirectoryService;
use proto::directory_server::Directory as _;
use proto::{FindAccountsRequest, ResourceKind};
use serde_json::{Value, json};

use crate::{TENANT, TestDirectory, account_event, apply, event, team_event};

/// Sends a request to the app and reads the JSON answer (`Null` when the body is empty).
macro_rules! send {
    ($app:expr, $request:expr) => {{
        let request = $request.insert_header(("authorization", format!("Bearer {}", crate::TOKEN)));
        let response = actix_test::call_service(&$app, request.to_request()).await;
        let status = response.status();
        let body = actix_test::read_body(response).await;
        let json: Value =
            if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).expect("a JSON body") };
        (status, json)
    }};
}

fn accounts_url(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/accounts")
}

fn post_account(body: &str) -> actix_test::TestRequest {
    actix_test::TestRequest::post()
        .uri(&accounts_url(TENANT))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned())
}

fn find(email: &str) -> actix_test::TestRequest {
    let query = email.replace('@', "%40").replace('+', "%2B");
    actix_test::TestRequest::get().uri(&format!("{}?email={query}", accounts_url(TENANT)))
}

/// A SCIM account event with an email.
fn scim_account(id: &str, version: i64, email: &str) -> proto::ChangeEvent {
    let mut event = account_event(id, version, id);
    if let Some(proto::change_event::Record::Account(record)) = &mut event.record {
        record.email = Some(email.to_owned());
    }
    event
}

/// A soft delete: the event still carries the account's data, email included.
fn deleted_scim_account(id: &str, version: i64, email: &str) -> proto::ChangeEvent {
    proto::ChangeEvent {
        event_type: "user.deleted".to_owned(),
        deleted: true,
        purge_after_micros: Some(1_900_000_000_000_000),
        ..scim_account(id, version, email)
    }
}

fn ids(body: &Value) -> Vec<String> {
    let accounts = body["accounts"].as_array().unwrap_or_else(|| panic!("an account list: {body}"));
    accounts.iter().map(|a| a["id"].as_str().expect("an id").to_owned()).collect()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, detail_contains: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    let detail = body["detail"].as_str().unwrap_or_else(|| panic!("a detail: {body}"));
    assert!(detail.contains(detail_contains), "{detail:?} should say {detail_contains:?}");
}

#[actix_web::test]
async fn manual_accounts_and_the_lookup_by_email_sqlite() {
    manual_accounts_and_the_lookup_by_email(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn manual_accounts_and_the_lookup_by_email_postgres() {
    manual_accounts_and_the_lookup_by_email(&TestDirectory::postgres()).await;
}

async fn manual_accounts_and_the_lookup_by_email(directory: &Directory) {
    let app = actix_test::init_service(
        App::new().app_data(web::Data::new(directory.clone())).configure(directory_store::http::routes),
    )
    .await;

    let (status, created) = send!(app, post_account(r#"{"email": " Alice@Example.com ", "given_name": "Alice"}"#));
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()), Ok(4));
    assert_eq!(
        created,
        json!({
            "id": id,
            "user_name": "Alice@Example.com",
            "external_id": null,
            "active": true,
            "email": "Alice@Example.com",
            "given_name": "Alice",
            "family_name": null,
            "display_name": null,
            "roles": [],
            "teams": [],
            "permissions": [],
            "custom_fields": {},
            "scim_user_id": null,
            "origin": "manual",
        })
    );
    let (status, read) = send!(app, actix_test::TestRequest::get().uri(&format!("{}/{id}", accounts_url(TENANT))));
    assert_eq!((status, &read), (StatusCode::OK, &created));

    // One live account per email, whatever its case.
    let (status, body) = send!(app, post_account(r#"{"email": "alice@EXAMPLE.com"}"#));
    assert_error(status, &body, StatusCode::CONFLICT, "already has this email");

    // Refused bodies say why.
    let refused = [
        (r#"{}"#, "email is required"),
        (r#"{"email": "alice"}"#, "'@'"),
        (r#"{"email": "@example.com"}"#, "'@'"),
        (r#"{"email": "alice@"}"#, "'@'"),
        (r#"{"email": "bob@example.com", "role": "admin"}"#, "unknown field `role`"),
        (r#"{"email": "bob@example.com", "user_name": 5}"#, "invalid request body"),
        (r#"["bob@example.com"]"#, "invalid request body"),
        ("not json", "invalid request body"),
    ];
    for (body, detail) in refused {
        let (status, answer) = send!(app, post_account(body));
        assert_error(status, &answer, StatusCode::BAD_REQUEST, detail);
    }
    let long = format!(r#"{{"email": "bob@example.com", "display_name": "{}"}}"#, "é".repeat(257));
    let (status, answer) = send!(app, post_account(&long));
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "display_name may be at most 256 characters");
    let just_fits = format!(r#"{{"email": "bob@example.com", "display_name": "{}"}}"#, "é".repeat(256));
    let (status, bob) = send!(app, post_account(&just_fits));
    assert_eq!(status, StatusCode::CREATED, "{bob}");

    // SCIM accounts with the email are found too; deleted ones are not.
    assert_eq!(apply(directory, &scim_account("s1", 1, "ALICE@example.com")), Applied::Applied);
    assert_eq!(apply(directory, &scim_account("s2", 1, "alice@example.com")), Applied::Applied);
    assert_eq!(apply(directory, &deleted_scim_account("s2", 2, "alice@example.com")), Applied::Applied);
    assert_eq!(apply(directory, &scim_account("s3", 1, "someone@example.com")), Applied::Applied);
    let (status, found) = send!(app, find("aLiCe@example.COM"));
    assert_eq!(status, StatusCode::OK, "{found}");
    let mut expected = vec![id.clone(), "s1".to_owned()];
    expected.sort();
    assert_eq!(ids(&found), expected);
    let manual = found["accounts"].as_array().expect("accounts").iter().find(|a| a["id"] == id.as_str()).cloned();
    assert_eq!(manual, Some(created.clone()));
    let (status, none) = send!(app, find("nobody@example.com"));
    assert_eq!((status, none), (StatusCode::OK, json!({ "accounts": [], "next_cursor": null })));

    // Another tenant's directory is its own.
    let other = actix_test::TestRequest::get().uri("/v1/tenants/other/accounts?email=alice%40example.com");
    let (status, theirs) = send!(app, other);
    assert_eq!((status, theirs), (StatusCode::OK, json!({ "accounts": [], "next_cursor": null })));

    // No filter: every live account of the tenant, paged.
    let (status, body) = send!(app, actix_test::TestRequest::get().uri(&accounts_url(TENANT)));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body).len(), 4, "alice, bob, s1 and s3: {body}");
    let (status, body) = send!(app, actix_test::TestRequest::get().uri(&format!("{}?email=", accounts_url(TENANT))));
    assert_error(status, &body, StatusCode::BAD_REQUEST, "email must not be blank");
    let (status, body) =
        send!(app, actix_test::TestRequest::get().uri(&format!("{}?mail=a%40b", accounts_url(TENANT))));
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid query");

    // A deleted account's email is free again, and the account is not found.
    let (status, body) = send!(app, post_account(r#"{"email": "someone@example.com"}"#));
    assert_error(status, &body, StatusCode::CONFLICT, "already has this email");
    assert_eq!(apply(directory, &deleted_scim_account("s3", 2, "someone@example.com")), Applied::Applied);
    let (status, body) = send!(app, actix_test::TestRequest::get().uri(&format!("{}/s3", accounts_url(TENANT))));
    assert_error(status, &body, StatusCode::NOT_FOUND, "account not found");
    let (status, body) = send!(app, post_account(r#"{"email": "someone@example.com", "user_name": "someone"}"#));
    assert_eq!(
        (status, body["user_name"].as_str(), body["origin"].as_str()),
        (StatusCode::CREATED, Some("someone"), Some("manual"))
    );

    // Teams show their permissions.
    let mut staff = team_event("t1", 1, "Staff", &["s1"]);
    if let Some(proto::change_event::Record::Team(record)) = &mut staff.record {
        record.permissions = vec!["billing.read".to_owned()];
    }
    assert_eq!(apply(directory, &staff), Applied::Applied);
    let (status, team) = send!(app, actix_test::TestRequest::get().uri(&format!("/v1/tenants/{TENANT}/teams/t1")));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        team,
        json!({
            "id": "t1",
            "name": "Staff",
            "external_id": null,
            "members": ["s1"],
            "member_count": 1,
            "permissions": ["billing.read"],
        })
    );
    let (_, s1) = send!(app, actix_test::TestRequest::get().uri(&format!("{}/s1", accounts_url(TENANT))));
    assert_eq!((&s1["scim_user_id"], &s1["origin"], &s1["teams"]), (&json!("s1"), &json!("scim"), &json!(["t1"])));
}

#[actix_web::test]
async fn find_accounts_answers_the_live_accounts_with_an_email_sqlite() {
    find_accounts_answers_the_live_accounts_with_an_email(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn find_accounts_answers_the_live_accounts_with_an_email_postgres() {
    find_accounts_answers_the_live_accounts_with_an_email(&TestDirectory::postgres()).await;
}

async fn find_accounts_answers_the_live_accounts_with_an_email(directory: &Directory) {
    let service = DirectoryService::new(directory.clone());
    let find = |tenant: &str, email: &str| {
        crate::authorized(FindAccountsRequest { tenant_id: tenant.to_owned(), email: email.to_owned() })
    };

    let manual = crate::manual_account(directory, "Carol@Example.com");
    assert_eq!(apply(directory, &scim_account("s1", 1, "carol@example.COM")), Applied::Applied);
    assert_eq!(apply(directory, &scim_account("s2", 1, "carol@example.com")), Applied::Applied);
    assert_eq!(apply(directory, &deleted_scim_account("s2", 2, "carol@example.com")), Applied::Applied);
    // A user event without an email, and one purged, are not found either.
    let purge = proto::ChangeEvent { deleted: true, ..scim_account("s4", 1, "carol@example.com") };
    let purge = proto::ChangeEvent { event_type: "user.purged".to_owned(), ..purge };
    assert_eq!(apply(directory, &purge), Applied::Applied);
    let no_email = event(
        "user.created",
        ResourceKind::User,
        "s5",
        1,
        proto::change_event::Record::Account(proto::Account { id: "s5".to_owned(), ..proto::Account::default() }),
    );
    assert_eq!(apply(directory, &no_email), Applied::Applied);

    let found = service.find_accounts(find(TENANT, " CAROL@example.com")).await.expect("FindAccounts").into_inner();
    let mut by_id: Vec<(String, String, String)> = found
        .accounts
        .iter()
        .map(|a| (a.id.clone(), a.scim_user_id.clone(), a.email.clone().unwrap_or_default()))
        .collect();
    by_id.sort();
    let mut expected = vec![
        (manual.id.clone(), String::new(), "Carol@Example.com".to_owned()),
        ("s1".to_owned(), "s1".to_owned(), "carol@example.COM".to_owned()),
    ];
    expected.sort();
    assert_eq!(by_id, expected);
    assert!(found.accounts.iter().all(|a| a.tenant_id == TENANT));

    let elsewhere = service.find_accounts(find("other", "carol@example.com")).await.expect("FindAccounts");
    assert!(elsewhere.into_inner().accounts.is_empty());
    for (tenant, email) in [("", "carol@example.com"), (TENANT, " ")] {
        let refused = service.find_accounts(find(tenant, email)).await.expect_err("an invalid request");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    }
}

#[test]
fn concurrent_creations_with_one_email_make_one_account_sqlite() {
    concurrent_creations_with_one_email_make_one_account(&TestDirectory::sqlite());
}

#[test]
fn concurrent_creations_with_one_email_make_one_account_postgres() {
    concurrent_creations_with_one_email_make_one_account(&TestDirectory::postgres());
}

fn concurrent_creations_with_one_email_make_one_account(directory: &Directory) {
    use directory_store::error::DirectoryError;
    use directory_store::manual::{self, NewAccount, NewAccountRequest};
    const WRITERS: usize = 8;
    let barrier = std::sync::Barrier::new(WRITERS);
    let outcomes: Vec<Result<String, DirectoryError>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let email = if n % 2 == 0 { "dave@example.com" } else { "DAVE@example.com" };
                    let request = NewAccountRequest {
                        email: Some(email.to_owned()),
                        user_name: None,
                        given_name: None,
                        family_name: None,
                        display_name: None,
                    };
                    let new = NewAccount::parse(request).expect("a valid account");
                    barrier.wait();
                    directory.write(|conn| manual::create(conn, TENANT, new)).map(|account| account.id)
                })
            })
            .collect();
        writers.into_iter().map(|writer| writer.join().expect("a writer")).collect()
    });
    let created = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let conflicts = outcomes.iter().filter(|outcome| matches!(outcome, Err(DirectoryError::Conflict(_)))).count();
    assert_eq!((created, conflicts), (1, WRITERS - 1), "{outcomes:?}");
    assert_eq!(crate::find_by_email(directory, "dave@example.com").len(), 1);
}
