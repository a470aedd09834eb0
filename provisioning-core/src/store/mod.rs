//! Storage of SCIM state: rows and the queries on them, nothing more. Query functions take a
//! connection so they compose inside one transaction (the write pipeline's, `crate::write`).

pub mod activity;
pub mod cursor;
pub mod filter_sql;
pub mod groups;
pub mod jobs;
pub mod operators;
pub mod outbox;
pub mod portal;
pub mod query;
pub mod schemas;
pub mod tenants;
pub mod users;
pub mod webhooks;

use platform::db::{Database, DbConnection};
use serde_json::{Map, Value};

use crate::error::CoreError;

pub use platform::db::now_micros;

/// The most ids one statement binds: SQLite binds at most 32,766 parameters per statement, and
/// no statement should grow with a group's size.
pub const CHUNK: usize = 1000;

/// Database access for the core: transactions, and the SQLite writer lock.
#[derive(Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs `work` in a write transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn write<T>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T, CoreError>) -> Result<T, CoreError> {
        self.db.write(work)
    }

    /// Runs a single statement outside a transaction.
    pub fn query<T>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T, CoreError>) -> Result<T, CoreError> {
        self.db.query(work)
    }

    /// Runs `work` in a read-only snapshot.
    pub fn read<T>(&self, work: impl FnOnce(&mut DbConnection) -> Result<T, CoreError>) -> Result<T, CoreError> {
        self.db.read(work)
    }
}

/// A resource as stored: what the gateway needs to render it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub attributes: Map<String, Value>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// A group whose members would make the answer too large (more than
    /// [`groups::MEMBERS_PER_ANSWER`]) comes without them: the gateway streams them (`ReadGroup`).
    pub members_omitted: bool,
}

impl From<StoredResource> for proto::Resource {
    fn from(resource: StoredResource) -> Self {
        let StoredResource { id, attributes, version, created_at, updated_at, members_omitted } = resource;
        proto::Resource {
            id,
            attributes_json: Value::Object(attributes).to_string(),
            version,
            created_micros: created_at,
            last_modified_micros: updated_at,
            members_omitted,
        }
    }
}

/// Parses stored attribute JSON; a row that does not parse is a bug, reported as internal.
pub(crate) fn parse_attributes(text: &str) -> Result<Map<String, Value>, CoreError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CoreError::Internal("stored attributes are not a JSON object".into())),
    }
}

/// The lowercased form used for case-insensitive uniqueness and lookups.
pub fn fold_case(text: &str) -> String {
    text.to_lowercase()
}
