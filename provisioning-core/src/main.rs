//! `provisioning-core serve` (default), `provisioning-core migrate`,
//! `provisioning-core declare-schema <tenant> <User|Group> <schema.json>` (a tenant's custom
//! extension, in RFC 7643 §7 form), or `provisioning-core admin …` (the operators' command line
//! over the admin API: tenants, tokens, settings, the provisioning log).

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
        Some("declare-schema") => return declare_schema(&arguments[1..]),
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

/// `declare-schema <tenant> <User|Group> <file>`: validates and stores a tenant's extension.
fn declare_schema(arguments: &[String]) -> anyhow::Result<()> {
    let [tenant, resource, file] = arguments else {
        anyhow::bail!("usage: provisioning-core declare-schema <tenant> <User|Group> <schema.json>");
    };
    let config = CoreConfig::from_source(&Env).context("invalid configuration")?;
    let database = Database::connect(&config.database_url, 1)?;
    database.ensure_migrated(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let definition: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
    let tenant = provisioning_core::store::tenants::TenantId(tenant.clone());
    let id = Store::new(database)
        .write(|conn| provisioning_core::store::schemas::declare(conn, &tenant, resource, &definition))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("declared {id} for {}'s {resource}s", tenant.as_str());
    Ok(())
}
