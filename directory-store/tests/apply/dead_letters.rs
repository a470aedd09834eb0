//! Dead letters: what the consumer's applier (the part of the Kafka consumer that needs no broker)
//! does with a message it cannot apply. A payload that is not a change event is set aside at once;
//! an event that fails to apply is retried, then set aside once it failed five times in a row with
//! the database answering; a database that does not answer is waited for, never taken for
//! poison. Either way the offset is stored with the dead letter and the partition goes on, and a
//! later event of the resource repairs it. Dead letters are listed over gRPC and HTTP, counted in
//! the metrics and reported by readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, test as actix_test, web};
use diesel::prelude::*;
use directory_store::apply::{Applied, stored_offsets};
use directory_store::consumer::{Applier, Backoff, Item};
use directory_store::dead_letter::{self, DeadLetterRecord, POISON_FAILURES};
use directory_store::grpc::DirectoryService;
use directory_store::schema::dead_letters;
use directory_store::{Directory, observe};
use prost::Message;
use proto::change_event::Record;
use proto::directory_server::Directory as _;
use proto::{ChangeEvent, ListDeadLettersRequest, Team};
use serde_json::{Value, json};

use crate::{TENANT, TestDirectory, account, account_event, apply, stored_account};

const TOPIC: &str = "scim.changes";

/// Not a change event: field 1, length-delimited, announces 5 bytes and holds 1.
const TRUNCATED: [u8; 3] = [0x0a, 0x05, b'a'];

/// The dead letters stored (of `tenant`, or all), newest first, and how many.
pub(crate) fn stored(directory: &Directory, tenant: Option<&str>) -> (Vec<DeadLetterRecord>, i64) {
    directory.read(|conn| dead_letter::list(conn, tenant, 1000)).expect("listing the dead letters")
}

fn payloads(directory: &Directory) -> Vec<Vec<u8>> {
    let query = dead_letters::table.select(dead_letters::payload).order(dead_letters::id.asc());
    directory.read(|conn| Ok(query.load(conn)?)).expect("the stored payloads")
}

fn offsets(directory: &Directory) -> Vec<(i32, i64)> {
    directory.read(|conn| stored_offsets(conn, TOPIC)).expect("the stored offsets")
}

fn item(partition: i32, offset: i64, payload: Vec<u8>) -> Item {
    Item { message: crate::offsets::received(partition, offset, &payload), span: tracing::Span::none() }
}

/// Retries at once, so that a test does not wait for the production backoff.
fn quick() -> Backoff {
    Backoff { first: Duration::from_millis(1), max: Duration::from_millis(2) }
}

/// An applier whose probe of the database answers `answering`, counting how often it is asked.
fn applier(directory: &Directory, answering: &Arc<AtomicBool>, probes: &Arc<AtomicUsize>) -> Applier {
    let (answering, probes) = (answering.clone(), probes.clone());
    let probe = move |_: &Directory| {
        probes.fetch_add(1, Ordering::SeqCst);
        answering.load(Ordering::SeqCst)
    };
    Applier::with_probe(directory.clone(), quick(), Arc::new(probe))
}

/// A user event that carries a team: `apply_event` refuses it, every time.
fn poison(id: &str, version: i64) -> ChangeEvent {
    let team = Team { id: id.to_owned(), tenant_id: TENANT.to_owned(), ..Team::default() };
    ChangeEvent { record: Some(Record::Team(team)), ..account_event(id, version, "never applied") }
}

/// The value of one sample of the process's metrics (0 when absent).
fn sample(series: &str) -> f64 {
    let text = platform::metrics::render();
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.parse().expect("a sample value"))
}

macro_rules! get {
    ($app:expr, $uri:expr) => {{
        let response = actix_test::call_service(
            &$app,
            actix_test::TestRequest::get()
                .uri($uri)
                .insert_header(("authorization", format!("Bearer {}", crate::TOKEN)))
                .to_request(),
        )
        .await;
        let status = response.status();
        let body: Value = serde_json::from_slice(&actix_test::read_body(response).await).expect("a JSON body");
        (status, body)
    }};
}

