//! Bearer token → credential. The gateway keeps no token store: it forwards the bearer token to
//! provisioning-core in sensitive gRPC metadata, and the core resolves the tenant on every
//! request (answering Unauthenticated for an unknown, revoked or expired token or a disabled
//! tenant), so a revocation holds on every gateway replica at once. What the gateway does check
//! is the token's region: a token `<prefix>_<region>_<random>` of another region is refused
//! here, without a lookup, with that region's tenant URL.
//!
//! The credential also carries the request's W3C trace context (the caller's `traceparent`, or
//! a new one), so the core's provisioning log names the trace.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use scim::ScimError;
use tonic::metadata::AsciiMetadataValue;

use crate::config::GatewayConfig;

/// The request's credential and trace context, as sent to the core.
#[derive(Clone)]
pub struct Credential {
    authorization: AsciiMetadataValue,
    traceparent: AsciiMetadataValue,
    /// The IdP's `User-Agent` (printable ASCII, bounded), when it sent one.
    user_agent: Option<AsciiMetadataValue>,
    /// The gRPC deadline of every call made for the request (`CORE_TIMEOUT_MS`).
    timeout: std::time::Duration,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential([redacted])")
    }
}

impl Credential {
    /// Wraps a gRPC message with the credential and trace context in its metadata.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request.metadata_mut().insert(proto::credential::METADATA_KEY, self.authorization.clone());
        request.metadata_mut().insert(proto::trace_context::METADATA_KEY, self.traceparent.clone());
        if let Some(user_agent) = &self.user_agent {
            request.metadata_mut().insert(proto::idp_user_agent::METADATA_KEY, user_agent.clone());
        }
        request
    }

    /// The credential of a SCIM request: its bearer token, checked for this region.
    pub(crate) fn from_request(request: &HttpRequest, config: &GatewayConfig) -> Result<Self, ScimError> {
        let missing = || ScimError::unauthorized("an 'Authorization: Bearer <token>' header is required");
        let value = request.headers().get(header::AUTHORIZATION).ok_or_else(missing)?;
        let token = proto::credential::bearer_token(value.to_str().map_err(|_| missing())?).ok_or_else(missing)?;
        check_region(token, config)?;
        let mut authorization = AsciiMetadataValue::try_from(format!("Bearer {token}")).map_err(|_| missing())?;
        // Kept out of HPACK tables and debug output.
        authorization.set_sensitive(true);
        Ok(Self {
            authorization,
            traceparent: traceparent(request),
            user_agent: user_agent(request),
            timeout: config.core_timeout,
        })
    }
}

/// Refuses a token that names another region, saying where it belongs.
fn check_region(token: &str, config: &GatewayConfig) -> Result<(), ScimError> {
    let Some(region) = platform::config::token_region(token, &config.token_prefix) else { return Ok(()) };
    if region == config.region {
        return Ok(());
    }
    let here = &config.region;
    Err(ScimError::unauthorized(match config.region_tenant_urls.iter().find(|(r, _)| r == region) {
        Some((_, url)) => {
            format!("this token belongs to region '{region}', and this is region '{here}': set the Tenant URL to {url}")
        }
        None => format!("this token belongs to region '{region}', and this is region '{here}'"),
    }))
}

/// The caller's `User-Agent`, its printable ASCII only, at most
/// [`proto::idp_user_agent::MAX_CHARS`] characters.
fn user_agent(request: &HttpRequest) -> Option<AsciiMetadataValue> {
    let value = request.headers().get(header::USER_AGENT)?.as_bytes();
    let text: String = value
        .iter()
        .filter(|b| (0x20..0x7f).contains(*b))
        .take(proto::idp_user_agent::MAX_CHARS)
        .map(|b| char::from(*b))
        .collect();
    let text = text.trim();
    if text.is_empty() { None } else { AsciiMetadataValue::try_from(text).ok() }
}

/// The trace context the request's span chose (see `observe`), else the caller's `traceparent`
/// when valid, else a new trace (random ids, sampled flag off).
fn traceparent(request: &HttpRequest) -> AsciiMetadataValue {
    let chosen = request.extensions().get::<crate::observe::TraceParent>().map(|t| t.0.clone());
    let incoming = || request.headers().get("traceparent").and_then(|v| v.to_str().ok());
    let value = chosen.unwrap_or_else(|| crate::observe::caller_or_new_traceparent(incoming()));
    AsciiMetadataValue::try_from(value)
        .unwrap_or_else(|_| AsciiMetadataValue::from_static("00-00000000000000000000000000000001-0000000000000001-00"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use std::collections::HashMap;

    fn config() -> GatewayConfig {
        GatewayConfig::from_source(&HashMap::from([
            ("REGION", "eu"),
            ("REGION_TENANT_URLS", "eu=https://eu.example.com/scim/v2,us=https://us.example.com/scim/v2"),
        ]))
        .unwrap()
    }

    fn with_authorization(value: &str) -> HttpRequest {
        TestRequest::default().insert_header((header::AUTHORIZATION, value)).to_http_request()
    }

    #[test]
    fn bearer_token_is_forwarded_as_sensitive_metadata_with_a_trace() {
        let credential = Credential::from_request(&with_authorization("Bearer abc"), &config()).unwrap();
        assert_eq!(credential.authorization.to_str().unwrap(), "Bearer abc");
        assert!(credential.authorization.is_sensitive());
        assert!(proto::trace_context::trace_id(credential.traceparent.to_str().unwrap()).is_some());
        assert!(Credential::from_request(&with_authorization("bearer   abc "), &config()).is_ok());
    }

    #[test]
    fn an_incoming_traceparent_is_continued() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let request = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer abc"))
            .insert_header(("traceparent", traceparent))
            .to_http_request();
        let credential = Credential::from_request(&request, &config()).unwrap();
        assert_eq!(credential.traceparent.to_str().unwrap(), traceparent);
    }

    #[test]
    fn missing_or_malformed_headers_are_401() {
        for value in ["Basic abc", "Bearer ", "abc"] {
            let error = Credential::from_request(&with_authorization(value), &config()).unwrap_err();
            assert_eq!(error.status, 401);
        }
        let none = Credential::from_request(&TestRequest::default().to_http_request(), &config()).unwrap_err();
        assert_eq!(none.status, 401);
    }

    #[test]
    fn tokens_of_other_regions_are_refused_with_their_tenant_url() {
        let error = Credential::from_request(&with_authorization("Bearer scim_us_secret"), &config()).unwrap_err();
        assert_eq!(error.status, 401);
        assert!(error.detail.contains("region 'us'"), "{}", error.detail);
        assert!(error.detail.contains("https://us.example.com/scim/v2"), "{}", error.detail);
        let unknown = Credential::from_request(&with_authorization("Bearer scim_ap_secret"), &config()).unwrap_err();
        assert!(unknown.detail.contains("region 'ap'"), "{}", unknown.detail);
        assert!(Credential::from_request(&with_authorization("Bearer scim_eu_secret"), &config()).is_ok());
        assert!(Credential::from_request(&with_authorization("Bearer other_us_secret"), &config()).is_ok());
    }

    #[test]
    fn debug_hides_the_credential() {
        let credential = Credential::from_request(&with_authorization("Bearer abc"), &config()).unwrap();
        assert_eq!(format!("{credential:?}"), "Credential([redacted])");
    }
}
