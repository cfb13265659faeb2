//! Producing events: the original single-event endpoints and the batch
//! endpoint. An event is written only after it validated, its topic matched
//! the endpoint and the configuration, and it then counts as accepted only
//! once the brokers acknowledged it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use edm_config::Topic;
use edm_events::Event;
use edm_runtime::client::ClientAddress;
use serde::Serialize;

use super::batch::batch_items;
use super::body::read_json_body;
use super::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::metrics::Outcome;
use crate::producer::{settle, Delivered, Outgoing, ProduceError};

/// A successful write.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// Always `accepted`.
    pub status: &'static str,
    /// The event's id: retry with it and consumers count the event once.
    pub event_id: String,
    /// Logical topic.
    pub topic: &'static str,
    /// Partition it was written to.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// `POST /produceClickMessage`.
pub async fn click(State(state): State<Arc<AppState>>, request: Request) -> Response {
    single(state, request, Topic::Click).await
}

/// `POST /producePageLoad`.
pub async fn pageload(State(state): State<Arc<AppState>>, request: Request) -> Response {
    single(state, request, Topic::PageLoad).await
}

/// The caller's address, for rate limiting: the runtime's client address
/// (the TCP peer, or what the trusted proxies say).
fn client_of(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ClientAddress>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |client| client.0)
}

/// Takes `events` from the client's allowance.
fn limit(state: &AppState, client: IpAddr, events: usize) -> Result<(), ApiError> {
    let Some(limiter) = &state.limiter else {
        return Ok(());
    };
    let events = u32::try_from(events).unwrap_or(u32::MAX);
    limiter.check(client, events).map_err(|limited| {
        if limited.exceeds_burst {
            ApiError::ExceedsBurst {
                burst: limiter.burst(),
            }
        } else {
            ApiError::RateLimited {
                retry_after_secs: limited.retry_after.as_secs_f64().ceil().max(1.0) as u32,
            }
        }
    })
}

/// One event: the client's allowance and a place in flight (see
/// [`crate::admission`]) are taken before a byte of the body is read, so a
/// client over its rate holds nothing, and slow bodies hold at most one
/// client's share of places, until the runtime's body deadline ends them.
async fn single(state: Arc<AppState>, request: Request, endpoint: Topic) -> Response {
    let client = client_of(&request);
    if let Err(err) = limit(&state, client, 1) {
        state.metrics.count(endpoint.name(), Outcome::Rejected);
        return err.into_response();
    }
    let _admitted = match state.admission.single(client) {
        Ok(admitted) => admitted,
        Err(err) => {
            state.metrics.count(endpoint.name(), Outcome::Failed);
            return err.into_response();
        }
    };
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    match produce_one(&state, &headers, body, endpoint).await {
        // The producer counted what it was given (accepted or failed);
        // what never reached it is counted here.
        Ok(accepted) => {
            record_event_id(&accepted.event_id);
            (StatusCode::OK, Json(accepted)).into_response()
        }
        Err(err) => {
            match &err {
                ApiError::Produce { event_id, .. } => record_event_id(event_id),
                _ => state.metrics.count(endpoint.name(), Outcome::Rejected),
            }
            tracing::info!(error = %err, "event not accepted");
            err.into_response()
        }
    }
}

/// Puts a client-chosen event id in the request's log line, quoted and
/// escaped, so that spaces, quotes or control characters in it cannot
/// forge other fields.
fn record_event_id(event_id: &str) {
    tracing::Span::current().record("event_id", tracing::field::debug(event_id));
}

async fn produce_one(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    endpoint: Topic,
) -> Result<Accepted, ApiError> {
    let key_header = idempotency_key(headers)?;
    let bytes = read_json_body(headers, body, state.settings.max_body_bytes).await?;
    let event = Event::parse(&bytes)?;
    if event.topic != endpoint {
        return Err(ApiError::WrongTopic {
            expected: endpoint.name(),
        });
    }
    check_accepted(state, event.topic)?;
    let event_id = key_header
        .or(event.event_id.clone())
        .unwrap_or_else(new_event_id);
    let topic_name = state.settings.kafka.topic_name(event.topic);
    let delivered = state
        .producer
        .send(Outgoing {
            topic: &topic_name,
            key: &event.uuid,
            payload: &bytes,
            event_id: &event_id,
        })
        .await
        .map_err(|source| ApiError::Produce {
            source,
            event_id: event_id.clone(),
        })?;
    Ok(accepted(event.topic, event_id, delivered))
}

fn accepted(topic: Topic, event_id: String, delivered: Delivered) -> Accepted {
    Accepted {
        status: "accepted",
        event_id,
        topic: topic.name(),
        partition: delivered.partition,
        offset: delivered.offset,
    }
}

fn check_accepted(state: &AppState, topic: Topic) -> Result<(), ApiError> {
    if state.settings.topics.contains(&topic) {
        Ok(())
    } else {
        Err(ApiError::TopicNotAccepted(topic.name()))
    }
}

/// The `Idempotency-Key` header, when present; it must be 1–256 visible
/// ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::InvalidIdempotencyKey)?
        .trim();
    if key.is_empty() || key.len() > 256 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::InvalidIdempotencyKey);
    }
    Ok(Some(key.to_owned()))
}

