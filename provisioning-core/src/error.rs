//! The core's one error type, mapped exhaustively to a gRPC status. SCIM protocol errors keep
//! their `scimType` in the status details (google.rpc.ErrorInfo, domain "scim") so the gateway
//! can answer with the right SCIM error; database failures are logged here once and reach the
//! client as an opaque status.

use scim::ScimError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub const ERROR_DOMAIN: &str = "scim";

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("missing, unknown or revoked token")]
    Unauthenticated,
    /// Over the tenant's rate limit: 429, with when the next request is admitted.
    #[error("over the tenant's rate limit; retry after {retry_after:?}")]
    RateLimited { retry_after: std::time::Duration },
    #[error("the database is unavailable: {0}")]
    Unavailable(#[from] diesel::r2d2::PoolError),
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for CoreError {
    /// A statement that PostgreSQL cancelled at its `statement_timeout` is the request's own
    /// cost, answered 503 in SCIM's form (its transaction rolled back: nothing was written).
    fn from(error: diesel::result::Error) -> Self {
        match &error {
            diesel::result::Error::DatabaseError(_, info) if info.message().contains("statement timeout") => {
                tracing::warn!(error = %info.message(), "a statement ran past the statement timeout");
                CoreError::Scim(ScimError::new(
                    503,
                    None,
                    "the request needed more database time than one request may take and was cancelled; nothing \
                     was changed (a query: simplify its filter)",
                ))
            }
            _ => CoreError::Database(error),
        }
    }
}

impl CoreError {
    /// A write whose request's deadline passed before it committed: rolled back, so that an
    /// IdP that stopped waiting never has a change it was not told of (it retries).
    pub fn deadline_passed() -> Self {
        CoreError::Scim(ScimError::new(
            503,
            None,
            "the write could not finish before the request's deadline and was rolled back; nothing was changed: retry",
        ))
    }

    pub fn not_found(kind: scim::ResourceType, id: &str) -> Self {
        CoreError::Scim(ScimError::not_found(format!("{} {id} not found", kind.name())))
    }

    pub fn version_mismatch(current: i64) -> Self {
        CoreError::Scim(ScimError::new(412, None, format!("the resource has changed: its version is W/\"{current}\"")))
    }
}

/// The gRPC code for a SCIM HTTP status.
pub fn code_for_status(status: u16) -> Code {
    match status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::AlreadyExists,
        412 => Code::FailedPrecondition,
        413 => Code::OutOfRange,
        429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        _ => Code::Internal,
    }
}

impl From<CoreError> for Status {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Scim(scim) => {
                let mut details = ErrorDetails::new();
                let metadata = std::collections::HashMap::from([("status".to_owned(), scim.status.to_string())]);
                let reason = scim.scim_type.map(|t| t.as_str()).unwrap_or("none");
                details.set_error_info(reason, ERROR_DOMAIN, metadata);
                Status::with_error_details(code_for_status(scim.status), scim.detail, details)
            }
            CoreError::Unauthenticated => Status::unauthenticated("missing, unknown or revoked token"),
            CoreError::RateLimited { retry_after } => {
                let mut details = ErrorDetails::new();
                let metadata = std::collections::HashMap::from([("status".to_owned(), "429".to_owned())]);
                details.set_error_info("none", ERROR_DOMAIN, metadata);
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(
                    Code::ResourceExhausted,
                    "this tenant sends more requests than its rate limit allows; retry shortly",
                    details,
                )
            }
            CoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database pool exhausted or unreachable");
                Status::unavailable("the database is unavailable")
            }
            CoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => CoreError::Scim(ScimError::uniqueness("the resource conflicts with an existing one")).into(),
            // Two concurrent changes deadlocked or could not be serialized: the IdP retries.
            CoreError::Database(diesel::result::Error::DatabaseError(kind, info))
                if kind == diesel::result::DatabaseErrorKind::SerializationFailure
                    || info.message().contains("deadlock detected") =>
            {
                tracing::warn!(error = %info.message(), "concurrent change conflict");
                Status::unavailable("a concurrent change conflicted with this one; retry")
            }
            CoreError::Database(cause) => {
                tracing::error!(error = %cause, "database error");
                Status::internal("internal error")
            }
            CoreError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Status::internal("internal error")
            }
        }
    }
}
