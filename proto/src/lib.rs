//! The contracts between the services: the provisioning gRPC service (gateway → core), the
//! directory read service, and the change event published to Kafka.
#![allow(clippy::derive_partial_eq_without_eq)]

pub mod v1 {
    tonic::include_proto!("scimsvc.v1");
}

pub use v1::*;

/// The largest gRPC message between gateway and core, either way (tonic's default is 4 MiB).
/// Messages are bounded by design below it: a request by the gateway's `MAX_BODY_BYTES`
/// (4 MiB by default; keep it below this), an answer by one resource plus at most 10,000
/// members, or a query's page by 12 MiB of attributes past its first resource. A group's
/// members past that come as a stream of bounded messages (`ReadGroup`).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

pub mod convert;

/// The header and type names of the CloudEvents binary-mode Kafka binding.
pub mod cloudevents {
    pub const SPEC_VERSION: &str = "1.0";
    /// The `content-type` of a protobuf payload; a message may also be JSON now.
    #[deprecated(note = "the payload is protobuf or JSON: read the content-type with scim_events::Format")]
    pub const CONTENT_TYPE: &str = "application/protobuf";
    pub const HEADER_ID: &str = "ce_id";
    pub const HEADER_SOURCE: &str = "ce_source";
    pub const HEADER_TYPE: &str = "ce_type";
    pub const HEADER_SUBJECT: &str = "ce_subject";
    pub const HEADER_TIME: &str = "ce_time";
    pub const HEADER_SPEC_VERSION: &str = "ce_specversion";
    pub const HEADER_CONTENT_TYPE: &str = "content-type";
    pub const HEADER_TENANT: &str = "ce_tenantid";
    pub const HEADER_DATASCHEMA: &str = "ce_dataschema";
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

    /// Puts `authorization: Bearer <token>` (sensitive) on every call of a client; with no
    /// token, calls go without.
    #[derive(Clone, Default)]
    pub struct BearerInterceptor(Option<tonic::metadata::AsciiMetadataValue>);

    impl std::fmt::Debug for BearerInterceptor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("BearerInterceptor([redacted])")
        }
    }

    impl BearerInterceptor {
        /// `None` when the token cannot be a header value (not visible ASCII).
        pub fn new(token: Option<&str>) -> Option<Self> {
            match token {
                None => Some(Self(None)),
                Some(token) => {
                    let mut value = tonic::metadata::AsciiMetadataValue::try_from(format!("Bearer {token}")).ok()?;
                    value.set_sensitive(true);
                    Some(Self(Some(value)))
                }
            }
        }
    }

    impl tonic::service::Interceptor for BearerInterceptor {
        fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
            if let Some(value) = &self.0 {
                request.metadata_mut().insert(METADATA_KEY, value.clone());
            }
            Ok(request)
        }
    }

    /// A channel whose calls carry a bearer token.
    pub type Authorized = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerInterceptor>;
}

/// The IdP's `User-Agent` as the gateway forwards it (gRPC sets a `user-agent` of its own): the
/// core keeps the last one per tenant, which tells an admin which IdP is connected.
pub mod idp_user_agent {
    pub const METADATA_KEY: &str = "x-idp-user-agent";
    /// The most characters kept of it.
    pub const MAX_CHARS: usize = 200;
}

/// W3C trace context (`traceparent`) as carried in gRPC metadata, so that the provisioning log
/// can name the trace of each request.
pub mod trace_context {
    pub const METADATA_KEY: &str = "traceparent";

    /// The trace id of a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`), when it is valid
    /// (not all zeros).
    pub fn trace_id(traceparent: &str) -> Option<&str> {
        let mut parts = traceparent.trim().split('-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex =
            |text: &str, len: usize| text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let valid = hex(version, 2)
            && version != "ff"
            && hex(trace, 32)
            && hex(parent, 16)
            && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0')
            && parent.bytes().any(|b| b != b'0')
            && (version != "00" || parts.next().is_none());
        valid.then_some(trace)
    }

    #[cfg(test)]
    mod tests {
        use super::trace_id;

        #[test]
        fn only_valid_traceparents_give_a_trace_id() {
            let id = "4bf92f3577b34da6a3ce929d0e0e4736";
            assert_eq!(trace_id(&format!("00-{id}-00f067aa0ba902b7-01")), Some(id));
            for bad in [
                "",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            ] {
                assert_eq!(trace_id(bad), None, "{bad}");
            }
        }
    }
}

/// Entity-tag preconditions (RFC 7232 §3.1, §3.2) over this service's weak ETags `W/"<version>"`.
pub mod precondition {
    use super::IfMatch;

