//! The gateway's settings, read from the environment and validated before anything starts.

use std::net::SocketAddr;
use std::time::Duration;

use platform::config::Source;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `GATEWAY_HTTP_ADDR`, default 127.0.0.1:8080.
    pub http_addr: SocketAddr,
    /// `SCIM_BASE_PATH`, default `/scim/v2`.
    pub base_path: String,
    /// `CORE_GRPC_URL`, default `http://127.0.0.1:50051`; `https://…` for TLS.
    pub core_url: String,
    /// `CORE_GRPC_CA_FILE` (the core's CA, else the built-in roots) and the client certificate
    /// (`GRPC_TLS_CLIENT_CERT_FILE` + `_KEY_FILE`) of an `https://` `CORE_GRPC_URL`.
    pub core_tls: platform::tls::ClientTls,
    /// `CORE_DISCOVERY_INTERVAL_MS`, default 2000: how often the addresses of a balanced
    /// `CORE_GRPC_URL` are resolved and each replica's health is checked (see `balance`).
    pub core_discovery_interval: Duration,
    /// `PUBLIC_BASE_URL`: the tenant URL as IdPs see it (e.g. `https://api.eu.example.com/scim/v2`),
    /// used in `meta.location`. Without it, locations are built from the request's host.
    pub public_base_url: Option<String>,
    /// `MAX_BODY_BYTES`, default 4 MiB: the largest request body (and `/Bulk` payload).
    pub max_body_bytes: usize,
    /// `REGION`, default `local`: tokens of other regions are refused.
    pub region: String,
    /// `TOKEN_PREFIX`, default `scim`: tokens look like `<prefix>_<region>_<random>`.
    pub token_prefix: String,
    /// `REGION_TENANT_URLS`: other regions' tenant URLs, named in the refusal of their tokens.
    pub region_tenant_urls: Vec<(String, String)>,
    /// `MANAGEMENT_HTTP_ADDR`, default 127.0.0.1:9090: `/metrics`, `/livez`, `/readyz`, never
    /// exposed publicly. `None` (standalone) serves none: the admin listener has them.
    pub management_addr: Option<SocketAddr>,
    /// `CORE_TIMEOUT_MS`, default 25000: how long a request may take in provisioning-core. It
    /// travels as the gRPC deadline, and the core rolls back a write it could not commit a
    /// margin before it, so a 503 after a timeout never hides a change that happened.
    pub core_timeout: Duration,
    /// `BODY_READ_TIMEOUT_MS`, default 15000: the longest a client may take to send its body
    /// (408 after it); headers have actix's 5 s.
    pub body_read_timeout: Duration,
}

impl GatewayConfig {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Self> {
        let base_path = normalize_base_path(&source.get("SCIM_BASE_PATH").unwrap_or_else(|| "/scim/v2".to_owned()))?;
        let core_url = source
            .get("CORE_GRPC_URL")
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
        anyhow::ensure!(
            core_url.starts_with("http://") || core_url.starts_with("https://"),
            "CORE_GRPC_URL={core_url:?} must start with http:// or https://"
        );
        let public_base_url =
            source.get("PUBLIC_BASE_URL").filter(|u| !u.is_empty()).map(|u| u.trim_end_matches('/').to_owned());
        let max_body_bytes: usize = source.parse_or("MAX_BODY_BYTES", 4 * 1024 * 1024)?;
        // A body becomes one gRPC message to the core of about its size: it must fit the bound
        // of every message between them, with room for the rest of the request.
        anyhow::ensure!(
            (1024..=MAX_BODY_LIMIT).contains(&max_body_bytes),
            "MAX_BODY_BYTES={max_body_bytes} must be between 1024 and {MAX_BODY_LIMIT} (12 MiB): a request travels to \
             provisioning-core as one gRPC message of at most 16 MiB"
        );
        Ok(Self {
            http_addr: source.socket_addr_or("GATEWAY_HTTP_ADDR", "127.0.0.1:8080")?,
            base_path,
            core_url,
            core_tls: platform::tls::ClientTls::from_source(source, "CORE_GRPC_CA_FILE")?,
            core_discovery_interval: Duration::from_millis(positive(source, "CORE_DISCOVERY_INTERVAL_MS", 2_000)?),
            public_base_url,
            max_body_bytes,
            region: platform::config::region(source)?,
            token_prefix: platform::config::token_prefix(source)?,
            region_tenant_urls: platform::config::region_tenant_urls(source)?,
            management_addr: Some(source.socket_addr_or("MANAGEMENT_HTTP_ADDR", "127.0.0.1:9090")?),
            core_timeout: Duration::from_millis(positive(source, "CORE_TIMEOUT_MS", 25_000)?),
            body_read_timeout: Duration::from_millis(positive(source, "BODY_READ_TIMEOUT_MS", 15_000)?),
        })
    }
}

fn positive(source: &impl Source, name: &str, default: u64) -> anyhow::Result<u64> {
    let value: u64 = source.parse_or(name, default)?;
    anyhow::ensure!(value > 0, "{name} must be more than 0");
    Ok(value)
}

/// The largest `MAX_BODY_BYTES`: below `proto::MAX_MESSAGE_BYTES`, with room to spare.
pub const MAX_BODY_LIMIT: usize = 12 * 1024 * 1024;

/// `scim/v2/` → `/scim/v2`; `/` → `` (SCIM at the root).
fn normalize_base_path(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_matches('/');
    anyhow::ensure!(
        trimmed.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')),
        "SCIM_BASE_PATH={raw:?} may hold only letters, digits, '/', '-', '_' and '.'"
    );
    Ok(if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_base_path_normalization() {
        let config = GatewayConfig::from_source(&HashMap::<&str, &str>::new()).unwrap();
        assert_eq!(config.base_path, "/scim/v2");
        assert_eq!(config.http_addr.port(), 8080);
        assert_eq!(normalize_base_path("scim/").unwrap(), "/scim");
        assert_eq!(normalize_base_path("/").unwrap(), "");
        assert!(normalize_base_path("/a b").is_err());
        let bad: HashMap<&str, &str> = HashMap::from([("CORE_GRPC_URL", "core:50051")]);
        assert!(GatewayConfig::from_source(&bad).is_err());
    }

    #[test]
    fn the_body_limit_stays_within_a_grpc_message() {
        let at = |value: &str| GatewayConfig::from_source(&HashMap::from([("MAX_BODY_BYTES", value)]));
        assert_eq!(at("12582912").unwrap().max_body_bytes, MAX_BODY_LIMIT);
        let error = at("12582913").unwrap_err().to_string();
        assert!(error.contains("MAX_BODY_BYTES=12582913") && error.contains("16 MiB"), "{error}");
        assert!(at("100").is_err());
    }
}
