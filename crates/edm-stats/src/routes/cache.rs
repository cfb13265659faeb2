//! A small response cache for the database-backed GET endpoints: a cached
//! answer is served until this instance commits its next batch, and for at
//! most one second (other instances' batches, and ranges relative to now,
//! show up within that second). Dashboards poll the same few URLs, so most
//! requests never reach Postgres.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::consumer::status::ConsumerStatus;

/// Longest a cached response is served.
const MAX_AGE: Duration = Duration::from_secs(1);
/// Most URLs kept; the cache is emptied when it grows past this.
const MAX_ENTRIES: usize = 1024;
/// Largest response body cached (larger ones are served, not kept).
const MAX_BODY: usize = 1 << 20;

struct Entry {
    batch: u64,
    stored: Instant,
    body: Bytes,
}

/// Cached bodies of successful responses, by path and query.
#[derive(Clone)]
pub struct ResponseCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    status: Arc<ConsumerStatus>,
}

impl ResponseCache {
    /// An empty cache that watches `status` for committed batches.
    pub fn new(status: Arc<ConsumerStatus>) -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            status,
        }
    }

    fn get(&self, key: &str, batch: u64) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(key)
            .filter(|e| e.batch == batch && e.stored.elapsed() < MAX_AGE)
            .map(|e| e.body.clone())
    }

    fn put(&self, key: String, batch: u64, body: Bytes) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                batch,
                stored: Instant::now(),
                body,
            },
        );
    }
}

/// Middleware: answer from the cache, or run the handler and keep its 200.
pub async fn cached(State(cache): State<ResponseCache>, request: Request, next: Next) -> Response {
    let key = request.uri().to_string();
    let batch = cache.status.batches();
    if let Some(body) = cache.get(&key, batch) {
        return json_response(body);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    // The handler's answer is already in memory; only answers up to
    // MAX_BODY are kept, larger ones are served as they are.
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            if bytes.len() <= MAX_BODY {
                cache.put(key, batch, bytes.clone());
            }
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(error) => {
            tracing::error!(%error, "reading an answer to cache it failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
