//! The contracts between the services: the provisioning gRPC service (gateway → core), the
//! directory read service, and the change event published to Kafka.
#![allow(clippy::derive_partial_eq_without_eq)]

pub mod v1 {
    tonic::include_proto!("scimsvc.v1");
}

pub use v1::*;

pub mod convert;

/// The header and type names of the CloudEvents binary-mode Kafka binding.
pub mod cloudevents {
    pub const SPEC_VERSION: &str = "1.0";
    pub const CONTENT_TYPE: &str = "application/protobuf";
    pub const HEADER_ID: &str = "ce_id";
    pub const HEADER_SOURCE: &str = "ce_source";
    pub const HEADER_TYPE: &str = "ce_type";
    pub const HEADER_SUBJECT: &str = "ce_subject";
    pub const HEADER_TIME: &str = "ce_time";
    pub const HEADER_SPEC_VERSION: &str = "ce_specversion";
    pub const HEADER_CONTENT_TYPE: &str = "content-type";
    pub const HEADER_TENANT: &str = "ce_tenantid";
}

/// How the gateway hands a bearer token to the core: as the hex SHA-256 of the token in the
/// `scim-credential` gRPC metadata. The core stores and looks up only that hash.
pub mod credential {
    use sha2::{Digest, Sha256};

    pub const METADATA_KEY: &str = "scim-credential";

    /// The hex SHA-256 of a token, as stored and as sent to the core.
    pub fn fingerprint(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }
}
