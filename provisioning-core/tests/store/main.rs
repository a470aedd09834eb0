//! The storage code against both backends. Each scenario is written once, as a function of a
//! `Store`, and run by two tests: on a fresh SQLite file and on a fresh PostgreSQL database.
// Test support code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod agreement;
mod context;
mod feed;
mod groups;
mod outbox;
mod pipeline;
mod portal;
mod query;
mod records;
mod relay;
mod republish;
mod statements;
mod tenants;
mod users;
mod webhooks;

use std::ops::Deref;

use platform::db::Database;
use platform::testing::TestDatabase;
use prost::Message;
use proto::change_event::Record;
use proto::{Account, ChangeEvent, Team};
use provisioning_core::error::CoreError;
use provisioning_core::store::outbox::{OutboxEvent, mark_published, pending};
use provisioning_core::store::tenants::{TenantId, ensure_tenant};
use provisioning_core::store::{Store, StoredResource};
use provisioning_core::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
use scim::{GroupInput, ScimError, UserInput};
use serde_json::Value;

/// A store on a database of its own. Fields drop in order: the pool, then the database.
struct TestStore {
    store: Store,
    _database: TestDatabase,
}

impl TestStore {
    fn sqlite() -> Self {
        Self::new(TestDatabase::sqlite(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE))
    }

    fn postgres() -> Self {
        Self::new(TestDatabase::postgres(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE))
    }

    fn new((database, pool): (TestDatabase, Database)) -> Self {
        Self { store: Store::new(pool), _database: database }
    }
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

fn tenant(store: &Store, slug: &str) -> TenantId {
    store.write(|conn| ensure_tenant(conn, slug, slug, "local")).expect("creating a tenant");
    TenantId(slug.to_owned())
}

fn user_input(body: Value) -> UserInput {
    UserInput::from_body(body).expect("a valid User body")
}

fn create_user(store: &Store, tenant: &TenantId, body: Value) -> StoredResource {
    let input = user_input(body);
    store.write(|conn| pipeline::users::create(conn, tenant, input)).expect("creating a user")
}

fn create_group(store: &Store, tenant: &TenantId, body: Value) -> StoredResource {
    let input = GroupInput::from_body(body).expect("a valid Group body");
    store.write(|conn| pipeline::groups::create(conn, tenant, input)).expect("creating a group")
}

/// The member ids a group resource lists.
fn member_ids(group: &StoredResource) -> Vec<String> {
    let Some(members) = group.attributes.get("members") else { return Vec::new() };
    let members = members.as_array().expect("members is an array");
    members.iter().map(|m| m["value"].as_str().expect("a member value").to_owned()).collect()
}

/// The events committed since the last call, oldest first and decoded; marks them published
/// so that the next call sees only what happens next.
fn take_events(store: &Store) -> Vec<(OutboxEvent, ChangeEvent)> {
    let rows = store.read(|conn| pending(conn, 1000)).expect("reading the outbox");
    let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
    let marked = store.write(|conn| mark_published(conn, &seqs)).expect("marking events published");
    assert_eq!(marked, seqs.len());
    assert!(store.read(|conn| pending(conn, 1000)).expect("reading the outbox").is_empty());
    rows.into_iter()
        .map(|row| {
            let event = ChangeEvent::decode(row.payload.as_slice()).expect("an outbox payload is a ChangeEvent");
            (row, event)
        })
        .collect()
}

/// The event types and resource ids of some events, for one readable assertion.
fn summary(events: &[(OutboxEvent, ChangeEvent)]) -> Vec<(String, String)> {
    events.iter().map(|(row, _)| (row.event_type.clone(), row.resource_id.clone())).collect()
}

fn account(event: &ChangeEvent) -> &Account {
    match &event.record {
        Some(Record::Account(account)) => account,
        other => panic!("expected an account record, got {other:?}"),
    }
}

fn team(event: &ChangeEvent) -> &Team {
    match &event.record {
        Some(Record::Team(team)) => team,
        other => panic!("expected a team record, got {other:?}"),
    }
}

/// The SCIM error a store call failed with.
fn scim_error<T: std::fmt::Debug>(result: Result<T, CoreError>) -> ScimError {
    match result {
        Err(CoreError::Scim(error)) => error,
        other => panic!("expected a SCIM error, got {other:?}"),
    }
}
