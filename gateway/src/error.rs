//! Every gateway error is answered as RFC 7644 §3.12 JSON with `application/scim+json`. Errors
//! from provisioning-core arrive as gRPC statuses whose details carry the SCIM status and
//! `scimType`; statuses without them are mapped by code, and unexpected ones become an opaque
//! 500 with the cause logged once here.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use scim::{ScimError, ScimType};
use tonic::Code;
use tonic_types::StatusExt;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("provisioning-core answered {0}")]
    Upstream(#[from] tonic::Status),
}

impl GatewayError {
    /// How long the core said to wait (its rate limiter's real wait), for `Retry-After`.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            GatewayError::Upstream(status) => status.get_details_retry_info().and_then(|info| info.retry_delay),
            GatewayError::Scim(_) => None,
        }
    }

    pub fn to_scim(&self) -> ScimError {
        match self {
            GatewayError::Scim(error) => error.clone(),
            GatewayError::Upstream(status) => scim_error_from_status(status),
        }
    }
}

fn scim_error_from_status(status: &tonic::Status) -> ScimError {
    if let Some(info) = status.get_details_error_info().filter(|info| info.domain == "scim") {
        let http = info.metadata.get("status").and_then(|s| s.parse().ok()).unwrap_or(400);
        return ScimError::new(http, ScimType::parse(&info.reason), status.message());
    }
    match status.code() {
        Code::Unauthenticated => ScimError::unauthorized("the bearer token is missing, unknown, expired or revoked"),
        Code::NotFound => ScimError::not_found(status.message()),
        Code::InvalidArgument => ScimError::invalid_value(status.message()),
        Code::AlreadyExists => ScimError::uniqueness(status.message()),
        Code::FailedPrecondition => ScimError::new(412, None, status.message()),
        Code::ResourceExhausted => ScimError::new(429, None, "too many requests"),
        Code::Unavailable => {
            tracing::error!(status = %status, "provisioning-core unavailable");
            ScimError::new(503, None, "the service is temporarily unavailable; retry later")
        }
        // The request's deadline passed (the core cancels at it: `Cancelled`, "Timeout
        // expired"). A write the core had not committed by then was rolled back.
        Code::DeadlineExceeded | Code::Cancelled => {
            tracing::error!(status = %status, "provisioning-core did not answer before the deadline");
            ScimError::new(
                503,
                None,
                "the request took too long and was stopped; a change it had not committed was rolled back: retry",
            )
        }
        Code::Ok
        | Code::Unknown
        | Code::PermissionDenied
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => {
            tracing::error!(status = %status, "provisioning-core failed");
            ScimError::new(500, None, "internal error")
        }
    }
}

/// Marks an error the gateway answered by itself (the core never saw the request), so that it
/// is reported to the tenant's provisioning log.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub scim_type: Option<ScimType>,
}

/// A SCIM error response (marked as the gateway's own [`Rejection`]).
pub fn scim_error_response(error: &ScimError) -> HttpResponse {
    scim_error_response_after(error, None)
}

/// `Retry-After` in whole seconds, rounded up, at least 1 (the default when none is known).
fn retry_after_seconds(wait: Option<std::time::Duration>) -> u64 {
    wait.map_or(1, |wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A SCIM error response; a 429 says to retry after `retry_after` (rounded up to seconds).
pub fn scim_error_response_after(error: &ScimError, retry_after: Option<std::time::Duration>) -> HttpResponse {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type(SCIM_CONTENT_TYPE);
    if error.status == 401 {
        response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    }
    if error.status == 429 {
        response.insert_header((header::RETRY_AFTER, HeaderValue::from(retry_after_seconds(retry_after))));
    }
    let mut response = response.body(error.to_json().to_string());
    response.extensions_mut().insert(Rejection { scim_type: error.scim_type });
    response
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.to_scim().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = scim_error_response_after(&self.to_scim(), self.retry_after());
        if matches!(self, GatewayError::Upstream(_)) {
            // provisioning-core answered, and logged the request itself.
            response.extensions_mut().remove::<Rejection>();
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn status_details_carry_the_scim_type() {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            "uniqueness",
            "scim",
            std::collections::HashMap::from([("status".to_owned(), "409".to_owned())]),
        );
        let status = tonic::Status::with_error_details(Code::AlreadyExists, "userName taken", details);
        let error = GatewayError::from(status).to_scim();
        assert_eq!(error.status, 409);
        assert_eq!(error.scim_type, Some(ScimType::Uniqueness));
        assert_eq!(error.detail, "userName taken");
    }

    #[test]
    fn internal_statuses_are_opaque() {
        let error = GatewayError::from(tonic::Status::internal("db password is hunter2")).to_scim();
        assert_eq!(error.status, 500);
        assert!(!error.detail.contains("hunter2"));
    }

    #[test]
    fn unauthenticated_is_401() {
        assert_eq!(GatewayError::from(tonic::Status::unauthenticated("x")).to_scim().status, 401);
    }

    /// The core's rate limiter says when the next request is admitted: `Retry-After` says so,
    /// in whole seconds rounded up; without a wait known, 1.
    #[test]
    fn retry_after_is_the_limiters_wait_rounded_up() {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            "none",
            "scim",
            std::collections::HashMap::from([("status".to_owned(), "429".to_owned())]),
        );
        details.set_retry_info(Some(std::time::Duration::from_millis(2_300)));
        let status = tonic::Status::with_error_details(Code::ResourceExhausted, "slow down", details);
        let response = GatewayError::from(status).error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "3");
        let bare = GatewayError::from(tonic::Status::resource_exhausted("x")).error_response();
        assert_eq!(bare.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(retry_after_seconds(Some(std::time::Duration::from_millis(200))), 1);
        assert_eq!(retry_after_seconds(Some(std::time::Duration::from_secs(2))), 2);
    }
}
