//! directory-store's settings, read from the environment and validated before anything starts.

use std::net::SocketAddr;

use platform::config::Source;
use platform::db::DatabaseUrl;

#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    /// `DATABASE_URL`: postgres://… or sqlite://path.
    pub database_url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `DIRECTORY_HTTP_ADDR`, default 127.0.0.1:8090.
    pub http_addr: SocketAddr,
    /// `DIRECTORY_GRPC_ADDR`, default 127.0.0.1:50052.
    pub grpc_addr: SocketAddr,
    /// The gRPC listener's TLS (`GRPC_TLS_CERT_FILE`, `GRPC_TLS_KEY_FILE`,
    /// `GRPC_TLS_CLIENT_CA_FILE`; see `platform::tls`); none: plaintext.
    pub grpc_tls: Option<platform::tls::ServerTls>,
    /// `DIRECTORY_INTERNAL_TOKEN`: provisioning-core's credential (global, read), kept as the
    /// one `internal` credential at every start; the core presents it as `DIRECTORY_TOKEN`.
    pub internal_token: Option<secrecy::SecretString>,
    /// Required by the `directory-store` binary; standalone delivers events in-process instead.
    pub kafka: Option<ConsumerConfig>,
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap_servers: String,
    /// `KAFKA_TOPIC`, default `scim.changes`.
    pub topic: String,
    /// `KAFKA_GROUP_ID`, default `directory-store`.
    pub group_id: String,
    /// `KAFKA_PROPERTIES`: extra librdkafka settings.
    pub properties: Vec<(String, String)>,
}

impl DirectoryConfig {
    pub fn from_source(source: &impl Source) -> anyhow::Result<Self> {
        let kafka = match source.get("KAFKA_BOOTSTRAP_SERVERS").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(bootstrap_servers) => Some(ConsumerConfig {
                bootstrap_servers,
                topic: source.get("KAFKA_TOPIC").filter(|t| !t.is_empty()).unwrap_or_else(|| "scim.changes".to_owned()),
                group_id: source
                    .get("KAFKA_GROUP_ID")
                    .filter(|g| !g.is_empty())
                    .unwrap_or_else(|| "directory-store".to_owned()),
                properties: platform::config::kafka_properties(source)?,
            }),
        };
        Ok(Self {
            database_url: DatabaseUrl::parse(&source.require("DATABASE_URL")?)?,
            max_connections: source.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
            http_addr: source.socket_addr_or("DIRECTORY_HTTP_ADDR", "127.0.0.1:8090")?,
            grpc_addr: source.socket_addr_or("DIRECTORY_GRPC_ADDR", "127.0.0.1:50052")?,
            grpc_tls: platform::tls::ServerTls::from_source(source)?,
            internal_token: source
                .get("DIRECTORY_INTERNAL_TOKEN")
                .filter(|t| !t.trim().is_empty())
                .map(secrecy::SecretString::from),
            kafka,
        })
    }
}