    /// What an `If-Match` or `If-None-Match` field names.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Tags {
        /// `*`: any current representation.
        Any,
        /// A list of entity-tags: the versions among them that are ours (possibly none).
        Versions(Vec<i64>),
    }

    /// Parses the field values of every `If-Match` (or `If-None-Match`) header of a request: a
    /// comma-separated list of `[W/]"<etagc>*"`, or `*`. Tags that are not ours (not a number)
    /// name no version; a malformed list names none. Weak and strong tags compare alike here
    /// (the weak comparison; a write with `If-Match` is refused only on a real mismatch).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Tags> {
        let mut versions = Vec::new();
        let mut seen = false;
        for value in values {
            seen = true;
            let mut rest = value.trim();
            if rest == "*" {
                return Some(Tags::Any);
            }
            while !rest.is_empty() {
                let tag = rest.strip_prefix("W/").unwrap_or(rest);
                let Some(quoted) = tag.strip_prefix('"') else { break };
                let Some(end) = quoted.find('"') else { break };
                if let Ok(version) = quoted[..end].parse::<i64>() {
                    versions.push(version);
                }
                rest = quoted[end + 1..].trim_start();
                rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            }
        }
        seen.then_some(Tags::Versions(versions))
    }

    /// The `If-Match` message of a parsed field: `*` and no field are no precondition.
    pub fn if_match(tags: Option<Tags>) -> Option<IfMatch> {
        match tags? {
            Tags::Any => None,
            Tags::Versions(versions) => Some(IfMatch { versions }),
        }
    }

    /// The versions a write may find, from a request's `if_match` (or, from an older gateway,
    /// its single `if_match_version`); `None` allows any.
    pub fn allowed(legacy: Option<i64>, if_match: Option<IfMatch>) -> Option<Vec<i64>> {
        match (if_match, legacy) {
            (Some(IfMatch { versions }), _) => Some(versions),
            (None, Some(version)) => Some(vec![version]),
            (None, None) => None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn entity_tag_lists_per_rfc_7232() {
            assert_eq!(parse(["W/\"3\""]), Some(Tags::Versions(vec![3])));
            assert_eq!(parse(["\"12\""]), Some(Tags::Versions(vec![12])));
            assert_eq!(parse(["*"]), Some(Tags::Any));
            assert_eq!(parse([" W/\"1\" , \"2\",W/\"x,y\", \"4\""]), Some(Tags::Versions(vec![1, 2, 4])));
            assert_eq!(parse(["W/\"1\"", "W/\"7\""]), Some(Tags::Versions(vec![1, 7])), "two header fields");
            assert_eq!(parse(["W/\"abc\""]), Some(Tags::Versions(vec![])), "not ours: names nothing");
            assert_eq!(parse(["garbage"]), Some(Tags::Versions(vec![])));
            assert_eq!(parse(["\"5"]), Some(Tags::Versions(vec![])), "unterminated");
            assert_eq!(parse(std::iter::empty::<&str>()), None);
        }

        #[test]
        fn preconditions_sent_and_read() {
            assert_eq!(if_match(parse(["*"])), None);
            assert_eq!(if_match(parse(["W/\"abc\""])), Some(IfMatch { versions: vec![] }));
            assert_eq!(allowed(Some(3), None), Some(vec![3]));
            assert_eq!(allowed(Some(3), Some(IfMatch { versions: vec![4, 5] })), Some(vec![4, 5]));
            assert_eq!(allowed(None, None), None);
        }
    }
}
