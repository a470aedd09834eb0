//! `directory-store serve` (default) or `directory-store migrate`.

use anyhow::Context;
use directory_store::app::DirectoryApp;
use directory_store::config::DirectoryConfig;
use directory_store::{Directory, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
use platform::config::Env;
use platform::db::Database;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(&Env);
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".to_owned());
    let config = DirectoryConfig::from_source(&Env).context("invalid configuration")?;
    let database = Database::connect(&config.database_url, config.max_connections)?;
    match command.as_str() {
        "migrate" => {
            let applied = database.migrate(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
            tracing::info!(applied, "migrations applied");
            Ok(())
        }
        "serve" => {
            anyhow::ensure!(
                config.kafka.is_some(),
                "KAFKA_BOOTSTRAP_SERVERS must be set: the directory consumes the change topic"
            );
            database.ensure_migrated(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
            let app = DirectoryApp::build(&config, Directory::new(database)).await?;
            app.run(platform::shutdown::signal()).await
        }
        other => anyhow::bail!("unknown command {other:?}: use `serve` or `migrate`"),
    }
}
