//! Every way a relay request can fail, as a JSON response a client can act
//! on: 4xx means "fix the request, do not retry", 503/504 carry Retry-After
//! and mean "retry, with the same event id".

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edm_events::EventError;
use serde::Serialize;

use crate::producer::ProduceError;

/// A failed relay request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not declared as JSON.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The body exceeds the configured limit.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the connection.
    #[error("the body could not be read")]
    BodyUnreadable,
    /// The body did not arrive within the time allowed.
    #[error("the request body did not arrive within {limit_secs} s (EDM_HTTP_BODY_TIMEOUT_SECS)")]
    BodyTimeout {
        /// The time allowed, in seconds.
        limit_secs: u64,
    },
    /// The event failed validation.
    #[error(transparent)]
    InvalidEvent(#[from] EventError),
    /// The event's topic does not belong to this endpoint.
    #[error("topic must be {expected} for this endpoint")]
    WrongTopic {
        /// The topic this endpoint takes.
        expected: &'static str,
    },
    /// The relay is not configured to accept this topic.
    #[error("this relay does not accept events for topic {0}")]
    TopicNotAccepted(&'static str),
    /// The `Idempotency-Key` header is unusable.
    #[error("Idempotency-Key must be 1 to 256 visible ASCII characters")]
    InvalidIdempotencyKey,
    /// The batch body is not a JSON array of events.
    #[error("the body must be a JSON array of events: {0}")]
    InvalidBatch(String),
    /// The batch holds more events than allowed.
    #[error("a batch may hold at most {max} events")]
    BatchTooLarge {
        /// The configured maximum.
        max: usize,
    },
    /// The client sent more events than its allowance.
    #[error("too many events from this client; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the events would be allowed.
        retry_after_secs: u32,
    },
    /// The batch holds more events than a client may send at once.
    #[error("a batch may hold at most {burst} events for one client")]
    ExceedsBurst {
        /// The burst size.
        burst: u32,
    },
    /// More produce requests are in flight than the relay takes at once,
    /// or the batch bodies being read fill their memory budget.
    #[error("the relay is handling too many requests; retry shortly")]
    Overloaded,
    /// This client has as many produce requests in flight as one client may.
    #[error("this client has {max} requests in flight already; wait for their answers")]
    TooManyInFlight {
        /// `EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT`.
        max: usize,
    },
    /// Kafka did not acknowledge the event.
    #[error("{source}")]
    Produce {
        /// What happened.
        source: ProduceError,
        /// The event's id, to retry with.
        event_id: String,
    },
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_event`.
    pub error: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The event id to retry with, when a retry is the right move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl ApiError {
    /// Status, code, and seconds after which a retry makes sense.
    pub fn classify(&self) -> (StatusCode, &'static str, Option<u32>) {
        match self {
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None)
            }
            ApiError::BodyUnreadable => (StatusCode::BAD_REQUEST, "body_unreadable", None),
            ApiError::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "body_timeout", None),
            ApiError::InvalidEvent(_) => (StatusCode::BAD_REQUEST, "invalid_event", None),
            ApiError::WrongTopic { .. } => (StatusCode::BAD_REQUEST, "wrong_topic", None),
            ApiError::TopicNotAccepted(_) => (StatusCode::FORBIDDEN, "topic_not_accepted", None),
            ApiError::InvalidIdempotencyKey => {
                (StatusCode::BAD_REQUEST, "invalid_idempotency_key", None)
            }
            ApiError::InvalidBatch(_) => (StatusCode::BAD_REQUEST, "invalid_batch", None),
            ApiError::BatchTooLarge { .. } | ApiError::ExceedsBurst { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large", None)
            }
            ApiError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Some(*retry_after_secs),
            ),
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", Some(1)),
            ApiError::TooManyInFlight { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_in_flight", Some(1))
            }
            ApiError::Produce { source, .. } => match source {
                ProduceError::QueueFull => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", Some(1)),
                ProduceError::Unavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "kafka_unavailable",
                    Some(2),
                ),
                ProduceError::OutcomeUnknown => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "delivery_outcome_unknown",
                    Some(2),
                ),
                ProduceError::Rejected(_) => (StatusCode::BAD_GATEWAY, "kafka_rejected", None),
            },
        }
    }

    /// The JSON body for this error.
    pub fn body(&self) -> ErrorBody {
        let (_, code, _) = self.classify();
        let field = match self {
            ApiError::InvalidEvent(e) => e.field_name().map(str::to_owned),
            ApiError::WrongTopic { .. } | ApiError::TopicNotAccepted(_) => Some("topic".into()),
            ApiError::InvalidIdempotencyKey => Some("Idempotency-Key".into()),
            _ => None,
        };
        let (message, event_id) = match self {
            ApiError::Produce { source: ProduceError::OutcomeUnknown, event_id } => (
                "the broker may or may not have stored this event; retry with the same Idempotency-Key so it is counted once".to_owned(),
                Some(event_id.clone()),
            ),
            ApiError::Produce { source: ProduceError::Rejected(cause), event_id } => {
                tracing::error!(%event_id, "Kafka rejected an event: {cause}");
                ("Kafka refused the event; see the relay's logs".to_owned(), Some(event_id.clone()))
            }
            ApiError::Produce { source, event_id } => (
                format!("{source}; nothing was written, retry later"),
                Some(event_id.clone()),
            ),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error: code,
            message,
            field,
            event_id,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, retry_after) = self.classify();
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
