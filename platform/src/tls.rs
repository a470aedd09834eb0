//! TLS on the gRPC hops that can cross a network (gateway → provisioning-core, provisioning-core →
//! directory-store), with rustls (ring) as tonic builds it in: PEM files named by settings, read
//! once at start so that a missing or malformed file stops the service with a clear error.
//!
//! - A gRPC **listener** serves TLS when `GRPC_TLS_CERT_FILE` and `GRPC_TLS_KEY_FILE` are set
//!   (certificate chain and private key, PEM), and then only TLS. With `GRPC_TLS_CLIENT_CA_FILE`
//!   it also requires each client to present a certificate that CA signed (mutual TLS).
//! - A gRPC **client** uses TLS when its URL is `https://…`: it trusts the CA of its own setting
//!   (`CORE_GRPC_CA_FILE`, `DIRECTORY_GRPC_CA_FILE`) when set, else the Mozilla roots built in
//!   (webpki-roots), and presents `GRPC_TLS_CLIENT_CERT_FILE` + `GRPC_TLS_CLIENT_KEY_FILE` when set.

use std::time::Duration;

use anyhow::{Context, bail};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::config::Source;

/// The contents of the PEM file a setting names.
fn read_pem(source: &impl Source, setting: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = source.get(setting).map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let pem = std::fs::read(&path).with_context(|| format!("{setting}={path:?} cannot be read"))?;
    if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
        bail!("{setting}={path:?} is not a PEM file");
    }
    Ok(Some(pem))
}

/// A certificate and its key, PEM.
#[derive(Clone)]
struct KeyPair {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl KeyPair {
    fn from_source(source: &impl Source, cert: &str, key: &str) -> anyhow::Result<Option<Self>> {
        match (read_pem(source, cert)?, read_pem(source, key)?) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            _ => bail!("{cert} and {key} are set together or not at all"),
        }
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }
}

/// A gRPC listener's TLS (`GRPC_TLS_CERT_FILE`, `GRPC_TLS_KEY_FILE`, `GRPC_TLS_CLIENT_CA_FILE`).
#[derive(Clone)]
pub struct ServerTls {
    identity: KeyPair,
    client_ca: Option<Vec<u8>>,
}

/// Never the key.
impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("mutual", &self.client_ca.is_some()).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// None when the listener is plaintext (neither file set).
    pub fn from_source(source: &impl Source) -> anyhow::Result<Option<Self>> {
        let client_ca = read_pem(source, "GRPC_TLS_CLIENT_CA_FILE")?;
        match KeyPair::from_source(source, "GRPC_TLS_CERT_FILE", "GRPC_TLS_KEY_FILE")? {
            Some(identity) => Ok(Some(Self { identity, client_ca })),
            None if client_ca.is_some() => {
                bail!("GRPC_TLS_CLIENT_CA_FILE needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE")
            }
            None => Ok(None),
        }
    }

    pub fn config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.identity()).timeout(Duration::from_secs(10));
        match &self.client_ca {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }
}

/// A gRPC server builder, serving TLS when `tls` is given.
pub fn server_builder(tls: Option<&ServerTls>) -> anyhow::Result<tonic::transport::Server> {
    let builder = tonic::transport::Server::builder();
    match tls {
        Some(tls) => {
            builder.tls_config(tls.config()).context("the gRPC listener's TLS (GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE)")
        }
        None => Ok(builder),
    }
}

/// A gRPC client's TLS: the CA it trusts (else the built-in roots) and its own certificate.
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Vec<u8>>,
    identity: Option<KeyPair>,
}

