//! Bearer token → credential. The gateway keeps no token store: it forwards the bearer token to
//! provisioning-core in sensitive gRPC metadata, and the core resolves the tenant (answering
//! Unauthenticated for an unknown, revoked or disabled token).

use actix_web::http::header;
use scim::ScimError;
use tonic::metadata::AsciiMetadataValue;

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
        let token = proto::credential::bearer_token(value).ok_or_else(missing)?;
        let mut value = AsciiMetadataValue::try_from(format!("Bearer {token}")).map_err(|_| missing())?;
        // Kept out of HPACK tables and debug output.
        value.set_sensitive(true);
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
    fn bearer_token_is_forwarded_as_sensitive_metadata() {
        let credential = Credential::from_header(Some(&header("Bearer abc"))).unwrap();
        assert_eq!(credential.0.to_str().unwrap(), "Bearer abc");
        assert!(credential.0.is_sensitive());
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
