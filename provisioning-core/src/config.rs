//! provisioning-core's settings, read from the environment and validated before anything starts.

use std::net::SocketAddr;

use anyhow::Context;
use platform::config::Source;
use platform::db::DatabaseUrl;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// `DATABASE_URL`: postgres://… or sqlite://path.
    pub database_url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `CORE_GRPC_ADDR`, default 127.0.0.1:50051.
    pub grpc_addr: SocketAddr,
    /// The gRPC listener's TLS (`GRPC_TLS_CERT_FILE`, `GRPC_TLS_KEY_FILE`,
    /// `GRPC_TLS_CLIENT_CA_FILE`; see `platform::tls`); none: plaintext.
    pub grpc_tls: Option<platform::tls::ServerTls>,
    /// `SHUTDOWN_DRAIN_MS`, default 0: asked to stop, the gRPC health says NOT_SERVING this long
    /// before the listener closes, so that gateways balancing over the replicas stop sending to
    /// this one first (set it above the gateways' `CORE_DISCOVERY_INTERVAL_MS`).
    pub shutdown_drain: std::time::Duration,
    /// `DIRECTORY_GRPC_CA_FILE` and the client certificate, for an `https://` `DIRECTORY_GRPC_URL`.
    pub directory_tls: platform::tls::ClientTls,
    /// Set when `KAFKA_BOOTSTRAP_SERVERS` is.
    pub kafka: Option<KafkaConfig>,
    /// `REGION`, default `local`: part of every token issued here.
    pub region: String,
    /// `TOKEN_PREFIX`, default `scim`.
    pub token_prefix: String,
    /// `SCIM_BOOTSTRAP_TOKEN`: becomes a token of `BOOTSTRAP_TENANT` (default `default`).
    pub bootstrap: Option<Bootstrap>,
    /// `PROVISIONING_LOG_RETENTION_DAYS`, default 30.
    pub log_retention_days: u32,
    /// `PROVISIONING_LOG` = `on` (default) or `off`.
    pub log_enabled: bool,
    /// Per tenant: `RATE_LIMIT_PER_SECOND` (default 100) with bursts of `RATE_LIMIT_BURST`
    /// (default 200). Entra's gallery asks for at least 25 requests/second per tenant.
    pub rate_limit: RateLimit,
    /// The admin API.
    pub admin: AdminConfig,
    /// `DIRECTORY_GRPC_URL`: the directory store, asked for accounts to link new users to.
    /// Without it, no linking.
    pub directory_url: Option<String>,
    /// `DIRECTORY_TOKEN`: the core's credential at the directory (its `DIRECTORY_INTERNAL_TOKEN`).
    pub directory_token: Option<SecretString>,
    /// `PURGE_INTERVAL_SECONDS`, default 3600: how often due tombstones are purged.
    pub purge_interval_seconds: u64,
    /// What keeps one tenant or one request from hurting the others, and what is kept.
    pub safeguards: Safeguards,
    /// How webhooks are sent.
    pub webhooks: WebhookSettings,
}

