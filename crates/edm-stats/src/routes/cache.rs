//! A small response cache for the database-backed GET endpoints: a cached
//! answer is served until this instance commits its next batch, and for at
//! most one second (other instances' batches, and ranges relative to now,
//! show up within that second). Dashboards poll the same few URLs, so most
//! requests never reach Postgres. When an answer is missing (every commit
//! makes them all stale), the first request for a URL asks Postgres and the
//! others for the same URL wait for its answer, instead of all asking at
//! once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::consumer::status::ConsumerStatus;

/// Longest a cached response is served.
const MAX_AGE: Duration = Duration::from_secs(1);
/// Most URLs kept; the cache is emptied when it grows past this.
const MAX_ENTRIES: usize = 1024;
/// Largest response body cached (larger ones are served, not kept).
const MAX_BODY: usize = 1 << 20;
/// Longest a request waits for another one's answer to the same URL before
/// asking Postgres itself.
const FILL_WAIT: Duration = Duration::from_secs(2);

struct Entry {
    batch: u64,
    stored: Instant,
    body: Bytes,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, Entry>,
    /// The bodies' bytes in all.
    bytes: usize,
}

/// Cached bodies of successful responses, by path and query, within a
/// memory budget (`EDM_STATS_CACHE_BYTES`): when an answer would take the
/// cache past its entry count or its budget, the cache starts over.
#[derive(Clone)]
pub struct ResponseCache {
    entries: Arc<Mutex<Entries>>,
    /// URLs being answered now; a receiver sees its sender dropped when
    /// the answer is in (or was not to be had).
    fills: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    max_bytes: usize,
    status: Arc<ConsumerStatus>,
    /// The routes it serves read no parameter (the original endpoints):
    /// the query is left out of the key, so `?x=<random>` cannot miss it.
    ignores_query: bool,
}

/// Marks a URL as being answered until dropped (answered, failed or
/// cancelled alike).
struct Filling {
    fills: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    key: String,
    _done: watch::Sender<()>,
}

impl Drop for Filling {
    fn drop(&mut self) {
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        if fills
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self._done.subscribe()))
        {
            fills.remove(&self.key);
        }
    }
}

impl ResponseCache {
    /// An empty cache of at most `max_bytes` that watches `status` for
    /// committed batches.
    pub fn new(status: Arc<ConsumerStatus>, max_bytes: usize) -> Self {
        Self {
            entries: Arc::default(),
            fills: Arc::default(),
            max_bytes,
            status,
            ignores_query: false,
        }
    }

    /// The same cache (the same answers and budget) for routes that read
    /// no parameter: their key is the path alone.
    pub fn ignoring_query(&self) -> Self {
        Self {
            ignores_query: true,
            ..self.clone()
        }
    }

    /// The cache key of a request (see [`key_of`]).
    fn key(&self, uri: &Uri) -> String {
        if self.ignores_query {
            uri.path().to_owned()
        } else {
            key_of(uri)
        }
    }

