//! `provisioning-core serve` (default), `provisioning-core migrate`, or `provisioning-core admin …`
//! (the operators' command line over the admin API: tenants, tokens, settings, schema
//! extensions, the provisioning log).

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
    let _telemetry = platform::telemetry::init(&Env, "provisioning-core");
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        Some("declare-schema") => anyhow::bail!(
            "declare-schema went through the database; it is now `provisioning-core admin schemas declare \
             <tenant> <User|Group> <schema.json>`, over the admin API (ADMIN_URL, ADMIN_TOKEN)"
        ),
        Some("admin") => provisioning_core::admin::cli::main(&arguments[1..], &Env).await,
        _ => {}
    }
    let command = Command::from_args()?;
    let config = CoreConfig::from_source(&Env).context("invalid configuration")?;
    let database =
        Database::connect_with(&config.database_url, config.max_connections, config.safeguards.statement_timeout)?;
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
