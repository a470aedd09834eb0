//! Settings come from the environment through [`Source`], so tests pass a map instead of calling
//! `std::env::set_var`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::{Context, anyhow};

/// Where settings come from.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;

    /// A setting parsed with `FromStr`, or `default` when unset or empty.
    fn parse_or<T>(&self, key: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e| anyhow!("{key}={raw:?} is not valid: {e}")),
        }
    }

    /// A required setting.
    fn require(&self, key: &str) -> anyhow::Result<String> {
        self.get(key).filter(|v| !v.trim().is_empty()).with_context(|| format!("{key} must be set"))
    }

    fn socket_addr_or(&self, key: &str, default: &str) -> anyhow::Result<SocketAddr> {
        let raw = self.get(key).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned());
        raw.trim().parse().map_err(|e| anyhow!("{key}={raw:?} is not a socket address (host:port): {e}"))
    }
}

/// `KAFKA_PROPERTIES`: extra librdkafka settings as `key=value` pairs separated by `;`
/// (e.g. `security.protocol=SASL_SSL;sasl.mechanism=SCRAM-SHA-512`).
pub fn kafka_properties(source: &impl Source) -> anyhow::Result<Vec<(String, String)>> {
    source
        .get("KAFKA_PROPERTIES")
        .unwrap_or_default()
        .split(';')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| anyhow!("KAFKA_PROPERTIES: {pair:?} is not key=value"))
        })
        .collect()
}

/// `REGION`: lowercase letters, digits or '-' (it is part of tokens and tenant URLs); default
/// `local`.
pub fn region(source: &impl Source) -> anyhow::Result<String> {
    let region = source.get("REGION").map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let region = region.unwrap_or_else(|| "local".to_owned());
    anyhow::ensure!(is_region_name(&region), "REGION={region:?} must be lowercase letters, digits or '-'");
    Ok(region)
}

fn is_region_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `REGION_TENANT_URLS`: each region's SCIM tenant URL, `region=url` pairs separated by `,`
/// (e.g. `eu=https://api.eu.example.com/scim/v2,us=https://api.us.example.com/scim/v2`).
pub fn region_tenant_urls(source: &impl Source) -> anyhow::Result<Vec<(String, String)>> {
    source
        .get("REGION_TENANT_URLS")
        .unwrap_or_default()
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (region, url) = pair
                .split_once('=')
                .map(|(r, u)| (r.trim().to_owned(), u.trim().trim_end_matches('/').to_owned()))
                .ok_or_else(|| anyhow!("REGION_TENANT_URLS: {pair:?} is not region=url"))?;
            anyhow::ensure!(is_region_name(&region), "REGION_TENANT_URLS: {region:?} is not a region name");
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "REGION_TENANT_URLS: {url:?} (region {region}) must be an http(s) URL"
            );
            Ok((region, url))
        })
        .collect()
}

/// `TOKEN_PREFIX`, default `scim`: letters and digits, so that `<prefix>_<region>_` parses.
pub fn token_prefix(source: &impl Source) -> anyhow::Result<String> {
    let prefix = source.get("TOKEN_PREFIX").map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    let prefix = prefix.unwrap_or_else(|| "scim".to_owned());
    anyhow::ensure!(
        prefix.chars().all(|c| c.is_ascii_alphanumeric()),
        "TOKEN_PREFIX={prefix:?} must be letters and digits"
    );
    Ok(prefix)
}

/// The region named in a token of the form `<prefix>_<region>_<random>`; `None` when the token
/// does not start with `<prefix>_` or has no region part.
pub fn token_region<'a>(token: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = token.strip_prefix(prefix)?.strip_prefix('_')?;
    let (region, random) = rest.split_once('_')?;
    (!region.is_empty() && !random.is_empty()).then_some(region)
}

/// The process environment.
pub struct Env;

impl Source for Env {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| (*v).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_bad_values() {
        let source: HashMap<&str, &str> = HashMap::from([("N", "12"), ("BAD", "x"), ("ADDR", "127.0.0.1:9")]);
        assert_eq!(source.parse_or("N", 1u32).unwrap(), 12);
        assert_eq!(source.parse_or("MISSING", 7u32).unwrap(), 7);
        assert!(source.parse_or("BAD", 1u32).unwrap_err().to_string().contains("BAD"));
        assert_eq!(source.socket_addr_or("ADDR", "0.0.0.0:1").unwrap().port(), 9);
        assert!(source.socket_addr_or("BAD", "0.0.0.0:1").is_err());
        assert!(source.require("MISSING").is_err());
    }

    #[test]
    fn region_tenant_urls_are_parsed_and_checked() {
        let source = HashMap::from([(
            "REGION_TENANT_URLS",
            "eu=https://eu.example.com/scim/v2/, us = https://us.example.com/scim/v2",
        )]);
        assert_eq!(
            region_tenant_urls(&source).unwrap(),
            vec![
                ("eu".to_owned(), "https://eu.example.com/scim/v2".to_owned()),
                ("us".to_owned(), "https://us.example.com/scim/v2".to_owned())
            ]
        );
        for bad in ["eu", "EU=https://x", "eu=ftp://x"] {
            assert!(region_tenant_urls(&HashMap::from([("REGION_TENANT_URLS", bad)])).is_err(), "{bad}");
        }
        assert!(region_tenant_urls(&HashMap::<&str, &str>::new()).unwrap().is_empty());
    }

    #[test]
    fn tokens_name_their_region() {
        assert_eq!(token_region("scim_eu_abc_def", "scim"), Some("eu"));
        assert_eq!(token_region("scim_us-east_x", "scim"), Some("us-east"));
        assert_eq!(token_region("acme_eu_x", "scim"), None);
        assert_eq!(token_region("scimx_eu_x", "scim"), None);
        assert_eq!(token_region("scim_eu", "scim"), None);
        assert_eq!(token_region("scim__x", "scim"), None);
    }
}
