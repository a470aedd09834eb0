//! Bearer token → credential. The gateway never sees the token store: it forwards the token's
//! SHA-256 fingerprint to provisioning-core, which resolves the tenant (and answers
//! Unauthenticated for an unknown, revoked or disabled one).

use actix_web::http::header;
use scim::ScimError;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};

/// The request's credential, as sent to the core.
#[derive(Clone)]
pub struct Credential(AsciiMetadataValue);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential([redacted])")
    }
}

impl Credential {
    /// Wraps a gRPC message with the credential in its metadata.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(proto::credential::METADATA_KEY, self.0.clone());
        request
    }

    pub(crate) fn from_header(value: Option<&header::HeaderValue>) -> Result<Self, ScimError> {
        let missing = || ScimError::unauthorized("an 'Authorization: Bearer <token>' header is required");
        let value = value.ok_or_else(missing)?.to_str().map_err(|_| missing())?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(missing());
        }
        let fingerprint = proto::credential::fingerprint(token);
        // A hex string is always valid ASCII metadata.
        let value = MetadataValue::try_from(fingerprint.as_str()).map_err(|_| missing())?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> header::HeaderValue {
        header::HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn bearer_token_becomes_its_fingerprint() {
        let credential = Credential::from_header(Some(&header("Bearer abc"))).unwrap();
        assert_eq!(credential.0.to_str().unwrap(), proto::credential::fingerprint("abc"));
        assert!(Credential::from_header(Some(&header("bearer   abc "))).is_ok());
    }

    #[test]
    fn missing_or_malformed_headers_are_401() {
        for value in [None, Some(header("Basic abc")), Some(header("Bearer ")), Some(header("abc"))] {
            let error = Credential::from_header(value.as_ref()).unwrap_err();
            assert_eq!(error.status, 401);
        }
    }

    #[test]
    fn debug_hides_the_credential() {
        let credential = Credential::from_header(Some(&header("Bearer abc"))).unwrap();
        assert_eq!(format!("{credential:?}"), "Credential([redacted])");
    }
}
