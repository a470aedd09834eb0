//! provisioning-core: the SCIM state of every tenant, the rules that turn it into directory
//! records, and the transactional outbox that publishes every committed change.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod config;
pub mod context;
mod conversions;
pub mod error;
pub mod events;
pub mod events_json;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod leadership;
pub mod linking;
pub mod mapping;
pub mod observe;
pub mod provisioning_log;
pub mod rate_limit;
pub mod relay;
pub mod republish;
pub mod schema;
pub mod service;
pub mod store;
pub mod token;
pub mod webhooks;
pub mod write;

pub const MIGRATIONS_POSTGRES: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/postgres");
pub const MIGRATIONS_SQLITE: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/sqlite");
