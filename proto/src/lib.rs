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

/// How the gateway hands a bearer token to the core: as `authorization: Bearer <token>` gRPC
/// metadata (marked sensitive). The core hashes it and looks the hash up: it stores only
/// hashes, and a hash read from the database is not a credential.
pub mod credential {
    pub const METADATA_KEY: &str = "authorization";

    /// The token of an `Authorization` value: `Bearer <token>`, scheme in any case.
    pub fn bearer_token(value: &str) -> Option<&str> {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }
}
