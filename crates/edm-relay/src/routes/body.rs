//! Reading a request body safely: JSON content type required, size bounded,
//! errors as [`ApiError`]s rather than axum's plain-text rejections.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;

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
        let too_large = std::error::Error::source(&err)
            .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BodyUnreadable
        }
    })
}
