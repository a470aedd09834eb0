//! Applying change events and Kafka messages to the directory, against both backends. Each
//! scenario is written once, as a function of a `Directory`, and run by two tests: on a fresh
//! SQLite file and on a fresh PostgreSQL database.
// Test support code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deletion;
mod offsets;
mod versions;

use std::ops::Deref;

use directory_store::apply::{Applied, apply_event};
use directory_store::error::DirectoryError;
use directory_store::{Directory, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, read};
use platform::db::Database;
use platform::testing::TestDatabase;
use proto::change_event::Record;
use proto::{Account, ChangeEvent, ResourceKind, Team};

const TENANT: &str = "acme";

/// A directory on a database of its own. Fields drop in order: the pool, then the database.
struct TestDirectory {
    directory: Directory,
    _database: TestDatabase,
}

impl TestDirectory {
    fn sqlite() -> Self {
        Self::new(TestDatabase::sqlite(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE))
    }

    fn postgres() -> Self {
        Self::new(TestDatabase::postgres(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE))
    }

    fn new((database, pool): (TestDatabase, Database)) -> Self {
        Self { directory: Directory::new(pool), _database: database }
    }
}

impl Deref for TestDirectory {
    type Target = Directory;

    fn deref(&self) -> &Directory {
        &self.directory
    }
}

fn account_event(id: &str, version: i64, user_name: &str) -> ChangeEvent {
    let account = Account {
        id: id.to_owned(),
        tenant_id: TENANT.to_owned(),
        user_name: user_name.to_owned(),
        active: true,
        ..Account::default()
    };
    event("user.updated", ResourceKind::User, id, version, Record::Account(account))
}

fn deleted_account_event(id: &str, version: i64) -> ChangeEvent {
    ChangeEvent { event_type: "user.deleted".to_owned(), deleted: true, ..account_event(id, version, id) }
}

fn team_event(id: &str, version: i64, name: &str, member_ids: &[&str]) -> ChangeEvent {
    let team = Team {
        id: id.to_owned(),
        tenant_id: TENANT.to_owned(),
        name: name.to_owned(),
        external_id: None,
        member_ids: member_ids.iter().map(|&member| member.to_owned()).collect(),
    };
    event("group.updated", ResourceKind::Group, id, version, Record::Team(team))
}

fn event(event_type: &str, kind: ResourceKind, id: &str, version: i64, record: Record) -> ChangeEvent {
    ChangeEvent {
        event_id: format!("{id}-{version}"),
        event_type: event_type.to_owned(),
        tenant_id: TENANT.to_owned(),
        resource_kind: kind as i32,
        resource_id: id.to_owned(),
        version,
        record: Some(record),
        ..ChangeEvent::default()
    }
}

fn apply(directory: &Directory, event: &ChangeEvent) -> Applied {
    directory.write(|conn| apply_event(conn, event)).expect("applying an event")
}

fn account(directory: &Directory, id: &str) -> Result<Account, DirectoryError> {
    directory.read(|conn| read::account(conn, TENANT, id))
}

fn team(directory: &Directory, id: &str) -> Result<Team, DirectoryError> {
    directory.read(|conn| read::team(conn, TENANT, id))
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, DirectoryError>) {
    assert!(matches!(result, Err(DirectoryError::NotFound(_))), "expected NotFound, got {result:?}");
}
