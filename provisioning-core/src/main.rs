//! `provisioning-core serve` (default) or `provisioning-core migrate`.

use anyhow::Context;
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
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".to_owned());
    let config = CoreConfig::from_source(&Env).context("invalid configuration")?;
    let database = Database::connect(&config.database_url, config.max_connections)?;
    match command.as_str() {
        "migrate" => {
            let applied = database.migrate(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
            tracing::info!(applied, "migrations applied");
            Ok(())
        }
        "serve" => {
            database.ensure_migrated(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
            let store = Store::new(database);
            if let Some(token) = app::bootstrap(&store, &config)? {
                // Shown once, on the console of the operator who started it; stored only hashed.
                println!(
                    "New SCIM token for tenant '{}': {}",
                    config.bootstrap.as_ref().map(|b| b.tenant.as_str()).unwrap_or("default"),
                    token.expose_secret()
                );
            }
            let core = Core::build(&config, store, None).await?;
            core.run(platform::shutdown::signal()).await
        }
        other => anyhow::bail!("unknown command {other:?}: use `serve` or `migrate`"),
    }
}