/// A time-ordered id for an event the client did not name.
fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The result for one event of a batch.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ItemResult {
    /// Written and acknowledged.
    Accepted(Accepted),
    /// Not written (invalid) or not acknowledged (Kafka trouble).
    Failed {
        /// `rejected` (do not retry) or `failed` (retry with the same id).
        status: &'static str,
        /// HTTP status this event would have had on its own.
        code: u16,
        /// Why.
        #[serde(flatten)]
        error: ErrorBody,
    },
}

/// The response to a batch.
#[derive(Debug, Serialize)]
pub struct BatchResponse {
    /// Events acknowledged by the brokers.
    pub accepted: usize,
    /// Events refused as invalid.
    pub rejected: usize,
    /// Valid events Kafka did not acknowledge (retry them).
    pub failed: usize,
    /// One result per event, in request order.
    pub results: Vec<ItemResult>,
}

/// `POST /api/v1/events`: a JSON array of events. Every event is validated
/// and written on its own; all are sent at once and their acknowledgements
/// awaited together. Status 200 when all were accepted, 207 when some were
/// not, 503 when Kafka is unavailable and none were.
pub async fn batch(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // A client already over its rate is refused before its body is read;
    // the rest of the batch is charged once the events are counted. The
    // body's declared size is reserved from the batch memory budget first.
    let client = client_of(&request);
    if let Err(err) = limit(&state, client, 1) {
        return err.into_response();
    }
    let declared_length = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let _admitted = match state.admission.batch(client, declared_length) {
        Ok(admitted) => admitted,
        Err(err) => return err.into_response(),
    };
    let (parts, body) = request.into_parts();
    match run_batch(&state, &parts.headers, client, body).await {
        Ok(response) => {
            let status = if response.accepted == response.results.len() {
                StatusCode::OK
            } else if response.accepted == 0 && response.failed > 0 && response.rejected == 0 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::MULTI_STATUS
            };
            let mut resp = (status, Json(response)).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, 2.into());
            }
            resp
        }
        Err(err) => err.into_response(),
    }
}

async fn run_batch(
    state: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    body: Body,
) -> Result<BatchResponse, ApiError> {
    let bytes: Bytes = read_json_body(headers, body, state.settings.max_batch_bytes).await?;
    let items = batch_items(&bytes, state.settings.max_batch_events)?;
    // One unit was taken before the body was read; a batch larger than the
    // burst could never pass, whatever the client's allowance.
    if let Some(limiter) = &state.limiter {
        if items.len() > limiter.burst() as usize {
            return Err(ApiError::ExceedsBurst {
                burst: limiter.burst(),
            });
        }
    }
    limit(state, client, items.len().saturating_sub(1))?;

    // Validate and enqueue everything first, then await all reports.
    enum Pending {
        Queued(
            Topic,
            String,
            tokio::sync::oneshot::Receiver<Result<Delivered, ProduceError>>,
        ),
        /// Settled already; the topic label is `unknown` when unreadable.
        Done(&'static str, ItemResult),
    }
    let mut pending = Vec::with_capacity(items.len());
    let max_event_bytes = state.settings.max_body_bytes;
    for raw in &items {
        let payload = raw.get().as_bytes();
        if payload.len() > max_event_bytes {
            let too_large = ApiError::PayloadTooLarge {
                limit: max_event_bytes,
            };
            pending.push(Pending::Done("unknown", failure(&too_large)));
            continue;
        }
        let parsed = Event::parse(payload)
            .map_err(ApiError::from)
            .and_then(|event| check_accepted(state, event.topic).map(|()| event));
        let event = match parsed {
            Ok(event) => event,
            Err(err) => {
                pending.push(Pending::Done("unknown", failure(&err)));
                continue;
            }
        };
        let event_id = event.event_id.clone().unwrap_or_else(new_event_id);
        let topic_name = state.settings.kafka.topic_name(event.topic);
        let queued = state.producer.enqueue(Outgoing {
            topic: &topic_name,
            key: &event.uuid,
            payload,
            event_id: &event_id,
        });
        pending.push(match queued {
            Ok(rx) => Pending::Queued(event.topic, event_id, rx),
            Err(source) => Pending::Done(
                event.topic.name(),
                failure(&ApiError::Produce { source, event_id }),
            ),
        });
    }

    let mut response = BatchResponse {
        accepted: 0,
        rejected: 0,
        failed: 0,
        results: Vec::with_capacity(pending.len()),
    };
    tracing::Span::current().record("events", pending.len());
    for item in pending {
        let (topic, result) = match item {
            Pending::Done(topic, result) => (topic, result),
            Pending::Queued(topic, event_id, rx) => match settle(rx).await {
                Ok(delivered) => (
                    topic.name(),
                    ItemResult::Accepted(accepted(topic, event_id, delivered)),
                ),
                Err(source) => (
                    topic.name(),
                    failure(&ApiError::Produce { source, event_id }),
                ),
            },
        };
        // Accepted and failed events were counted by the producer; the
        // refused ones never reached it.
        match &result {
            ItemResult::Accepted(_) => response.accepted += 1,
            ItemResult::Failed {
                status: "failed", ..
            } => response.failed += 1,
            ItemResult::Failed { .. } => {
                response.rejected += 1;
                state.metrics.count(topic, Outcome::Rejected);
            }
        }
        response.results.push(result);
    }
    Ok(response)
}

fn failure(err: &ApiError) -> ItemResult {
    let (status, _, _) = err.classify();
    ItemResult::Failed {
        status: if matches!(err, ApiError::Produce { .. }) {
            "failed"
        } else {
            "rejected"
        },
        code: status.as_u16(),
        error: err.body(),
    }
}
