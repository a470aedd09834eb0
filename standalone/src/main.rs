//! standalone: the embedded default. gateway, provisioning-core and directory-store in one
//! process, on SQLite files under `DATA_DIR`, with the outbox delivered to the directory store
//! in-process instead of through Kafka. The gateway still calls the core over gRPC (on a
//! loopback port), so requests take the production code path.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use directory_store::Directory;
use directory_store::app::DirectoryApp;
use directory_store::config::DirectoryConfig;
use futures::FutureExt;
use gateway::app::Application;
use gateway::config::GatewayConfig;
use platform::config::{Env, Source};
use platform::db::{Database, DatabaseUrl};
use provisioning_core::app::{self, Core};
use provisioning_core::config::{AdminConfig, Bootstrap, CoreConfig};
use provisioning_core::store::Store;
use secrecy::{ExposeSecret, SecretString};

mod sink;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init(&Env, "scim-provisioning");
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.first().map(String::as_str) == Some("admin") {
        provisioning_core::admin::cli::main(&arguments[1..], &Env).await;
    }
    let data_dir = PathBuf::from(Env.get("DATA_DIR").filter(|d| !d.is_empty()).unwrap_or_else(|| "./data".to_owned()));
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating DATA_DIR {}", data_dir.display()))?;
    let directory_url = DatabaseUrl::sqlite_file(&data_dir.join("directory.db"));
    if arguments.first().map(String::as_str) == Some("directory-credentials") {
        // Beside a running standalone too: SQLite takes the second process's writes in turn.
        let database = Database::connect(&directory_url, 2)?;
        database.migrate(directory_store::MIGRATIONS_POSTGRES, directory_store::MIGRATIONS_SQLITE)?;
        return directory_store::credentials::command(&Directory::new(database), &arguments[1..]);
    }
    // The core's credential at the in-process directory: DIRECTORY_INTERNAL_TOKEN, or one made
    // for this run.
    let internal_token = SecretString::from(
        Env.get("DIRECTORY_INTERNAL_TOKEN")
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(directory_store::credentials::new_token),
    );

    let mut gateway_config = GatewayConfig::from_source(&Env).context("invalid gateway configuration")?;
    // One process: the admin listener serves /metrics (every component's) and health.
    gateway_config.management_addr = None;
    let mut admin = AdminConfig::from_source(&Env).context("invalid admin configuration")?;
    // Zero set-up: without ADMIN_TOKEN, one is made for this run and printed below.
    let generated_admin_token = admin.token.is_none().then(|| provisioning_core::token::generate("admin", "local"));
    if let Some(token) = &generated_admin_token {
        admin.token = Some(token.clone());
    }
    // The self-serve portal is served by default here (its link is printed below).
    if admin.portal_addr.is_none() {
        admin.portal_addr = Some("127.0.0.1:8082".parse()?);
    }
    let region = platform::config::region(&Env)?;
    if !admin.region_tenant_urls.iter().any(|(r, _)| *r == region) {
        // The admin API names the tenant URL with each tenant and token it makes.
        let own = gateway_config
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}{}", gateway_config.http_addr, gateway_config.base_path));
        admin.region_tenant_urls.push((region.clone(), own));
    }
    let core_config = CoreConfig {
        database_url: DatabaseUrl::sqlite_file(&data_dir.join("core.db")),
        max_connections: 8,
        // The gateway → core hop stays gRPC, on a loopback port chosen by the OS.
        grpc_addr: "127.0.0.1:0".parse()?,
        // Loopback hops inside one process: no TLS.
        grpc_tls: None,
        shutdown_drain: std::time::Duration::ZERO,
        directory_tls: platform::tls::ClientTls::default(),
        kafka: None,
        region: region.clone(),
        token_prefix: platform::config::token_prefix(&Env)?,
        log_retention_days: Env.parse_or("PROVISIONING_LOG_RETENTION_DAYS", 30)?,
        log_enabled: provisioning_core::config::log_enabled(&Env)?,
        // One tenant on one machine: a conformance tool or an IdP's initial sync runs unthrottled
        // (scim2-tester met 429 on 4 checks at the services' 100/s, bursts of 200).
        rate_limit: provisioning_core::config::RateLimit::from_source_or(&Env, 1000, 5000)?,
        bootstrap: Some(Bootstrap {
            tenant: "default".to_owned(),
            token: Env.get("SCIM_BOOTSTRAP_TOKEN").filter(|t| !t.trim().is_empty()).map(SecretString::from),
        }),
        admin,
        directory_url: Some(format!("http://{}", Env.socket_addr_or("DIRECTORY_GRPC_ADDR", "127.0.0.1:50052")?)),
        directory_token: Some(internal_token.clone()),
        purge_interval_seconds: Env.parse_or("PURGE_INTERVAL_SECONDS", 3600)?,
        safeguards: provisioning_core::config::Safeguards::from_source(&Env, 8)?,
        webhooks: provisioning_core::config::WebhookSettings {
            // The embedded default runs where its receivers are: on this machine, or this network.
            allow_private_targets: Env.parse_or("WEBHOOK_ALLOW_PRIVATE_TARGETS", true)?,
            ..provisioning_core::config::WebhookSettings::from_source(&Env)?
        },
    };
    if let Some(token) = core_config.bootstrap.as_ref().and_then(|b| b.token.as_ref()) {
        provisioning_core::config::check_bootstrap_token(
            token.expose_secret(),
            &core_config.token_prefix,
            &core_config.region,
        )?;
    }
    let directory_config = DirectoryConfig {
        database_url: directory_url,
        max_connections: 8,
        http_addr: Env.socket_addr_or("DIRECTORY_HTTP_ADDR", "127.0.0.1:8090")?,
        grpc_addr: Env.socket_addr_or("DIRECTORY_GRPC_ADDR", "127.0.0.1:50052")?,
        internal_token: Some(internal_token),
        grpc_tls: None,
        kafka: None,
    };

    let core_db = Database::connect(&core_config.database_url, core_config.max_connections)?;
    core_db.migrate(provisioning_core::MIGRATIONS_POSTGRES, provisioning_core::MIGRATIONS_SQLITE)?;
    let directory_db = Database::connect(&directory_config.database_url, directory_config.max_connections)?;
    directory_db.migrate(directory_store::MIGRATIONS_POSTGRES, directory_store::MIGRATIONS_SQLITE)?;
    let directory = Directory::new(directory_db);

    let store = Store::new(core_db);
    let new_token = app::bootstrap(&store, &core_config)?;
    let portal_secret = provisioning_core::token::generate("portal", &region);
    store.write(|conn| {
        provisioning_core::store::portal::issue(
            conn,
            "default",
            portal_secret.expose_secret(),
            provisioning_core::store::portal::DEFAULT_TTL_MINUTES,
            Some("printed by standalone at start"),
        )
    })?;
    let sink = Arc::new(sink::DirectorySink::new(directory.clone()));
    let core = Core::build(&core_config, store.clone(), Some(sink)).await?;
    gateway_config.core_url = format!("http://{}", core.address());
    let public_url = gateway_config.public_base_url.clone();
    let base_path = gateway_config.base_path.clone();
    let gateway = Application::build(gateway_config)?;
    let directory_app = DirectoryApp::build(&directory_config, directory).await?;

    let tenant_url = public_url.unwrap_or_else(|| format!("http://{}{}", gateway.address(), base_path));
    println!("SCIM tenant URL (tenant 'default'): {tenant_url}");
    match new_token {
        Some(token) => println!("Secret token (shown once, stored only as a hash): {}", token.expose_secret()),
        None => println!("Secret token: the one already issued (or SCIM_BOOTSTRAP_TOKEN)"),
    }
    println!(
        "Directory API: http://{}/v1/tenants/default/accounts (a credential: `standalone directory-credentials issue <name> [--tenant default] [--scope read|write]`)",
        directory_app.http_address()
    );
    println!("Admin API: http://{}/admin/v1/tenants", core.admin_address());
    if let Some(url) = core.portal_url() {
        println!(
            "Self-serve portal of tenant 'default' (this link works for {} minutes; the admin API issues more): {url}#session={}",
            provisioning_core::store::portal::DEFAULT_TTL_MINUTES,
            portal_secret.expose_secret()
        );
    }
    if let Some(token) = generated_admin_token {
        println!("Admin token (this run only; set ADMIN_TOKEN to keep one): {}", token.expose_secret());
    }

    let shutdown = platform::shutdown::signal().shared();
    let (core, gateway, directory) =
        tokio::join!(core.run(shutdown.clone()), gateway.run(shutdown.clone()), directory_app.run(shutdown),);
    core.context("provisioning-core")?;
    gateway.context("gateway")?;
    directory.context("directory-store")?;
    Ok(())
}