#[actix_web::test]
async fn a_payload_that_is_not_a_change_event_is_set_aside_at_once_sqlite() {
    a_payload_that_is_not_a_change_event_is_set_aside_at_once(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn a_payload_that_is_not_a_change_event_is_set_aside_at_once_postgres() {
    a_payload_that_is_not_a_change_event_is_set_aside_at_once(&TestDirectory::postgres()).await;
}

async fn a_payload_that_is_not_a_change_event_is_set_aside_at_once(directory: &Directory) {
    let (answering, probes) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
    let mut applier = applier(directory, &answering, &probes);
    let before = sample("scimsvc_directory_dead_letters_total{cause=\"undecodable\"}");
    let items = vec![
        item(0, 0, account_event("u1", 1, "alice").encode_to_vec()),
        item(0, 1, TRUNCATED.to_vec()),
        item(0, 2, account_event("u2", 1, "bob").encode_to_vec()),
    ];
    assert!(applier.apply_all(items, &mut std::future::pending()).await);

    // Nothing failed, so nothing was retried nor the database asked.
    assert_eq!(probes.load(Ordering::SeqCst), 0);
    assert_eq!((account(directory, "u1").is_ok(), account(directory, "u2").is_ok()), (true, true));
    assert_eq!(offsets(directory), [(0, 3)]);
    let (letters, total) = stored(directory, None);
    assert_eq!(total, 1);
    let DeadLetterRecord { topic, partition, offset, tenant_id, event_type, resource_id, version, reason, .. } =
        letters[0].clone();
    assert_eq!(
        (topic.as_str(), partition, offset, tenant_id.as_str(), event_type.as_str(), resource_id.as_str(), version),
        (TOPIC, 0, 1, "", "", "", 0)
    );
    assert!(reason.starts_with("the payload is not a change event: "), "{reason}");
    assert_eq!(payloads(directory), [TRUNCATED.to_vec()]);
    assert!(sample("scimsvc_directory_dead_letters_total{cause=\"undecodable\"}") >= before + 1.0);

    // Delivered again (a rebalance), it is not set aside twice.
    assert!(applier.apply_all(vec![item(0, 1, TRUNCATED.to_vec())], &mut std::future::pending()).await);
    assert_eq!(stored(directory, None).1, 1);
}

#[actix_web::test]
async fn an_event_that_cannot_apply_is_retried_set_aside_and_repaired_by_the_next_sqlite() {
    an_event_that_cannot_apply_is_retried_set_aside_and_repaired_by_the_next(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn an_event_that_cannot_apply_is_retried_set_aside_and_repaired_by_the_next_postgres() {
    an_event_that_cannot_apply_is_retried_set_aside_and_repaired_by_the_next(&TestDirectory::postgres()).await;
}

async fn an_event_that_cannot_apply_is_retried_set_aside_and_repaired_by_the_next(directory: &Directory) {
    let (answering, probes) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
    let mut applier = applier(directory, &answering, &probes);
    let before = sample("scimsvc_directory_dead_letters_total{cause=\"apply_failed\"}");
    let items = vec![
        item(3, 10, account_event("u1", 1, "alice").encode_to_vec()),
        item(3, 11, poison("u1", 2).encode_to_vec()),
        item(3, 12, account_event("u2", 1, "bob").encode_to_vec()),
    ];
    assert!(applier.apply_all(items, &mut std::future::pending()).await);

    // Each of its failures asked whether the database answers; the fifth set it aside, with its
    // offset, and the message after it applied.
    assert_eq!(probes.load(Ordering::SeqCst), POISON_FAILURES as usize);
    assert_eq!(offsets(directory), [(3, 13)]);
    assert_eq!(account(directory, "u2").expect("bob").user_name, "bob");
    let (letters, total) = stored(directory, Some(TENANT));
    assert_eq!(total, 1);
    let letter = letters[0].clone();
    assert_eq!(
        (letter.partition, letter.offset, letter.tenant_id.as_str(), letter.event_type.as_str()),
        (3, 11, TENANT, "user.updated")
    );
    assert_eq!((letter.resource_id.as_str(), letter.version), ("u1", 2));
    assert!(letter.reason.contains("a user event carries a team record"), "{}", letter.reason);
    assert_eq!(payloads(directory), [poison("u1", 2).encode_to_vec()]);
    assert!(sample("scimsvc_directory_dead_letters_total{cause=\"apply_failed\"}") >= before + 1.0);
    assert!(observe::scrape(directory).contains("\nscimsvc_directory_dead_letters_stored 1\n"));

    // Listed over gRPC: newest first, by tenant, with the total.
    let service = DirectoryService::new(directory.clone());
    let list =
        |tenant: &str, limit: u32| crate::authorized(ListDeadLettersRequest { tenant_id: tenant.to_owned(), limit });
    let listed = service.list_dead_letters(list("", 0)).await.expect("ListDeadLetters").into_inner();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.dead_letters, [proto::DeadLetter::from(letter.clone())]);
    assert_eq!(listed.dead_letters[0].topic, TOPIC);
    let theirs = service.list_dead_letters(list("other", 0)).await.expect("ListDeadLetters").into_inner();
    assert_eq!((theirs.total, theirs.dead_letters.len()), (0, 0));
    assert!(service.list_dead_letters(list(TENANT, 1000)).await.is_ok());
    let refused = service.list_dead_letters(list(TENANT, 1001)).await.expect_err("a limit over 1000");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");

    // And over HTTP.
    let app = actix_test::init_service(
        App::new().app_data(web::Data::new(directory.clone())).configure(directory_store::http::routes),
    )
    .await;
    let (status, body) = get!(app, "/v1/dead-letters");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "dead_letters": [{
                "id": letter.id,
                "topic": TOPIC,
                "partition": 3,
                "offset": 11,
                "tenant_id": TENANT,
                "event_type": "user.updated",
                "resource_id": "u1",
                "version": 2,
                "reason": letter.reason,
                "recorded_at_micros": letter.recorded_at_micros,
            }],
            "total": 1,
        })
    );
    let (status, body) = get!(app, "/v1/dead-letters?tenant=other&limit=5");
    assert_eq!((status, body), (StatusCode::OK, json!({ "dead_letters": [], "total": 0 })));
    for refused in ["/v1/dead-letters?limit=1001", "/v1/dead-letters?limit=0", "/v1/dead-letters?tenants=acme"] {
        let (status, body) = get!(app, refused);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}: {body}");
    }

    // The version set aside was not applied, so it confuses nothing: the next event of the
    // resource applies, and so would a republish of the one set aside.
    assert_eq!(stored_account(directory, "u1").version, 1);
    let next = vec![item(3, 13, account_event("u1", 3, "alice.v3").encode_to_vec())];
    assert!(applier.apply_all(next, &mut std::future::pending()).await);
    assert_eq!(
        (account(directory, "u1").expect("u1").user_name, stored_account(directory, "u1").version),
        ("alice.v3".to_owned(), 3)
    );
    assert_eq!(apply(directory, &account_event("u1", 2, "republished v2")), Applied::Stale);

    // A purge leaves no personal data behind, in the dead letters either.
    let purge = ChangeEvent { event_type: "user.purged".to_owned(), deleted: true, ..account_event("u1", 4, "u1") };
    assert_eq!(apply(directory, &purge), Applied::Applied);
    assert_eq!(payloads(directory), [Vec::<u8>::new()]);
    assert_eq!(stored(directory, None).0, [letter]);
}

