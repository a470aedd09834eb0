//! The directory's one error type, mapped exhaustively to HTTP and to gRPC. HTTP error bodies are
//! `{"status": N, "detail": "…"}`; 5xx details are opaque and the cause is logged once.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is not valid: what to fix.
    #[error("{0}")]
    Invalid(String),
    /// No valid service credential was presented.
    #[error("{0}")]
    Unauthorized(String),
    /// The credential does not cover the tenant or the operation.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what the directory holds.
    #[error("{0}")]
    Conflict(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(#[from] diesel::r2d2::PoolError),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("{0}")]
    Internal(String),
}

impl DirectoryError {
    fn log(&self) {
        match self {
            DirectoryError::NotFound(_)
            | DirectoryError::Invalid(_)
            | DirectoryError::Unauthorized(_)
            | DirectoryError::Forbidden(_)
            | DirectoryError::Conflict(_) => {}
            DirectoryError::Unavailable(cause) => tracing::error!(error = %cause, "database unavailable"),
            DirectoryError::Database(cause) => tracing::error!(error = %cause, "database error"),
            DirectoryError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
        }
    }
}

impl actix_web::ResponseError for DirectoryError {
    fn status_code(&self) -> StatusCode {
        match self {
            DirectoryError::NotFound(_) => StatusCode::NOT_FOUND,
            DirectoryError::Invalid(_) => StatusCode::BAD_REQUEST,
            DirectoryError::Conflict(_) => StatusCode::CONFLICT,
            DirectoryError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            DirectoryError::Forbidden(_) => StatusCode::FORBIDDEN,
            DirectoryError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DirectoryError::Database(_) | DirectoryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let detail = match self {
            DirectoryError::NotFound(what) => format!("{what} not found"),
            DirectoryError::Invalid(detail)
            | DirectoryError::Conflict(detail)
            | DirectoryError::Unauthorized(detail)
            | DirectoryError::Forbidden(detail) => detail.clone(),
            DirectoryError::Unavailable(_) => "the directory is unavailable".to_owned(),
            DirectoryError::Database(_) | DirectoryError::Internal(_) => "internal error".to_owned(),
        };
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(serde_json::json!({ "status": status.as_u16(), "detail": detail }))
    }
}

impl From<DirectoryError> for tonic::Status {
    fn from(error: DirectoryError) -> Self {
        error.log();
        match error {
            DirectoryError::NotFound(what) => tonic::Status::not_found(format!("{what} not found")),
            DirectoryError::Invalid(detail) => tonic::Status::invalid_argument(detail),
            DirectoryError::Conflict(detail) => tonic::Status::already_exists(detail),
            DirectoryError::Unauthorized(detail) => tonic::Status::unauthenticated(detail),
            DirectoryError::Forbidden(detail) => tonic::Status::permission_denied(detail),
            DirectoryError::Unavailable(_) => tonic::Status::unavailable("the directory is unavailable"),
            DirectoryError::Database(_) | DirectoryError::Internal(_) => tonic::Status::internal("internal error"),
        }
    }
}