/// Never the key.
impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("private_ca", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// `ca_setting` names the CA file of this client's server (`CORE_GRPC_CA_FILE`, …).
    pub fn from_source(source: &impl Source, ca_setting: &str) -> anyhow::Result<Self> {
        Ok(Self {
            ca: read_pem(source, ca_setting)?,
            identity: KeyPair::from_source(source, "GRPC_TLS_CLIENT_CERT_FILE", "GRPC_TLS_CLIENT_KEY_FILE")?,
        })
    }

    /// The private CA (else the built-in roots) and the client certificate, when set.
    fn config(&self) -> ClientTlsConfig {
        let tls = match &self.ca {
            Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
            None => ClientTlsConfig::new().with_webpki_roots(),
        };
        match &self.identity {
            Some(identity) => tls.identity(identity.identity()),
            None => tls,
        }
    }

    /// An endpoint of one address of `host` (a replica behind a headless Service): TLS when
    /// `scheme` is `https`, the certificate checked against `host`.
    pub fn endpoint_at(
        &self,
        scheme: &str,
        host: &str,
        address: std::net::SocketAddr,
        setting: &str,
    ) -> anyhow::Result<Endpoint> {
        let endpoint = self.endpoint(&format!("{scheme}://{address}"), setting)?;
        if scheme != "https" {
            return Ok(endpoint);
        }
        endpoint.tls_config(self.config().domain_name(host)).with_context(|| format!("TLS for {setting} at {address}"))
    }

    /// An endpoint of `url` (named by `setting` in errors): TLS when it is `https://`.
    pub fn endpoint(&self, url: &str, setting: &str) -> anyhow::Result<Endpoint> {
        let endpoint =
            Endpoint::from_shared(url.to_owned()).with_context(|| format!("{setting}={url:?} is not a valid URI"))?;
        if endpoint.uri().scheme_str() != Some("https") {
            if self.ca.is_some() || self.identity.is_some() {
                bail!("{setting}={url:?} is not https://, but TLS files are set for it");
            }
            return Ok(endpoint);
        }
        endpoint.tls_config(self.config()).with_context(|| format!("TLS for {setting}={url:?}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn settings_are_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("a.pem");
        std::fs::write(&pem, PEM).unwrap();
        let text = dir.path().join("a.txt");
        std::fs::write(&text, "not pem").unwrap();
        let (pem, text) = (pem.to_str().unwrap(), text.to_str().unwrap());

        let none: HashMap<&str, &str> = HashMap::new();
        assert!(ServerTls::from_source(&none).unwrap().is_none());
        let half: HashMap<&str, &str> = HashMap::from([("GRPC_TLS_CERT_FILE", pem)]);
        assert!(ServerTls::from_source(&half).is_err(), "a certificate without its key");
        let ca_only: HashMap<&str, &str> = HashMap::from([("GRPC_TLS_CLIENT_CA_FILE", pem)]);
        assert!(ServerTls::from_source(&ca_only).is_err());
        let not_pem: HashMap<&str, &str> = HashMap::from([("GRPC_TLS_CERT_FILE", text), ("GRPC_TLS_KEY_FILE", pem)]);
        let refused = ServerTls::from_source(&not_pem).unwrap_err().to_string();
        assert!(refused.contains("not a PEM file"), "{refused}");
        let missing: HashMap<&str, &str> = HashMap::from([("CORE_GRPC_CA_FILE", "/nonexistent.pem")]);
        assert!(ClientTls::from_source(&missing, "CORE_GRPC_CA_FILE").is_err());

        let plain = ClientTls::default();
        assert!(plain.endpoint("http://core:50051", "CORE_GRPC_URL").is_ok());
        assert!(plain.endpoint("https://core:50051", "CORE_GRPC_URL").is_ok(), "the built-in roots");
        let with_ca =
            ClientTls::from_source(&HashMap::from([("CORE_GRPC_CA_FILE", pem)]), "CORE_GRPC_CA_FILE").unwrap();
        let refused = with_ca.endpoint("http://core:50051", "CORE_GRPC_URL").unwrap_err().to_string();
        assert!(refused.contains("not https://"), "{refused}");
        assert!(plain.endpoint("not a uri", "CORE_GRPC_URL").is_err());
    }
}
