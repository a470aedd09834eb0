//! `directory-store serve` (default), `directory-store migrate`, or `directory-store credentials …`
//! (issue, list and revoke the API's service credentials).

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
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.first().map(String::as_str) == Some("credentials") {
        let config = DirectoryConfig::from_source(&Env).context("invalid configuration")?;
        let database = Database::connect(&config.database_url, 2)?;
        database.ensure_migrated(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
        return directory_store::credentials::command(&Directory::new(database), &arguments[1..]);
    }
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
