//! `admin …`: the operators' command line over the admin API (a subcommand of
//! `provisioning-core` and of `standalone`), with clap: `admin --help` and `admin <command>
//! --help` say everything. It reads `--url`/`ADMIN_URL` (default `http://127.0.0.1:8081`),
//! `--token`/`ADMIN_TOKEN` (the admin token or an operator key) and `ADMIN_CA_FILE`, sends one
//! request, and prints the answer as JSON (`--output json`, the default) or as a table
//! (`--output table`); an error answer goes to stderr with a non-zero exit. `admin completions
//! <shell>` prints shell completions.

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use platform::config::Source;
use reqwest::Method;
use serde_json::{Value, json};

/// The operators' command line over the admin API.
#[derive(Debug, Parser)]
#[command(name = "admin", version, about = "The operators' command line over the admin API (ADMIN_URL, ADMIN_TOKEN)")]
pub struct Cli {
    /// The admin API.
    #[arg(long, env = "ADMIN_URL", default_value = "http://127.0.0.1:8081", global = true)]
    pub url: String,
    /// The admin token or an operator key.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A private CA for an https:// URL (else the built-in roots).
    #[arg(long, env = "ADMIN_CA_FILE", global = true)]
    pub ca_file: Option<String>,
    /// How answers are printed.
    #[arg(long, value_enum, default_value_t = Output::Json, global = true)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The API's JSON, indented.
    Json,
    /// The answer's list as a table (one row per item, scalar fields as columns).
    Table,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tenants: list, show, create, disable, enable.
    #[command(subcommand)]
    Tenants(Tenants),
    /// A tenant's SCIM tokens.
    #[command(subcommand)]
    Tokens(Tokens),
    /// A tenant's settings.
    #[command(subcommand)]
    Settings(Settings),
    /// Links to the self-serve portal for a tenant's admin.
    #[command(subcommand)]
    PortalSessions(PortalSessions),
    /// A tenant's attribute mapping and group permissions.
    #[command(subcommand)]
    Mapping(Mapping),
    /// A tenant's schema extensions (RFC 7643 §7): list, show, declare, remove.
    #[command(subcommand)]
    Schemas(Schemas),
    /// A tenant's background re-publishing jobs.
    #[command(subcommand)]
    Jobs(Jobs),
    /// Re-publish a tenant's current state to the directory and consumers.
    Republish { slug: String },
    /// Compare a tenant with what the directory holds.
    Reconcile { slug: String },
    /// Events the broker refused for good.
    #[command(subcommand)]
    SetAside(SetAside),
    /// Webhook endpoints and their deliveries.
    #[command(subcommand)]
    Webhooks(Webhooks),
    /// The events feed (the retained outbox as CloudEvents).
    Events {
        #[arg(long)]
        tenant: Option<String>,
        /// The `next_cursor` of the previous page.
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Operator identities: named keys with a scope.
    #[command(subcommand)]
    OperatorKeys(OperatorKeys),
    /// The audit log of admin actions, newest first.
    Audit {
        #[arg(long)]
        operator: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// The `next` of the previous page.
        #[arg(long)]
        before: Option<i64>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// A tenant's provisioning log, newest first.
    Log(LogArgs),
    /// Shell completions, to stdout.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum Tenants {
    /// Every tenant.
    List,
    /// One tenant, with its connection and settings.
    Show { slug: String },
    /// A new tenant.
    Create {
        slug: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        region: Option<String>,
    },
    /// Its tokens get 401 until it is enabled.
    Disable { slug: String },
    /// Enable a disabled tenant.
    Enable { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum Tokens {
    /// The tenant's tokens (never a secret).
    List { slug: String },
    /// A new token, shown once.
    Issue {
        slug: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Refused at once, everywhere.
    Revoke { slug: String, id: String },
    /// A new token beside the old one; both work until the rotation is completed.
    Rotate {
        slug: String,
        id: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke the old token of a rotation.
    CompleteRotation { slug: String, id: String },
    /// Revoke the new token of a rotation.
    CancelRotation { slug: String, id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeleteMode {
    Soft,
    Hard,
}

#[derive(Debug, Subcommand)]
pub enum Settings {
    /// The settings and the effective rate limit.
    Show { slug: String },
    /// The tenant's own rate limit.
    SetRateLimit { slug: String, requests_per_second: u32, burst: u32 },
    /// Soft or hard deletes, tombstone days, linking by email.
    SetLifecycle {
        slug: String,
        mode: DeleteMode,
        #[arg(long)]
        tombstone_days: Option<u32>,
        #[arg(long)]
        link_by_email: Option<bool>,
    },
    /// How often the tenant's IdP is expected to call (minutes).
    SetCadence { slug: String, minutes: u32 },
    /// Back to the deployment's defaults.
    Reset { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum PortalSessions {
    /// The tenant's portal sessions.
    List { slug: String },
    /// A portal link for the tenant’s admin.
    Issue {
        slug: String,
        #[arg(long)]
        ttl_minutes: Option<u32>,
        #[arg(long)]
        label: Option<String>,
    },
    /// End a portal session.
    Revoke { slug: String, id: String },
}

#[derive(Debug, Subcommand)]
pub enum Mapping {
    /// The mapping and group permissions.
    Show { slug: String },
    /// Replace the mapping (a JSON file).
    Set { slug: String, file: String },
    /// Replace the group permissions (a JSON file).
    SetGroupPermissions { slug: String, file: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaResource {
    User,
    Group,
}

#[derive(Debug, Subcommand)]
pub enum Schemas {
    /// The tenant's declared extensions.
    List { slug: String },
    /// One extension, by its id (its URN).
    Show { slug: String, id: String },
    /// Declare an extension, or replace the one with the same id (a JSON file in RFC 7643 §7 form).
    Declare {
        slug: String,
        /// User or Group.
        #[arg(value_enum, ignore_case = true)]
        resource_type: SchemaResource,
        file: String,
    },
    /// Remove an extension (refused while users or groups hold its attributes).
    Remove { slug: String, id: String },
}

#[derive(Debug, Subcommand)]
pub enum Jobs {
    /// The re-publishing jobs.
    List { slug: String },
    /// One job and its progress.
    Show { slug: String, id: String },
}

#[derive(Debug, Subcommand)]
pub enum SetAside {
    /// The events set aside.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One event (by its seq), or all of them (of a tenant).
    Retry {
        seq: Option<i64>,
        #[arg(long, conflicts_with = "seq")]
        tenant: Option<String>,
    },
    /// Drop one set-aside event.
    Discard { seq: i64 },
}

#[derive(Debug, Subcommand)]
pub enum Webhooks {
    /// Every endpoint.
    List,
    /// One endpoint and its delivery counts.
    Show { id: String },
    /// A new endpoint; its signing secret is shown once.
    Create {
        /// The endpoint's URL (its own id: the global `--url` is the admin API's).
        #[arg(id = "endpoint_url", value_name = "URL")]
        url: String,
        #[arg(long)]
        tenant: Option<String>,
        /// Comma-separated: user.created,group.deleted,…
        #[arg(long, value_delimiter = ',')]
        event_types: Option<Vec<String>>,
        #[arg(long)]
        description: Option<String>,
    },
    /// An endpoint's deliveries.
    Deliveries {
        id: String,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Send delivered or dead deliveries again.
    Replay {
        id: String,
        /// RFC 3339.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        state: Option<String>,
    },
    /// Remove an endpoint and its deliveries.
    Delete { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Scope {
    ReadOnly,
    TenantAdmin,
    Full,
}

#[derive(Debug, Subcommand)]
pub enum OperatorKeys {
    /// The keys (never a key).
    List,
    /// A new key, shown once.
    Issue {
        name: String,
        #[arg(value_enum)]
        scope: Scope,
    },
    /// Refused at once.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    pub slug: String,
    /// RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    pub until: Option<String>,
    /// 404, 4xx, error or success.
    #[arg(long)]
    pub status: Option<String>,
    /// User or Group.
    #[arg(long)]
    pub resource_type: Option<String>,
    #[arg(long)]
    pub resource_id: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
    /// The `next` of the previous page: older entries.
    #[arg(long)]
    pub before: Option<String>,
}

/// One admin API request, as the command line asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: Method,
    /// Below the admin URL, with the query string.
    pub path: String,
    pub body: Option<Value>,
}

fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `?name=value&…` of the options given.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={}", segment(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// A JSON object of the options given.
fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(pairs.into_iter().filter_map(|(name, value)| Some((name.to_owned(), value?))).collect())
}

fn read_json(file: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))
}

impl Command {
    /// The request this command makes (`None`: it makes none, e.g. completions).
    pub fn call(&self) -> anyhow::Result<Option<Call>> {
        let call = |method: Method, path: String, body: Option<Value>| Ok(Some(Call { method, path, body }));
        let tenant = |slug: &str| format!("/admin/v1/tenants/{}", segment(slug));
        let expiry = |days: &Option<u32>| object(vec![("expires_in_days", days.map(|d| json!(d)))]);
        match self {
            Command::Tenants(command) => match command {
                Tenants::List => call(Method::GET, "/admin/v1/tenants".into(), None),
                Tenants::Show { slug } => call(Method::GET, tenant(slug), None),
                Tenants::Create { slug, display_name, region } => {
                    let body = object(vec![
                        ("slug", Some(json!(slug))),
                        ("display_name", display_name.as_ref().map(|n| json!(n))),
                        ("region", region.as_ref().map(|r| json!(r))),
                    ]);
                    call(Method::POST, "/admin/v1/tenants".into(), Some(body))
                }
                Tenants::Disable { slug } => call(Method::POST, format!("{}/disable", tenant(slug)), None),
                Tenants::Enable { slug } => call(Method::POST, format!("{}/enable", tenant(slug)), None),
            },
            Command::Tokens(command) => match command {
                Tokens::List { slug } => call(Method::GET, format!("{}/tokens", tenant(slug)), None),
                Tokens::Issue { slug, expires_in_days } => {
                    call(Method::POST, format!("{}/tokens", tenant(slug)), Some(expiry(expires_in_days)))
                }
                Tokens::Revoke { slug, id } => {
                    call(Method::DELETE, format!("{}/tokens/{}", tenant(slug), segment(id)), None)
                }
                Tokens::Rotate { slug, id, expires_in_days } => call(
                    Method::POST,
                    format!("{}/tokens/{}/rotate", tenant(slug), segment(id)),
                    Some(expiry(expires_in_days)),
                ),
                Tokens::CompleteRotation { slug, id } => {
                    call(Method::POST, format!("{}/tokens/{}/rotate/complete", tenant(slug), segment(id)), None)
                }
                Tokens::CancelRotation { slug, id } => {
                    call(Method::POST, format!("{}/tokens/{}/rotate/cancel", tenant(slug), segment(id)), None)
                }
            },
            Command::Settings(command) => {
                let settings = |slug: &str| format!("{}/settings", tenant(slug));
                match command {
                    Settings::Show { slug } => call(Method::GET, settings(slug), None),
                    Settings::Reset { slug } => call(Method::PUT, settings(slug), Some(json!({}))),
                    Settings::SetCadence { slug, minutes } => {
                        call(Method::PATCH, settings(slug), Some(json!({"expected_cadence_minutes": minutes})))
                    }
                    Settings::SetRateLimit { slug, requests_per_second, burst } => call(
                        Method::PATCH,
                        settings(slug),
                        Some(json!({"rate_limit": {"requests_per_second": requests_per_second, "burst": burst}})),
                    ),
                    Settings::SetLifecycle { slug, mode, tombstone_days, link_by_email } => {
                        let mode = match mode {
                            DeleteMode::Soft => "soft",
                            DeleteMode::Hard => "hard",
                        };
                        let lifecycle = object(vec![
                            ("delete", Some(json!(mode))),
                            ("tombstone_days", tombstone_days.map(|d| json!(d))),
                            ("link_by_email", link_by_email.map(|b| json!(b))),
                        ]);
                        call(Method::PATCH, settings(slug), Some(json!({ "lifecycle": lifecycle })))
                    }
                }
            }
            Command::PortalSessions(command) => {
                let sessions = |slug: &str| format!("{}/portal-sessions", tenant(slug));
                match command {
                    PortalSessions::List { slug } => call(Method::GET, sessions(slug), None),
                    PortalSessions::Issue { slug, ttl_minutes, label } => {
                        let body = object(vec![
                            ("ttl_minutes", ttl_minutes.map(|m| json!(m))),
                            ("label", label.as_ref().map(|l| json!(l))),
                        ]);
                        call(Method::POST, sessions(slug), Some(body))
                    }
                    PortalSessions::Revoke { slug, id } => {
                        call(Method::DELETE, format!("{}/{}", sessions(slug), segment(id)), None)
                    }
                }
            }
            Command::Mapping(command) => match command {
                Mapping::Show { slug } => call(Method::GET, format!("{}/mapping", tenant(slug)), None),
                Mapping::Set { slug, file } => {
                    call(Method::PUT, format!("{}/mapping", tenant(slug)), Some(read_json(file)?))
                }
                Mapping::SetGroupPermissions { slug, file } => {
                    call(Method::PUT, format!("{}/group-permissions", tenant(slug)), Some(read_json(file)?))
                }
            },
            Command::Schemas(command) => {
                let schemas = |slug: &str| format!("{}/schemas", tenant(slug));
                match command {
                    Schemas::List { slug } => call(Method::GET, schemas(slug), None),
                    Schemas::Show { slug, id } => call(Method::GET, format!("{}/{}", schemas(slug), segment(id)), None),
                    Schemas::Declare { slug, resource_type, file } => {
                        let resource_type = match resource_type {
                            SchemaResource::User => "User",
                            SchemaResource::Group => "Group",
                        };
                        let body = json!({"resource_type": resource_type, "definition": read_json(file)?});
                        call(Method::POST, schemas(slug), Some(body))
                    }
                    Schemas::Remove { slug, id } => {
                        call(Method::DELETE, format!("{}/{}", schemas(slug), segment(id)), None)
                    }
                }
            }
            Command::Jobs(command) => match command {
                Jobs::List { slug } => call(Method::GET, format!("{}/jobs", tenant(slug)), None),
                Jobs::Show { slug, id } => call(Method::GET, format!("{}/jobs/{}", tenant(slug), segment(id)), None),
            },
            Command::Republish { slug } => call(Method::POST, format!("{}/republish", tenant(slug)), None),
            Command::Reconcile { slug } => call(Method::POST, format!("{}/reconcile", tenant(slug)), None),
            Command::SetAside(command) => {
                let set_aside = "/admin/v1/outbox/set-aside";
                match command {
                    SetAside::List { tenant, limit } => call(
                        Method::GET,
                        format!(
                            "{set_aside}{}",
                            query(&[("tenant", tenant.clone()), ("limit", limit.map(|l| l.to_string()))])
                        ),
                        None,
                    ),
                    SetAside::Retry { seq: Some(seq), .. } => {
                        call(Method::POST, format!("{set_aside}/{seq}/retry"), None)
                    }
                    SetAside::Retry { seq: None, tenant } => {
                        call(Method::POST, format!("{set_aside}/retry{}", query(&[("tenant", tenant.clone())])), None)
                    }
                    SetAside::Discard { seq } => call(Method::DELETE, format!("{set_aside}/{seq}"), None),
                }
            }
            Command::Webhooks(command) => {
                let webhooks = "/admin/v1/webhooks";
                match command {
                    Webhooks::List => call(Method::GET, webhooks.into(), None),
                    Webhooks::Show { id } => call(Method::GET, format!("{webhooks}/{}", segment(id)), None),
                    Webhooks::Delete { id } => call(Method::DELETE, format!("{webhooks}/{}", segment(id)), None),
                    Webhooks::Create { url, tenant, event_types, description } => {
                        let body = object(vec![
                            ("tenant", tenant.as_ref().map(|t| json!(t))),
                            (
                                "event_types",
                                event_types.as_ref().map(|t| json!(t.iter().map(|t| t.trim()).collect::<Vec<_>>())),
                            ),
                            ("description", description.as_ref().map(|d| json!(d))),
                            ("url", Some(json!(url))),
                        ]);
                        call(Method::POST, webhooks.into(), Some(body))
                    }
                    Webhooks::Deliveries { id, state, limit } => call(
                        Method::GET,
                        format!(
                            "{webhooks}/{}/deliveries{}",
                            segment(id),
                            query(&[("state", state.clone()), ("limit", limit.map(|l| l.to_string()))])
                        ),
                        None,
                    ),
                    Webhooks::Replay { id, since, state } => {
                        let body = object(vec![
                            ("since", since.as_ref().map(|s| json!(s))),
                            ("state", state.as_ref().map(|s| json!(s))),
                        ]);
                        call(Method::POST, format!("{webhooks}/{}/replay", segment(id)), Some(body))
                    }
                }
            }
            Command::Events { tenant, after, limit } => call(
                Method::GET,
                format!(
                    "/admin/v1/events{}",
                    query(&[
                        ("tenant", tenant.clone()),
                        ("after", after.clone()),
                        ("limit", limit.map(|l| l.to_string()))
                    ])
                ),
                None,
            ),
            Command::OperatorKeys(command) => {
                let keys = "/admin/v1/operator-keys";
                match command {
                    OperatorKeys::List => call(Method::GET, keys.into(), None),
                    OperatorKeys::Issue { name, scope } => {
                        let scope = match scope {
                            Scope::ReadOnly => "read_only",
                            Scope::TenantAdmin => "tenant_admin",
                            Scope::Full => "full",
                        };
                        call(Method::POST, keys.into(), Some(json!({"name": name, "scope": scope})))
                    }
                    OperatorKeys::Revoke { id } => call(Method::DELETE, format!("{keys}/{}", segment(id)), None),
                }
            }
            Command::Audit { operator, tenant, before, limit } => call(
                Method::GET,
                format!(
                    "/admin/v1/audit{}",
                    query(&[
                        ("operator", operator.clone()),
                        ("tenant", tenant.clone()),
                        ("before", before.map(|b| b.to_string())),
                        ("limit", limit.map(|l| l.to_string())),
                    ])
                ),
                None,
            ),
            Command::Log(log) => call(
                Method::GET,
                format!(
                    "{}/provisioning-log{}",
                    tenant(&log.slug),
                    query(&[
                        ("status", log.status.clone()),
                        ("since", log.since.clone()),
                        ("until", log.until.clone()),
                        ("resource_type", log.resource_type.clone()),
                        ("resource_id", log.resource_id.clone()),
                        ("limit", log.limit.map(|l| l.to_string())),
                        ("before", log.before.clone()),
                    ])
                ),
                None,
            ),
            Command::Completions { .. } => Ok(None),
        }
    }
}

/// The request for a command line (without the leading `admin`).
pub fn parse(arguments: &[String]) -> anyhow::Result<Call> {
    let cli = Cli::try_parse_from(std::iter::once("admin".to_owned()).chain(arguments.iter().cloned()))?;
    cli.command.call()?.context("this command sends no request")
}

/// Runs a command line and exits: 0 on success (and for `--help`), 1 with the error on stderr
/// (no backtrace: the operator needs the API's answer, not the CLI's stack), 2 for a command
/// line clap refuses.
pub async fn main(arguments: &[String], source: &impl Source) -> ! {
    let _ = source;
    let cli = match Cli::try_parse_from(std::iter::once("admin".to_owned()).chain(arguments.iter().cloned())) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match run(cli).await {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("{error:#}");
            std::process::exit(1)
        }
    }
}

/// A cell of the table: a scalar as text, anything else as compact JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The answer as a table: its (first) list of objects, one row each, the fields of the first
/// as columns; an answer without such a list is printed as JSON.
pub fn table(answer: &Value) -> Option<String> {
    let rows = match answer {
        Value::Array(rows) => rows,
        Value::Object(fields) => {
            fields.values().find_map(|v| v.as_array().filter(|a| a.iter().all(Value::is_object)))?
        }
        _ => return None,
    };
    let columns: Vec<String> = rows.first()?.as_object()?.keys().cloned().collect();
    let cells: Vec<Vec<String>> =
        rows.iter().map(|row| columns.iter().map(|c| cell(&row[c]).replace('\n', " ")).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].chars().count()).chain([c.len()]).max().unwrap_or(0).min(60))
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| {
                let v: String = v.chars().take(*w).collect();
                format!("{v:<w$}")
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(columns.iter().map(|c| c.to_uppercase()).collect())];
    out.extend(cells.into_iter().map(line));
    Some(out.join("\n"))
}

/// Runs a parsed command line against the admin API; prints the answer.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "admin", &mut script);
        // A closed stdout (`| head`) is not an error worth more than the exit status.
        return std::io::Write::write_all(&mut std::io::stdout(), &script).context("writing the completions");
    }
    let call = cli.command.call()?.context("this command sends no request")?;
    let base = cli.url.trim().to_owned();
    let token = cli.token.filter(|t| !t.trim().is_empty()).context("ADMIN_TOKEN (or --token) must be set")?;
    let url = format!("{}{}", base.trim_end_matches('/'), call.path);
    let mut client = reqwest::Client::builder();
    // An https:// ADMIN_URL is checked against the built-in roots, or this private CA.
    if let Some(path) = cli.ca_file.filter(|p| !p.trim().is_empty()) {
        let pem = std::fs::read(path.trim()).with_context(|| format!("ADMIN_CA_FILE={path:?} cannot be read"))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("ADMIN_CA_FILE={path:?} is not a PEM certificate"))?;
        client = client.add_root_certificate(ca);
    }
    let client = client.build().context("the admin API client")?;
    let mut request = client.request(call.method, &url).bearer_auth(token.trim());
    if let Some(body) = call.body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("cannot reach the admin API at {base}"))?;
    let status = response.status();
    let text = response.text().await.context("reading the admin API's answer")?;
    let json = serde_json::from_str::<Value>(&text).ok();
    let shown = match (&json, cli.output) {
        (Some(json), Output::Table) if status.is_success() => {
            table(json).or_else(|| serde_json::to_string_pretty(json).ok())
        }
        (Some(json), _) => serde_json::to_string_pretty(json).ok(),
        (None, _) => None,
    }
    .unwrap_or(text);
    if status.is_success() {
        if !shown.is_empty() {
            // A closed stdout (`| head`) ends the output, not in a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), format!("{shown}\n").as_bytes());
        }
        Ok(())
    } else {
        bail!("the admin API answered {status}: {shown}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn webhook_command_lines_become_requests() {
        let create = parse(&words(
            "webhooks create https://app.example/h --tenant acme --event-types user.created,group.deleted",
        ))
        .unwrap();
        assert_eq!((create.method, create.path.as_str()), (Method::POST, "/admin/v1/webhooks"));
        assert_eq!(
            create.body,
            Some(
                json!({"tenant": "acme", "event_types": ["user.created", "group.deleted"], "url": "https://app.example/h"})
            )
        );
        let deliveries = parse(&words("webhooks deliveries 0193 --state dead --limit 5")).unwrap();
        assert_eq!(deliveries.path, "/admin/v1/webhooks/0193/deliveries?state=dead&limit=5");
        let replay = parse(&words("webhooks replay 0193 --state dead")).unwrap();
        assert_eq!(
            (replay.path.as_str(), replay.body),
            ("/admin/v1/webhooks/0193/replay", Some(json!({"state": "dead"})))
        );
        assert_eq!(parse(&words("webhooks delete 0193")).unwrap().method, Method::DELETE);
        assert!(parse(&words("webhooks deliveries 0193 --tenant acme")).is_err(), "an option of another verb");
        assert!(parse(&words("webhooks list extra")).is_err());
        assert_eq!(parse(&words("events")).unwrap().path, "/admin/v1/events");
        let events = parse(&words("events --tenant acme --after djE --limit 5")).unwrap();
        assert_eq!(
            (events.method, events.path.as_str()),
            (Method::GET, "/admin/v1/events?tenant=acme&after=djE&limit=5")
        );
        assert!(parse(&words("events acme")).is_err());
        assert!(parse(&words("events --state dead")).is_err());
    }

    #[test]
    fn command_lines_become_requests() {
        let create = parse(&words("tenants create acme --display-name Acme --region eu")).unwrap();
        assert_eq!(create.method, Method::POST);
        assert_eq!(create.path, "/admin/v1/tenants");
        assert_eq!(create.body, Some(json!({"slug": "acme", "display_name": "Acme", "region": "eu"})));
        let rotate = parse(&words("tokens rotate acme 0193 --expires-in-days 90")).unwrap();
        assert_eq!(rotate.path, "/admin/v1/tenants/acme/tokens/0193/rotate");
        assert_eq!(rotate.body, Some(json!({"expires_in_days": 90})));
        assert_eq!(
            parse(&words("tokens cancel-rotation acme 0193")).unwrap().path,
            "/admin/v1/tenants/acme/tokens/0193/rotate/cancel"
        );
        assert_eq!(parse(&words("tokens revoke acme x")).unwrap().method, Method::DELETE);
        let log = parse(&words("log acme --status 4xx --since 2026-11-23T10:00:00+01:00")).unwrap();
        assert_eq!(
            log.path,
            "/admin/v1/tenants/acme/provisioning-log?status=4xx&since=2026-11-23T10%3A00%3A00%2B01%3A00"
        );
        let limit = parse(&words("settings set-rate-limit acme 25 50")).unwrap();
        assert_eq!(limit.method, Method::PATCH, "the other settings are kept");
        assert_eq!(limit.body, Some(json!({"rate_limit": {"requests_per_second": 25, "burst": 50}})));
        let lifecycle = parse(&words("settings set-lifecycle acme hard --link-by-email false")).unwrap();
        assert_eq!(lifecycle.body, Some(json!({"lifecycle": {"delete": "hard", "link_by_email": false}})));
        assert_eq!(parse(&words("mapping show acme")).unwrap().path, "/admin/v1/tenants/acme/mapping");
        assert_eq!(parse(&words("jobs list acme")).unwrap().path, "/admin/v1/tenants/acme/jobs");
        let job = parse(&words("jobs show acme 0193")).unwrap();
        assert_eq!((job.method, job.path.as_str()), (Method::GET, "/admin/v1/tenants/acme/jobs/0193"));
        let call = |line: &str| {
            let call = parse(&words(line)).unwrap();
            (call.method, call.path)
        };
        assert_eq!(call("reconcile acme"), (Method::POST, "/admin/v1/tenants/acme/reconcile".to_owned()));
        assert_eq!(call("republish acme"), (Method::POST, "/admin/v1/tenants/acme/republish".to_owned()));
        assert_eq!(
            call("set-aside list --tenant acme"),
            (Method::GET, "/admin/v1/outbox/set-aside?tenant=acme".to_owned())
        );
        assert_eq!(call("set-aside retry 42"), (Method::POST, "/admin/v1/outbox/set-aside/42/retry".to_owned()));
        assert_eq!(
            call("set-aside retry --tenant acme"),
            (Method::POST, "/admin/v1/outbox/set-aside/retry?tenant=acme".to_owned())
        );
        assert_eq!(call("set-aside discard 42"), (Method::DELETE, "/admin/v1/outbox/set-aside/42".to_owned()));
        assert!(parse(&words("set-aside discard")).is_err());
        let session = parse(&words("portal-sessions issue acme --ttl-minutes 30 --label it@acme")).unwrap();
        assert_eq!((session.method, session.path.as_str()), (Method::POST, "/admin/v1/tenants/acme/portal-sessions"));
        assert_eq!(session.body, Some(json!({"ttl_minutes": 30, "label": "it@acme"})));
        assert_eq!(
            call("portal-sessions revoke acme 0193"),
            (Method::DELETE, "/admin/v1/tenants/acme/portal-sessions/0193".to_owned())
        );
        assert!(parse(&words("portal-sessions issue acme --ttl-minutes soon")).is_err());
        let cadence = parse(&words("settings set-cadence acme 1440")).unwrap();
        assert_eq!(cadence.method, Method::PATCH, "the other settings are kept");
        assert_eq!(cadence.body, Some(json!({"expected_cadence_minutes": 1440})));
    }

    #[test]
    fn schema_commands_go_through_the_admin_api() {
        let urn = "urn:example:params:scim:schemas:extension:badge:2.0:User";
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), json!({"id": urn, "attributes": []}).to_string()).unwrap();
        let declare = parse(&words(&format!("schemas declare acme user {}", file.path().display()))).unwrap();
        assert_eq!((declare.method, declare.path.as_str()), (Method::POST, "/admin/v1/tenants/acme/schemas"));
        assert_eq!(declare.body, Some(json!({"resource_type": "User", "definition": {"id": urn, "attributes": []}})));
        let remove = parse(&words(&format!("schemas remove acme {urn}"))).unwrap();
        let escaped = "urn%3Aexample%3Aparams%3Ascim%3Aschemas%3Aextension%3Abadge%3A2.0%3AUser";
        assert_eq!(remove.path, format!("/admin/v1/tenants/acme/schemas/{escaped}"));
        assert_eq!(remove.method, Method::DELETE);
        assert_eq!(parse(&words("schemas list acme")).unwrap().path, "/admin/v1/tenants/acme/schemas");
        let role = format!("schemas declare acme Role {}", file.path().display());
        assert!(parse(&words(&role)).is_err(), "neither User nor Group");
        assert!(parse(&words("schemas declare acme User /nonexistent.json")).is_err(), "an unreadable file");
    }

    /// A positional named like a global option must not take its place: the webhook's URL is
    /// not where the admin credential goes.
    #[test]
    fn a_webhook_url_is_not_the_admin_url() {
        let cli = Cli::try_parse_from([
            "admin",
            "--url",
            "http://admin.internal:8081",
            "webhooks",
            "create",
            "https://hooks.example.com/x",
            "--event-types",
            "user.created, group.deleted",
        ])
        .unwrap();
        assert_eq!(cli.url, "http://admin.internal:8081");
        let call = cli.command.call().unwrap().unwrap();
        assert_eq!(call.body.unwrap()["url"], "https://hooks.example.com/x");
        let default = Cli::try_parse_from(["admin", "webhooks", "create", "https://hooks.example.com/x"]).unwrap();
        assert_ne!(default.url, "https://hooks.example.com/x");
    }

    #[test]
    fn every_command_has_help_and_lists_become_tables() {
        Cli::command().debug_assert();
        let help = Cli::try_parse_from(["admin", "tokens", "rotate", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("--expires-in-days"), "{help}");
        let paged = parse(&words("log acme --before 0193 --limit 50")).unwrap();
        assert_eq!(paged.path, "/admin/v1/tenants/acme/provisioning-log?limit=50&before=0193");
        let audit = parse(&words("audit --operator alice --before 42")).unwrap();
        assert_eq!(audit.path, "/admin/v1/audit?operator=alice&before=42");
        let issued = parse(&words("operator-keys issue alice tenant_admin")).unwrap();
        assert_eq!(issued.body, Some(json!({"name": "alice", "scope": "tenant_admin"})));
        let shown =
            table(&json!({"tenants": [{"slug": "acme", "disabled": false}, {"slug": "globex", "disabled": true}]}))
                .unwrap();
        assert_eq!(shown, "SLUG    DISABLED\nacme    false\nglobex  true");
        assert_eq!(table(&json!({"slug": "acme"})), None, "one object stays JSON");
        let mut completions = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut Cli::command(), "admin", &mut completions);
        assert!(String::from_utf8_lossy(&completions).contains("operator-keys"));
    }

    #[test]
    fn bad_command_lines_say_why() {
        for line in [
            "",
            "tenants",
            "tenants create",
            "tokens issue acme --forever",
            "settings set-rate-limit acme x 1",
            "jobs show acme",
        ] {
            assert!(parse(&words(line)).is_err(), "{line}");
        }
    }
}