/// Webhook delivery (see `crate::webhooks`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `EVENT_TYPE_PREFIX` (default `com.example.scim`: set your own reverse-DNS name) and
    /// `CLOUDEVENTS_SOURCE` (default `/scim-provisioning`).
    pub naming: scim_events::json::Naming,
    /// `WEBHOOK_TIMEOUT_MS`, default 10000: one attempt's limit.
    pub timeout: std::time::Duration,
    /// `WEBHOOK_RETRY_BASE_MS`, default 1000: the first retry's delay, doubling (with ±20%
    /// jitter) up to `WEBHOOK_RETRY_MAX_MS`, default 600000.
    pub retry_base: std::time::Duration,
    pub retry_max: std::time::Duration,
    /// `WEBHOOK_DEAD_AFTER_SECONDS`, default 86400: a delivery failing for longer is dead
    /// (kept, listed, replayable).
    pub dead_after: std::time::Duration,
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS`, default false (true on standalone): whether endpoints may
    /// be loopback, private, link-local (cloud metadata) or other non-public addresses. Checked
    /// when an endpoint is made and at every connection, after DNS resolution.
    pub allow_private_targets: bool,
}

impl WebhookSettings {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Self> {
        let ms = |name: &str, default: u64| -> anyhow::Result<std::time::Duration> {
            Ok(std::time::Duration::from_millis(source.parse_or(name, default)?))
        };
        Ok(Self {
            naming: event_naming(source)?,
            timeout: ms("WEBHOOK_TIMEOUT_MS", 10_000)?,
            retry_base: ms("WEBHOOK_RETRY_BASE_MS", 1_000)?,
            retry_max: ms("WEBHOOK_RETRY_MAX_MS", 600_000)?,
            dead_after: std::time::Duration::from_secs(source.parse_or("WEBHOOK_DEAD_AFTER_SECONDS", 86_400)?),
            allow_private_targets: source.parse_or("WEBHOOK_ALLOW_PRIVATE_TARGETS", false)?,
        })
    }
}

/// `EVENT_TYPE_PREFIX` (default `com.example.scim`: set your own reverse-DNS name) and
/// `CLOUDEVENTS_SOURCE` (default `/scim-provisioning`), for every sink.
pub fn event_naming(source: &impl Source) -> anyhow::Result<scim_events::json::Naming> {
    let prefix = source.get("EVENT_TYPE_PREFIX").unwrap_or_else(|| "com.example.scim".to_owned());
    let valid = !prefix.is_empty()
        && prefix
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    anyhow::ensure!(valid, "EVENT_TYPE_PREFIX={prefix:?} is not a reverse-DNS name like com.example.scim");
    Ok(scim_events::json::Naming {
        type_prefix: prefix,
        source: source.get("CLOUDEVENTS_SOURCE").unwrap_or_else(|| "/scim-provisioning".to_owned()),
    })
}

/// Bounds on one tenant's and one request's share of the database, and retention.
#[derive(Debug, Clone, Copy)]
pub struct Safeguards {
    /// `DB_STATEMENT_TIMEOUT_MS`, default 10000 (PostgreSQL; 0: none): a statement running
    /// longer is cancelled and its request answered 503.
    pub statement_timeout: std::time::Duration,
    /// `TENANT_MAX_CONCURRENT_REQUESTS`, default half of `DATABASE_MAX_CONNECTIONS` (at least
    /// 1): requests of one tenant doing database work at once on a replica; more wait (up to
    /// `TENANT_QUEUE_TIMEOUT_MS`, default 5000, then 429), so one tenant cannot take every
    /// pooled connection that the others' token checks need.
    pub tenant_concurrency: usize,
    pub tenant_queue_timeout: std::time::Duration,
    /// `OUTBOX_RETENTION_DAYS`, default 7 (the topic's retention): published events (they carry
    /// names and e-mails) are deleted from the outbox after this many days.
    pub outbox_retention_days: u32,
}

impl Safeguards {
    pub fn from_source(source: &impl Source, max_connections: u32) -> anyhow::Result<Self> {
        let default_concurrency = usize::try_from(max_connections / 2).unwrap_or(1).max(1);
        let concurrency: usize = source.parse_or("TENANT_MAX_CONCURRENT_REQUESTS", default_concurrency)?;
        anyhow::ensure!(concurrency > 0, "TENANT_MAX_CONCURRENT_REQUESTS must be at least 1");
        Ok(Self {
            statement_timeout: std::time::Duration::from_millis(source.parse_or("DB_STATEMENT_TIMEOUT_MS", 10_000)?),
            tenant_concurrency: concurrency,
            tenant_queue_timeout: std::time::Duration::from_millis(source.parse_or("TENANT_QUEUE_TIMEOUT_MS", 5_000)?),
            outbox_retention_days: source.parse_or("OUTBOX_RETENTION_DAYS", 7)?,
        })
    }
}

/// The operators' HTTP API, on its own listener (never the SCIM port).
#[derive(Clone)]
pub struct AdminConfig {
    /// `ADMIN_HTTP_ADDR`, default 127.0.0.1:8081.
    pub addr: SocketAddr,
    /// `ADMIN_TOKEN`: the operators' bearer credential. Without it every admin request is
    /// refused (standalone generates one).
    pub token: Option<SecretString>,
    /// `REGION_TENANT_URLS`: each region's SCIM tenant URL (`eu=https://…,us=https://…`).
    pub region_tenant_urls: Vec<(String, String)>,
    /// `PORTAL_HTTP_ADDR`: where the self-serve portal (its page and its `/portal/v1` API for
    /// portal sessions) listens; unset, it is not served. Unlike the admin listener, this one
    /// is meant to be reached from the customers' browsers (through the public host's ingress).
    pub portal_addr: Option<SocketAddr>,
    /// `PORTAL_PUBLIC_URL`: the portal page's public address (e.g.
    /// `https://scim.example.com/portal/`), for the links the admin API hands out; by default
    /// `http://<PORTAL_HTTP_ADDR>/portal/`.
    pub portal_url: Option<String>,
    /// `ADMIN_AUDIT_RETENTION_DAYS`, default 365: audit entries older than this are deleted by
    /// the hourly purge; 0 keeps them for ever.
    pub audit_retention_days: u32,
    /// Operator SSO (`ADMIN_OIDC_ISSUER` and the settings beside it): unset, none.
    pub oidc: Option<OidcConfig>,
}