#[actix_web::test]
async fn a_database_that_does_not_answer_is_waited_for_sqlite() {
    a_database_that_does_not_answer_is_waited_for(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn a_database_that_does_not_answer_is_waited_for_postgres() {
    a_database_that_does_not_answer_is_waited_for(&TestDirectory::postgres()).await;
}

async fn a_database_that_does_not_answer_is_waited_for(directory: &Directory) {
    const ASKED: usize = 4 * POISON_FAILURES as usize;
    let (answering, probes) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    // Shuts the applier down once the database was asked ASKED times (during the pause that
    // follows, so that nothing of it runs on afterwards).
    let asked_enough = Arc::new(tokio::sync::Notify::new());
    let probe = {
        let (answering, probes, asked_enough) = (answering.clone(), probes.clone(), asked_enough.clone());
        move |_: &Directory| {
            if probes.fetch_add(1, Ordering::SeqCst) + 1 == ASKED {
                asked_enough.notify_one();
            }
            answering.load(Ordering::SeqCst)
        }
    };
    let mut applier = Applier::with_probe(directory.clone(), quick(), Arc::new(probe));
    let message = || vec![item(0, 0, poison("u1", 1).encode_to_vec())];

    // However often it fails, the message is retried while the database does not answer.
    let mut shutdown = Box::pin(async move { asked_enough.notified().await });
    assert!(
        !applier.apply_all(message(), &mut shutdown).await,
        "gave up on a message while the database did not answer"
    );
    assert_eq!(probes.load(Ordering::SeqCst), ASKED);
    assert_eq!((stored(directory, None).1, offsets(directory)), (0, vec![]));

    // Once it answers, five failures in a row make it poison.
    answering.store(true, Ordering::SeqCst);
    probes.store(0, Ordering::SeqCst);
    assert!(applier.apply_all(message(), &mut std::future::pending()).await);
    assert_eq!(probes.load(Ordering::SeqCst), POISON_FAILURES as usize);
    assert_eq!((stored(directory, None).1, offsets(directory)), (1, vec![(0, 1)]));
}

/// The probe itself, on a PostgreSQL database that refuses connections (what an outage looks
/// like to the pool): it says no (after the pool's 10 s connection timeout), then yes again.
#[test]
fn the_probe_says_whether_the_database_answers_postgres() {
    let directory = TestDirectory::postgres();
    assert!(dead_letter::database_answers(&directory));
    let platform::testing::TestDatabase::Postgres { _database: database } = &directory._database else {
        panic!("a PostgreSQL test database");
    };
    let name = database.url.rsplit('/').next().expect("a database name").to_owned();
    let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
    let admin = |sql: String| {
        use diesel::connection::SimpleConnection;
        diesel::PgConnection::establish(&admin_url).expect("the admin connection").batch_execute(&sql).expect(&sql);
    };
    admin(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    assert!(!dead_letter::database_answers(&directory));
    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    assert!(dead_letter::database_answers(&directory));
}

#[actix_web::test]
async fn readiness_reports_the_dead_letters_and_stays_ready_sqlite() {
    readiness_reports_the_dead_letters_and_stays_ready(&TestDirectory::sqlite()).await;
}

#[actix_web::test]
async fn readiness_reports_the_dead_letters_and_stays_ready_postgres() {
    readiness_reports_the_dead_letters_and_stays_ready(&TestDirectory::postgres()).await;
}

async fn readiness_reports_the_dead_letters_and_stays_ready(directory: &Directory) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut applier = Applier::new(directory.clone(), quick());
    assert!(applier.apply_all(vec![item(0, 0, TRUNCATED.to_vec())], &mut std::future::pending()).await);

    let config = directory_store::config::DirectoryConfig {
        database_url: platform::db::DatabaseUrl::parse("sqlite://unused.db").expect("a URL"),
        max_connections: 1,
        http_addr: "127.0.0.1:0".parse().expect("an address"),
        grpc_addr: "127.0.0.1:0".parse().expect("an address"),
        grpc_tls: None,
        internal_token: None,
        kafka: None,
    };
    let app = directory_store::app::DirectoryApp::build(&config, directory.clone()).await.expect("the app");
    let address = app.http_address();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connecting");
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: directory\r\nConnection: close\r\n\r\n").await.expect("asking");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
    assert_eq!(body, json!({ "database": "ok", "broker": "not used", "dead_letters": 1 }));
    stop.send(()).expect("stopping the app");
    running.await.expect("the app task").expect("the app");
}
