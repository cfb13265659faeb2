//! Reading a request body safely: JSON content type required, size bounded,
//! time bounded (the runtime's body deadline), errors as [`ApiError`]s
//! rather than axum's plain-text rejections.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;

use edm_runtime::layers::BodyTimeout;

use crate::error::ApiError;

/// Checks the content type and reads at most `limit` bytes.
pub async fn read_json_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        if caused_by::<http_body_util::LengthLimitError>(&err) {
            ApiError::PayloadTooLarge { limit }
        } else if let Some(timeout) = cause::<BodyTimeout>(&err) {
            ApiError::BodyTimeout {
                limit_secs: timeout.limit.as_secs(),
            }
        } else {
            ApiError::BodyUnreadable
        }
    })
}

/// The first error of type `T` in `err`'s chain of causes.
fn cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// Whether `err` was caused by an error of type `T`.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    cause::<T>(err).is_some()
}