/// Operator SSO with OpenID Connect tokens (see `admin::oidc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// `ADMIN_OIDC_ISSUER`: the tokens' `iss`, e.g. `https://login.microsoftonline.com/<tenant id>/v2.0`.
    pub issuer: String,
    /// `ADMIN_OIDC_AUDIENCE` (required with the issuer): the tokens' `aud`, e.g. the app's client id.
    pub audience: String,
    /// `ADMIN_OIDC_JWKS_URL`: the issuer's keys; by default the `jwks_uri` of its discovery
    /// document (`<issuer>/.well-known/openid-configuration`).
    pub jwks_url: Option<String>,
    /// `ADMIN_OIDC_ROLES_CLAIM`, default `roles`.
    pub roles_claim: String,
    /// `ADMIN_OIDC_NAME_CLAIM`, default `preferred_username` (else `sub`): the name in the audit log.
    pub name_claim: String,
    /// `ADMIN_OIDC_ROLE_SCOPES` (required with the issuer): `role=scope,…`.
    pub role_scopes: Vec<(String, crate::store::operators::Scope)>,
}

/// The SSO issuer's documents are fetched over https; plain http only on the loopback (a local
/// IdP, tests).
pub fn check_oidc_url(what: &str, url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{what} '{url}' is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback),
        "{what} '{url}' must be https (plain http only on the loopback)"
    );
    Ok(())
}

