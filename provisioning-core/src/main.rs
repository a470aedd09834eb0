//! `provisioning-core serve` (default) or `provisioning-core migrate`.

use anyhow::Context;
use platform::cli::{self, Command};
use platform::config::Env;
use platform::db::Database;
use provisioning_core::app::{self, Core};
use provisioning_core::config::CoreConfig;
use provisioning_core::store::Store;
use provisioning_core::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(&Env);
    let command = Command::from_args()?;
    let config = CoreConfig::from_source(&Env).context("invalid configuration")?;
    let database = Database::connect(&config.database_url, config.max_connections)?;
    if command == Command::Migrate {
        return cli::migrate(&database, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE);
    }
    database.ensure_migrated(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
    let store = Store::new(database);
    if let (Some(token), Some(bootstrap)) = (app::bootstrap(&store, &config)?, &config.bootstrap) {
        // Shown once, on the console of the operator who started it; stored only hashed.
        println!("New SCIM token for tenant '{}': {}", bootstrap.tenant, token.expose_secret());
    }
    Core::build(&config, store, None).await?.run(platform::shutdown::signal()).await
}
