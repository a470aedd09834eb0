//! Applying change events and Kafka messages to the directory, and the directory's HTTP and gRPC
//! APIs, against both backends. Each scenario is written once, as a function of a `Directory`,
//! and run by two tests: on a fresh SQLite file and on a fresh PostgreSQL database.
// Test support code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod credentials;
mod dead_letters;
mod deletion;
mod fields;
mod linking;
mod members;
mod migration;
mod offsets;
mod states;
mod versions;

use std::ops::Deref;

use directory_store::apply::{Applied, apply_event};
use directory_store::error::DirectoryError;
use directory_store::records::AccountRecord;
use directory_store::{Directory, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, read};
use platform::db::Database;
use platform::testing::TestDatabase;
use proto::change_event::Record;
use proto::{Account, ChangeEvent, Link, ResourceKind, Team};

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

    /// With [`TOKEN`] registered: a credential of every tenant, write scope.
    fn new((database, pool): (TestDatabase, Database)) -> Self {
        let directory = Directory::new(pool);
        directory
            .write(|conn| {
                directory_store::credentials::issue(
                    conn,
                    "tests",
                    None,
                    directory_store::credentials::Scope::Write,
                    Some(TOKEN),
                )
            })
            .expect("registering the tests' credential");
        Self { directory, _database: database }
    }
}

/// The tests' service credential (see [`TestDirectory::new`]).
const TOKEN: &str = "dirsvc_tests_credential_of_every_tenant_write";

/// A gRPC request with the tests' credential.
fn authorized<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("metadata"));
    request
}

impl Deref for TestDirectory {
    type Target = Directory;

    fn deref(&self) -> &Directory {
        &self.directory
    }
}

/// An event of SCIM user `id` whose account has the same id.
fn account_event(id: &str, version: i64, user_name: &str) -> ChangeEvent {
    user_event("user.updated", id, id, version, user_name)
}

/// An event of SCIM user `scim_user_id`, for the account `account_id`.
fn user_event(event_type: &str, scim_user_id: &str, account_id: &str, version: i64, user_name: &str) -> ChangeEvent {
    let account = Account {
        id: account_id.to_owned(),
        tenant_id: TENANT.to_owned(),
        user_name: user_name.to_owned(),
        active: true,
        scim_user_id: scim_user_id.to_owned(),
        ..Account::default()
    };
    event(event_type, ResourceKind::User, scim_user_id, version, Record::Account(account))
}

/// A `user.created` that links SCIM user `scim_user_id` to the existing account `account_id`.
fn linked_event(scim_user_id: &str, account_id: &str, version: i64, user_name: &str, reason: &str) -> ChangeEvent {
    ChangeEvent {
        link: Some(Link { account_id: account_id.to_owned(), reason: reason.to_owned() }),
        ..user_event("user.created", scim_user_id, account_id, version, user_name)
    }
}

fn deleted_account_event(id: &str, version: i64) -> ChangeEvent {
    ChangeEvent { event_type: "user.deleted".to_owned(), deleted: true, ..account_event(id, version, id) }
}

/// A team event whose version adds these members (events carry membership as deltas).
fn team_event(id: &str, version: i64, name: &str, added: &[&str]) -> ChangeEvent {
    team_change(id, version, name, added, &[])
}

fn team_change(id: &str, version: i64, name: &str, added: &[&str], removed: &[&str]) -> ChangeEvent {
    let team = Team {
        id: id.to_owned(),
        tenant_id: TENANT.to_owned(),
        name: name.to_owned(),
        external_id: None,
        member_ids: Vec::new(),
        permissions: Vec::new(),
    };
    let ids = |list: &[&str]| list.iter().map(|&member| member.to_owned()).collect();
    ChangeEvent {
        added_member_ids: ids(added),
        removed_member_ids: ids(removed),
        ..event("group.updated", ResourceKind::Group, id, version, Record::Team(team))
    }
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

fn account(directory: &Directory, id: &str) -> Result<AccountRecord, DirectoryError> {
    directory.read(|conn| read::account(conn, TENANT, id))
}

/// The ids of the live accounts with this email, as `read::accounts_by_email` finds them.
fn find_by_email(directory: &Directory, email: &str) -> Vec<String> {
    let found = directory.read(|conn| read::accounts_by_email(conn, TENANT, email)).expect("finding accounts");
    found.into_iter().map(|account| account.id).collect()
}

fn team(directory: &Directory, id: &str) -> Result<Team, DirectoryError> {
    directory.read(|conn| read::team(conn, TENANT, id))
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, DirectoryError>) {
    assert!(matches!(result, Err(DirectoryError::NotFound(_))), "expected NotFound, got {result:?}");
}

/// An account row as stored, tombstones included (reads do not find those).
#[derive(Debug, PartialEq, Eq, diesel::Queryable)]
struct StoredAccount {
    user_name: String,
    external_id: Option<String>,
    email: Option<String>,
    email_key: Option<String>,
    given_name: Option<String>,
    roles: String,
    permissions: String,
    custom_fields: String,
    scim_user_id: Option<String>,
    origin: String,
    version: i64,
    deleted: bool,
    purge_after: Option<i64>,
    purged: bool,
}

fn stored_account(directory: &Directory, id: &str) -> StoredAccount {
    use diesel::prelude::*;
    use directory_store::schema::accounts;
    let row = accounts::table.find((TENANT, id)).select((
        accounts::user_name,
        accounts::external_id,
        accounts::email,
        accounts::email_key,
        accounts::given_name,
        accounts::roles,
        accounts::permissions,
        accounts::custom_fields,
        accounts::scim_user_id,
        accounts::origin,
        accounts::version,
        accounts::deleted,
        accounts::purge_after,
        accounts::purged,
    ));
    directory.read(|conn| Ok(row.first(conn)?)).expect("the stored account")
}

/// A manual account made as the product's HTTP API makes it.
fn manual_account(directory: &Directory, email: &str) -> AccountRecord {
    use directory_store::manual::{self, NewAccount, NewAccountRequest};
    let request = NewAccountRequest {
        email: Some(email.to_owned()),
        user_name: None,
        given_name: None,
        family_name: None,
        display_name: None,
    };
    let new = NewAccount::parse(request).expect("a valid new account");
    directory.write(|conn| manual::create(conn, TENANT, new)).expect("creating a manual account")
}