impl OidcConfig {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Option<Self>> {
        let Some(issuer) = source.get("ADMIN_OIDC_ISSUER").map(|i| i.trim().to_owned()).filter(|i| !i.is_empty())
        else {
            return Ok(None);
        };
        check_oidc_url("ADMIN_OIDC_ISSUER", &issuer)?;
        let audience = source.require("ADMIN_OIDC_AUDIENCE").context("ADMIN_OIDC_ISSUER is set")?.trim().to_owned();
        let mut role_scopes = Vec::new();
        for pair in source.require("ADMIN_OIDC_ROLE_SCOPES").context("ADMIN_OIDC_ISSUER is set")?.split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let parsed = pair.split_once('=').and_then(|(role, scope)| {
                Some((role.trim().to_owned(), crate::store::operators::Scope::parse(scope.trim())?))
                    .filter(|(role, _)| !role.is_empty())
            });
            let Some(parsed) = parsed else {
                anyhow::bail!(
                    "ADMIN_OIDC_ROLE_SCOPES: '{pair}' is not role=scope with a scope read_only, tenant_admin or full"
                );
            };
            role_scopes.push(parsed);
        }
        anyhow::ensure!(!role_scopes.is_empty(), "ADMIN_OIDC_ROLE_SCOPES maps no role to a scope");
        let jwks_url = source.get("ADMIN_OIDC_JWKS_URL").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        if let Some(url) = &jwks_url {
            check_oidc_url("ADMIN_OIDC_JWKS_URL", url)?;
        }
        let setting = |key: &str, default: &str| {
            source.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
        };
        Ok(Some(Self {
            issuer,
            audience,
            jwks_url,
            roles_claim: setting("ADMIN_OIDC_ROLES_CLAIM", "roles"),
            name_claim: setting("ADMIN_OIDC_NAME_CLAIM", "preferred_username"),
            role_scopes,
        }))
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("region_tenant_urls", &self.region_tenant_urls)
            .field("portal_addr", &self.portal_addr)
            .field("portal_url", &self.portal_url)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl AdminConfig {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Self> {
        Ok(Self {
            addr: source.socket_addr_or("ADMIN_HTTP_ADDR", "127.0.0.1:8081")?,
            token: source.get("ADMIN_TOKEN").filter(|t| !t.trim().is_empty()).map(|t| SecretString::from(t.trim())),
            region_tenant_urls: platform::config::region_tenant_urls(source)?,
            portal_addr: source
                .get("PORTAL_HTTP_ADDR")
                .filter(|a| !a.trim().is_empty())
                .map(|a| a.trim().parse().with_context(|| format!("PORTAL_HTTP_ADDR={a:?} is not a socket address")))
                .transpose()?,
            portal_url: source.get("PORTAL_PUBLIC_URL").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()),
            audit_retention_days: source.parse_or("ADMIN_AUDIT_RETENTION_DAYS", 365)?,
            oidc: OidcConfig::from_source(source)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: std::num::NonZeroU32,
    pub burst: std::num::NonZeroU32,
}

impl RateLimit {
    /// The deployment's defaults: 100 a second, bursts of 200.
    pub fn from_source(source: &impl Source) -> anyhow::Result<Self> {
        Self::from_source_or(source, 100, 200)
    }

    /// `RATE_LIMIT_PER_SECOND` and `RATE_LIMIT_BURST`, else these defaults.
    pub fn from_source_or(source: &impl Source, per_second: u32, burst: u32) -> anyhow::Result<Self> {
        let non_zero = |key: &str, default: u32| -> anyhow::Result<std::num::NonZeroU32> {
            std::num::NonZeroU32::new(source.parse_or(key, default)?)
                .ok_or_else(|| anyhow::anyhow!("{key} must be at least 1"))
        };
        Ok(Self {
            per_second: non_zero("RATE_LIMIT_PER_SECOND", per_second)?,
            burst: non_zero("RATE_LIMIT_BURST", burst)?,
        })
    }
}

#[derive(Clone)]
pub struct Bootstrap {
    pub tenant: String,
    pub token: Option<SecretString>,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("tenant", &self.tenant)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    /// `KAFKA_TOPIC`, default `scim.changes`.
    pub topic: String,
    /// `KAFKA_MESSAGE_TIMEOUT_MS`, default 30000: how long one delivery attempt may take.
    pub message_timeout_ms: u32,
    /// `KAFKA_PROPERTIES`: extra librdkafka settings, `key=value` separated by `;`
    /// (e.g. `security.protocol=SASL_SSL;sasl.mechanism=SCRAM-SHA-512`).
    pub properties: Vec<(String, String)>,
    /// The `ce_type` prefix and `ce_source` (see [`event_naming`]).
    pub naming: scim_events::json::Naming,
    /// `KAFKA_EVENT_FORMAT`, `protobuf` (the default) or `json`: the payload's format.
    pub format: scim_events::Format,
}

pub const DEFAULT_TOPIC: &str = "scim.changes";

impl CoreConfig {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Self> {
        let bootstrap_token = source.get("SCIM_BOOTSTRAP_TOKEN").filter(|t| !t.trim().is_empty());
        let bootstrap_tenant = source.get("BOOTSTRAP_TENANT").filter(|t| !t.trim().is_empty());
        let bootstrap = match (bootstrap_tenant, bootstrap_token) {
            (None, None) => None,
            (tenant, token) => Some(Bootstrap {
                tenant: tenant.unwrap_or_else(|| "default".to_owned()),
                token: token.map(SecretString::from),
            }),
        };
        let region = platform::config::region(source)?;
        let token_prefix = platform::config::token_prefix(source)?;
        if let Some(token) = bootstrap.as_ref().and_then(|b| b.token.as_ref()) {
            check_bootstrap_token(token.expose_secret(), &token_prefix, &region)?;
        }
        let max_connections = source.parse_or("DATABASE_MAX_CONNECTIONS", 10)?;
        Ok(Self {
            database_url: DatabaseUrl::parse(&source.require("DATABASE_URL")?)?,
            max_connections,
            grpc_addr: source.socket_addr_or("CORE_GRPC_ADDR", "127.0.0.1:50051")?,
            grpc_tls: platform::tls::ServerTls::from_source(source)?,
            shutdown_drain: std::time::Duration::from_millis(source.parse_or("SHUTDOWN_DRAIN_MS", 0)?),
            directory_tls: platform::tls::ClientTls::from_source(source, "DIRECTORY_GRPC_CA_FILE")?,
            kafka: KafkaConfig::from_source(source)?,
            region,
            token_prefix,
            bootstrap,
            log_retention_days: source.parse_or("PROVISIONING_LOG_RETENTION_DAYS", 30)?,
            log_enabled: log_enabled(source)?,
            rate_limit: RateLimit::from_source(source)?,
            admin: AdminConfig::from_source(source)?,
            directory_url: source.get("DIRECTORY_GRPC_URL").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()),
            directory_token: source.get("DIRECTORY_TOKEN").filter(|t| !t.trim().is_empty()).map(SecretString::from),
            purge_interval_seconds: source.parse_or("PURGE_INTERVAL_SECONDS", 3600)?,
            safeguards: Safeguards::from_source(source, max_connections)?,
            webhooks: WebhookSettings::from_source(source)?,
        })
    }
}

/// A configured token that looks like one of ours must name this region: the gateway refuses
/// tokens of other regions before any lookup.
pub fn check_bootstrap_token(token: &str, prefix: &str, region: &str) -> anyhow::Result<()> {
    if let Some(named) = platform::config::token_region(token, prefix) {
        anyhow::ensure!(
            named == region,
            "SCIM_BOOTSTRAP_TOKEN names region {named:?} ({prefix}_{named}_…) but REGION is {region:?}: \
             use {prefix}_{region}_<secret> or a token that does not start with {prefix}_"
        );
    }
    Ok(())
}

/// `PROVISIONING_LOG`: `on` (default) or `off`.
pub fn log_enabled(source: &impl Source) -> anyhow::Result<bool> {
    match source.get("PROVISIONING_LOG").as_deref().map(str::trim) {
        None | Some("") | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => anyhow::bail!("PROVISIONING_LOG={other:?} must be on or off"),
    }
}

impl KafkaConfig {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Option<Self>> {
        let Some(bootstrap_servers) = source.get("KAFKA_BOOTSTRAP_SERVERS").filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let properties = platform::config::kafka_properties(source)?;
        Ok(Some(Self {
            bootstrap_servers,
            topic: source.get("KAFKA_TOPIC").filter(|t| !t.is_empty()).unwrap_or_else(|| DEFAULT_TOPIC.to_owned()),
            message_timeout_ms: source.parse_or("KAFKA_MESSAGE_TIMEOUT_MS", 30_000)?,
            properties,
            naming: event_naming(source)?,
            format: source.parse_or("KAFKA_EVENT_FORMAT", scim_events::Format::Protobuf)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sso_settings_are_parsed_and_checked() {
        use crate::store::operators::Scope;
        let none: HashMap<&str, &str> = HashMap::new();
        assert_eq!(OidcConfig::from_source(&none).unwrap(), None);
        let mut source: HashMap<&str, &str> = HashMap::from([
            ("ADMIN_OIDC_ISSUER", "https://idp.example/"),
            ("ADMIN_OIDC_AUDIENCE", "scim-admin"),
            ("ADMIN_OIDC_ROLE_SCOPES", "readers=read_only, ops = full,"),
        ]);
        let config = OidcConfig::from_source(&source).unwrap().unwrap();
        assert_eq!(config.role_scopes, [("readers".to_owned(), Scope::ReadOnly), ("ops".to_owned(), Scope::Full)]);
        assert_eq!((config.roles_claim.as_str(), config.name_claim.as_str()), ("roles", "preferred_username"));
        source.insert("ADMIN_OIDC_ROLE_SCOPES", ",");
        assert!(OidcConfig::from_source(&source).is_err(), "no role mapped");
        source.insert("ADMIN_OIDC_ISSUER", "http://idp.example");
        assert!(OidcConfig::from_source(&source).unwrap_err().to_string().contains("https"));
        source.insert("ADMIN_OIDC_ISSUER", "https://idp.example/");
        source.insert("ADMIN_OIDC_ROLE_SCOPES", "readers=admin");
        assert!(OidcConfig::from_source(&source).unwrap_err().to_string().contains("'readers=admin'"));
        source.remove("ADMIN_OIDC_AUDIENCE");
        assert!(OidcConfig::from_source(&source).is_err(), "an issuer without an audience");
    }

    #[test]
    fn minimal_config_has_defaults() {
        let source: HashMap<&str, &str> = HashMap::from([("DATABASE_URL", "sqlite://x.db")]);
        let config = CoreConfig::from_source(&source).unwrap();
        assert_eq!(config.grpc_addr.port(), 50051);
        assert!(config.kafka.is_none());
        assert!(config.bootstrap.is_none());
        assert_eq!(config.region, "local");
    }

    #[test]
    fn kafka_properties_are_parsed_and_checked() {
        let source: HashMap<&str, &str> = HashMap::from([
            ("DATABASE_URL", "postgres://h/db"),
            ("KAFKA_BOOTSTRAP_SERVERS", "k:9092"),
            ("KAFKA_PROPERTIES", "security.protocol=SSL; a=b"),
        ]);
        let kafka = CoreConfig::from_source(&source).unwrap().kafka.unwrap();
        assert_eq!(kafka.properties, vec![("security.protocol".into(), "SSL".into()), ("a".into(), "b".into())]);
        assert_eq!(kafka.topic, DEFAULT_TOPIC);
        let bad: HashMap<&str, &str> =
            HashMap::from([("DATABASE_URL", "x.db"), ("KAFKA_BOOTSTRAP_SERVERS", "k"), ("KAFKA_PROPERTIES", "nope")]);
        assert!(CoreConfig::from_source(&bad).is_err());
    }

    #[test]
    fn missing_database_url_and_bad_region_fail() {
        assert!(CoreConfig::from_source(&HashMap::<&str, &str>::new()).is_err());
        let bad: HashMap<&str, &str> = HashMap::from([("DATABASE_URL", "x.db"), ("REGION", "EU West")]);
        assert!(CoreConfig::from_source(&bad).is_err());
        let other_region: HashMap<&str, &str> =
            HashMap::from([("DATABASE_URL", "x.db"), ("REGION", "eu"), ("SCIM_BOOTSTRAP_TOKEN", "scim_us_secret")]);
        assert!(CoreConfig::from_source(&other_region).unwrap_err().to_string().contains("region"));
        let own: HashMap<&str, &str> =
            HashMap::from([("DATABASE_URL", "x.db"), ("REGION", "eu"), ("SCIM_BOOTSTRAP_TOKEN", "scim_eu_secret")]);
        assert!(CoreConfig::from_source(&own).is_ok());
    }
}
