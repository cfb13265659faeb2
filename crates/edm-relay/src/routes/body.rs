//! Reading a request body safely: JSON content type required, size bounded,
//! time bounded (the runtime's body deadline), errors as [`ApiError`]s
//! rather than axum's plain-text rejections.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use edm_runtime::layers::BodyTimeout;

use crate::error::ApiError;

/// Checks the content type and reads at most `limit` bytes; a declared
/// length over `limit` is refused before anything is read.
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
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|declared| declared > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // One buffer of the declared size: the body is held once, never copied
    // from a list of chunks into a second buffer.
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            if let Some(timeout) = cause::<BodyTimeout>(&err) {
                ApiError::BodyTimeout {
                    limit_secs: timeout.limit.as_secs(),
                }
            } else {
                ApiError::BodyUnreadable
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
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
