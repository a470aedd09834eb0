//! `directory-store serve` (default) or `directory-store migrate`.

use anyhow::Context;
use directory_store::app::DirectoryApp;
use directory_store::config::DirectoryConfig;
use directory_store::{Directory, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
use platform::cli::{self, Command};
use platform::config::Env;
use platform::db::Database;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init(&Env, "directory-store");
    let command = Command::from_args()?;
    let config = DirectoryConfig::from_source(&Env).context("invalid configuration")?;
    let database = Database::connect(&config.database_url, config.max_connections)?;
    if command == Command::Migrate {
        return cli::migrate(&database, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE);
    }
    anyhow::ensure!(
        config.kafka.is_some(),
        "KAFKA_BOOTSTRAP_SERVERS must be set: the directory consumes the change topic"
    );
    database.ensure_migrated(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
    DirectoryApp::build(&config, Directory::new(database)).await?.run(platform::shutdown::signal()).await
}