    /// Either this request answers `key` (`Ok`, a mark the others wait on)
    /// or another one is answering it already (`Err`, to wait on).
    fn fill(&self, key: &str) -> Result<Filling, watch::Receiver<()>> {
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = fills.get(key) {
            return Err(rx.clone());
        }
        if fills.len() >= MAX_ENTRIES {
            // Only coalescing is lost: those requests ask Postgres alone.
            fills.clear();
        }
        let (done, rx) = watch::channel(());
        fills.insert(key.to_owned(), rx);
        Ok(Filling {
            fills: self.fills.clone(),
            key: key.to_owned(),
            _done: done,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: &str, batch: u64) -> Option<Bytes> {
        self.lock()
            .by_key
            .get(key)
            .filter(|e| e.batch == batch && e.stored.elapsed() < MAX_AGE)
            .map(|e| e.body.clone())
    }

    fn put(&self, key: String, batch: u64, body: Bytes) {
        if body.len() > MAX_BODY.min(self.max_bytes) {
            return;
        }
        let mut entries = self.lock();
        if let Some(old) = entries.by_key.remove(&key) {
            entries.bytes -= old.body.len();
        }
        if entries.by_key.len() >= MAX_ENTRIES || entries.bytes + body.len() > self.max_bytes {
            *entries = Entries::default();
        }
        entries.bytes += body.len();
        entries.by_key.insert(
            key,
            Entry {
                batch,
                stored: Instant::now(),
                body,
            },
        );
    }
}

/// The cache key of a request: its path and its query parameters in a
/// canonical order and encoding, so that `?b=2&a=1` and `?a=1&b=%32` are
/// one answer.
fn key_of(uri: &Uri) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    pairs.sort();
    match serde_urlencoded::to_string(&pairs) {
        Ok(query) if !query.is_empty() => format!("{}?{query}", uri.path()),
        _ => uri.path().to_owned(),
    }
}

/// Middleware: answer from the cache, or run the handler and keep its 200.
pub async fn cached(State(cache): State<ResponseCache>, request: Request, next: Next) -> Response {
    let key = cache.key(request.uri());
    let batch = cache.status.batches();
    if let Some(body) = cache.get(&key, batch) {
        return json_response(body);
    }
    let _filling = match cache.fill(&key) {
        Ok(filling) => Some(filling),
        Err(mut answering) => {
            // Ends when the other request's answer is in (its sender drops).
            let _ = tokio::time::timeout(FILL_WAIT, answering.changed()).await;
            if let Some(body) = cache.get(&key, batch) {
                return json_response(body);
            }
            None
        }
    };
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    // The handler's answer is already in memory; only answers within
    // the limits are kept, larger ones are served as they are.
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            cache.put(key, batch, bytes.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_bytes: usize) -> ResponseCache {
        ResponseCache::new(Arc::new(ConsumerStatus::default()), max_bytes)
    }

    #[test]
    fn one_answer_whatever_the_order_or_encoding_of_its_parameters() {
        let a: Uri = "/api/v1/clicks?to=2&from=1".parse().unwrap();
        let b: Uri = "/api/v1/clicks?from=1&to=%32".parse().unwrap();
        assert_eq!(key_of(&a), key_of(&b));
        assert_eq!(
            key_of(&"/api/clickCount?".parse().unwrap()),
            "/api/clickCount"
        );
        assert_ne!(
            key_of(&a),
            key_of(&"/api/v1/clicks?from=1&to=3".parse().unwrap())
        );
    }

    #[test]
    fn routes_that_read_no_parameter_have_one_answer_whatever_the_query() {
        let legacy = cache(1000).ignoring_query();
        let random: Uri = "/api/clickCount?x=8f3e3d1".parse().unwrap();
        assert_eq!(legacy.key(&random), "/api/clickCount");
        assert_eq!(
            cache(1000).key(&random),
            "/api/clickCount?x=8f3e3d1",
            "the other routes' parameters are part of the key"
        );
    }

    #[test]
    fn the_cache_stays_within_its_memory_budget() {
        let cache = cache(1000);
        cache.put("/a".into(), 0, Bytes::from(vec![b'a'; 600]));
        assert!(cache.get("/a", 0).is_some());
        cache.put("/b".into(), 0, Bytes::from(vec![b'b'; 600]));
        assert!(
            cache.get("/a", 0).is_none(),
            "started over rather than grow past 1000 bytes"
        );
        assert!(cache.get("/b", 0).is_some());
        assert!(cache.lock().bytes <= 1000);
        cache.put("/c".into(), 0, Bytes::from(vec![b'c'; 1001]));
        assert!(
            cache.get("/c", 0).is_none(),
            "larger than the budget: served, not kept"
        );
        cache.put("/b".into(), 0, Bytes::from(vec![b'b'; 300]));
        assert_eq!(
            cache.lock().bytes,
            300,
            "a replaced answer's bytes are given back"
        );
    }

    #[tokio::test]
    async fn requests_for_a_missing_answer_ask_postgres_once_and_share_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let asked = Arc::new(AtomicUsize::new(0));
        let handler = {
            let asked = asked.clone();
            move || async move {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                "[1]"
            }
        };
        let app = axum::Router::new()
            .route("/api/clickCount", axum::routing::get(handler))
            .route_layer(axum::middleware::from_fn_with_state(cache(1000), cached));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/clickCount", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let answers = futures::future::join_all((0..20).map(|_| {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(url).send().await.unwrap().text().await.unwrap() }
        }))
        .await;
        assert!(answers.iter().all(|a| a == "[1]"), "{answers:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 1, "20 requests, one query");
    }

    #[test]
    fn an_answer_from_an_older_batch_is_not_served() {
        let cache = cache(1000);
        cache.put("/a".into(), 1, Bytes::from_static(b"{}"));
        assert!(cache.get("/a", 2).is_none());
    }
}
