//! `provisioning-core serve` (default), `provisioning-core migrate`,
//! `provisioning-core declare-schema <tenant> <User|Group> <schema.json>` (a tenant's custom
//! extension, in RFC 7643 §7 form), or `provisioning-core log <tenant> [resource id]` (the
//! tenant's provisioning log, newest first, one JSON object a line).

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
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        Some("declare-schema") => return declare_schema(&arguments[1..]),
        Some("log") => return print_log(&arguments[1..]),
        _ => {}
    }
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

/// `log <tenant> [resource id]`: the latest 100 entries of the tenant's provisioning log.
fn print_log(arguments: &[String]) -> anyhow::Result<()> {
    let (tenant, resource) = match arguments {
        [tenant] => (tenant, None),
        [tenant, resource] => (tenant, Some(resource.as_str())),
        _ => anyhow::bail!("usage: provisioning-core log <tenant> [resource id]"),
    };
    let config = CoreConfig::from_source(&Env).context("invalid configuration")?;
    let database = Database::connect(&config.database_url, 1)?;
    let entries = Store::new(database)
        .read(|conn| provisioning_core::provisioning_log::recent(conn, tenant, resource, 100))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for provisioning_core::provisioning_log::StoredEntry { entry, .. } in entries {
        let warnings: serde_json::Value =
            entry.warnings.as_deref().and_then(|w| serde_json::from_str(w).ok()).unwrap_or(serde_json::Value::Null);
        let line = serde_json::json!({
            "at": chrono::DateTime::from_timestamp_micros(entry.at).map(|t| t.to_rfc3339()),
            "method": entry.method,
            "path": entry.path,
            "resource_type": entry.resource_type,
            "resource_id": entry.resource_id,
            "status": entry.status,
            "scim_type": entry.scim_type,
            "detail": entry.detail,
            "warnings": warnings,
            "latency_ms": entry.latency_micros as f64 / 1000.0,
        });
        println!("{line}");
    }
    Ok(())
}
