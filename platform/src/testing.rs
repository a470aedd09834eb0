//! Test support (feature `test-support`): a fresh database per test, on either backend — a
//! SQLite file in a temporary directory, or a PostgreSQL database created on the server named by
//! `TEST_DATABASE_URL` (scripts/test.sh starts one) and dropped when the test ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::db::{Database, DatabaseUrl};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel_migrations::EmbeddedMigrations;

/// Enough connections for the concurrency tests' threads.
const POOL_SIZE: u32 = 10;

/// Keeps the test's database alive; dropping it removes the database.
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { _database: PostgresDatabase },
}

pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl TestDatabase {
    pub fn sqlite(postgres: EmbeddedMigrations, sqlite: EmbeddedMigrations) -> (Self, Database) {
        let dir = tempfile::TempDir::new().expect("creating a temporary directory");
        let url = DatabaseUrl::sqlite_file(&dir.path().join("test.db"));
        (Self::Sqlite { _dir: dir }, migrated(&url, postgres, sqlite))
    }

    pub fn postgres(postgres: EmbeddedMigrations, sqlite: EmbeddedMigrations) -> (Self, Database) {
        let database = PostgresDatabase::create();
        let url = DatabaseUrl::parse(&database.url).expect("a PostgreSQL URL");
        (Self::Postgres { _database: database }, migrated(&url, postgres, sqlite))
    }
}

impl PostgresDatabase {
    /// An empty database of its own on the `TEST_DATABASE_URL` server.
    pub fn create() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_DATABASE_URL is not set: the PostgreSQL tests need a server. Run scripts/test.sh, \
                 which starts a throwaway PostgreSQL and sets it, or set it to an admin URL such as \
                 postgres://postgres@127.0.0.1:5432/postgres"
            )
        });
        Self::create_on(&admin_url)
    }

    /// An empty database of its own on the server of `admin_url` (a test's own server).
    pub fn create_on(admin_url: &str) -> Self {
        let admin_url = admin_url.to_owned();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        admin_connection(&admin_url)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating the test database");
        let url = with_database_name(&admin_url, &name);
        Self { admin_url, name, url }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // FORCE ends the connections a pool still holds (or a panicking test left behind).
        let dropped = admin_connection(&self.admin_url)
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        if let Err(error) = dropped {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}

fn admin_connection(admin_url: &str) -> PgConnection {
    PgConnection::establish(admin_url).unwrap_or_else(|e| {
        panic!("connecting to TEST_DATABASE_URL (is the server from scripts/test.sh running?): {e}")
    })
}

fn migrated(url: &DatabaseUrl, postgres: EmbeddedMigrations, sqlite: EmbeddedMigrations) -> Database {
    let database = Database::connect(url, POOL_SIZE).expect("connecting to the test database");
    database.migrate(postgres, sqlite).expect("migrating the test database");
    database
}

/// The admin URL with its database name (the path) replaced, query string kept.
fn with_database_name(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(base, query)| (base, Some(query)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let server = base[host_start..].find('/').map_or(base, |slash| &base[..host_start + slash]);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
#[test]
fn the_database_name_is_replaced() {
    let url = |admin| with_database_name(admin, "test_x");
    assert_eq!(url("postgres://postgres@127.0.0.1:5432/postgres"), "postgres://postgres@127.0.0.1:5432/test_x");
    assert_eq!(url("postgres://u:p@h:1/postgres?sslmode=disable"), "postgres://u:p@h:1/test_x?sslmode=disable");
    assert_eq!(url("postgresql://u@h"), "postgresql://u@h/test_x");
}
