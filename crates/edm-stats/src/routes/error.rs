//! API errors as JSON: 400 for a bad parameter (named), 503 while Postgres
//! is unavailable or the service is starting, an opaque 500 otherwise (the
//! cause goes to the log).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is malformed, out of range or unknown.
    #[error("{parameter}: {message}")]
    InvalidParameter {
        /// The parameter's name.
        parameter: String,
        /// What is wrong.
        message: String,
    },
    /// Postgres failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Postgres' code for a table that does not exist: the migrations have not
/// run yet (the service binds its port before Postgres may even answer).
const UNDEFINED_TABLE: &str = "42P01";

impl ApiError {
    /// A bad-parameter error.
    pub fn parameter(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

/// The JSON body of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_parameter`, `database_unavailable`, `starting` or
    /// `internal_error`.
    pub error: &'static str,
    /// What went wrong.
    pub message: String,
    /// The parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::InvalidParameter { parameter, message } => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    error: "invalid_parameter",
                    message: format!("{parameter}: {message}"),
                    parameter: Some(parameter),
                },
            ),
            ApiError::Database(sqlx::Error::Database(e))
                if e.code().as_deref() == Some(UNDEFINED_TABLE) =>
            {
                let body = ErrorBody {
                    error: "starting",
                    message: "the service is starting; try again shortly".into(),
                    parameter: None,
                };
                let retry = [(axum::http::header::RETRY_AFTER, "1")];
                return (StatusCode::SERVICE_UNAVAILABLE, retry, Json(body)).into_response();
            }
            ApiError::Database(e) => {
                let unavailable = matches!(
                    e,
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::PoolClosed
                );
                tracing::error!("database error: {e}");
                if unavailable {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorBody {
                            error: "database_unavailable",
                            message: "the database is unavailable; try again shortly".into(),
                            parameter: None,
                        },
                    )
                } else {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ErrorBody {
                            error: "internal_error",
                            message: "internal error; see the service's logs".into(),
                            parameter: None,
                        },
                    )
                }
            }
        };
        (status, Json(body)).into_response()
    }
}
