//! directory-store: the product's directory (accounts, teams, memberships), projected from the
//! change events and served over HTTP JSON and gRPC. The product can also create accounts here by
//! hand (`manual`), which SCIM may later link to. Everything but those manual accounts can be
//! dropped and rebuilt from the topic.
#![forbid(unsafe_code)]

pub mod app;
pub mod apply;
pub mod config;
#[cfg(feature = "kafka")]
pub mod consumer;
pub mod credentials;
pub mod dead_letter;
pub mod error;
pub mod grpc;
pub mod http;
pub mod manual;
pub mod observe;
pub mod paging;
pub mod read;
pub mod records;
pub mod schema;

use platform::db::{Database, DbConnection};

use crate::error::DirectoryError;

pub const MIGRATIONS_POSTGRES: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/postgres");
pub const MIGRATIONS_SQLITE: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/sqlite");

/// The directory's database.
#[derive(Clone)]
pub struct Directory {
    db: Database,
}

impl Directory {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn write<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DirectoryError>,
    ) -> Result<T, DirectoryError> {
        self.db.write(work)
    }

    pub fn read<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DirectoryError>,
    ) -> Result<T, DirectoryError> {
        self.db.read(work)
    }
}
