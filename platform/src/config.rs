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
}
