//! A small response cache for the database-backed GET endpoints: a cached
//! answer is served until this instance commits its next batch, and for at
//! most one second (other instances' batches, and ranges relative to now,
//! show up within that second). Dashboards poll the same few URLs, so most
//! requests never reach Postgres.
//!
//! One query per URL at a time: when an answer is missing (every commit
//! makes them all stale), the first request for a URL asks Postgres, in a
//! task of its own, and every request for that URL meanwhile (the first
//! one included) waits for that answer, however long it takes, and gets
//! it, whatever its status or size: sixteen clients asking for a 5 MB
//! answer at once cost one query, and a client that gives up does not
//! cancel the others' answer. The wait is bounded by the database timeouts
//! (`EDM_STATS_DB_TIMEOUT_SECS` to get a connection and again for the
//! statement; past both, the answer is a 503). Answers up to a quarter of
//! the memory budget (`EDM_STATS_CACHE_BYTES`) are kept; larger ones go
//! only to the requests that waited for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edm_runtime::metrics::{Registry, UNMATCHED_ROUTE};
use edm_runtime::register_metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::watch;

use super::error::ErrorBody;
use super::ApiError;
use crate::consumer::status::ConsumerStatus;

/// Longest a cached response is served.
const MAX_AGE: Duration = Duration::from_secs(1);
/// Most URLs kept, and most URLs answered at once in tasks of their own
/// (past it, a request asks Postgres itself, as if nobody else did).
const MAX_ENTRIES: usize = 1024;
/// The largest answer kept is the memory budget divided by this; larger
/// ones are served to the requests waiting for them, not kept.
const MAX_SHARE: usize = 4;

/// An answer, as every request waiting for it gets it.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Where the answer to a URL being answered now will appear.
type Pending = watch::Receiver<Option<Arc<Answer>>>;

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

/// Labels of the answers counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnswerLabels {
    /// The route template, e.g. `/api/clickCount`.
    pub route: String,
    /// `cache` (a kept answer), `shared` (another request's query) or
    /// `database` (this request's query).
    pub source: &'static str,
}

/// Where the cached routes' answers came from (`/metrics`:
/// `edm_stats_api_answers_total{route, source}`): the `database` ones are
/// the queries run.
#[derive(Debug, Clone, Default)]
pub struct ApiMetrics {
    answers: Family<AnswerLabels, Counter>,
}

impl ApiMetrics {
    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        register_metrics!(registry, {
            "api_answers": self.answers.clone() => "Answers of the cached API routes, by route and source (cache: kept answer; shared: another request's query; database: this request's query)";
        });
    }

    fn count(&self, route: &str, source: &'static str) {
        self.answers
            .get_or_create(&AnswerLabels {
                route: route.to_owned(),
                source,
            })
            .inc();
    }
}

/// Cached bodies of successful responses, by path and query, within a
/// memory budget (`EDM_STATS_CACHE_BYTES`): when an answer would take the
/// cache past its entry count or its budget, stale answers go, and if that
/// is not enough the cache starts over.
#[derive(Clone)]
pub struct ResponseCache {
    entries: Arc<Mutex<Entries>>,
    /// URLs being answered now.
    fills: Arc<Mutex<HashMap<String, Pending>>>,
    max_bytes: usize,
    /// Longest an answer may take before it is a 503.
    fill_limit: Duration,
    status: Arc<ConsumerStatus>,
    metrics: ApiMetrics,
    /// The routes it serves read no parameter (the original endpoints):
    /// the query is left out of the key, so `?x=<random>` cannot miss it.
    ignores_query: bool,
}

/// Marks a URL as being answered until dropped (answered, failed or
/// panicked alike): the requests waiting on it see the answer sent, or the
/// sender gone without one.
struct Filling {
    fills: Arc<Mutex<HashMap<String, Pending>>>,
    key: String,
    done: watch::Sender<Option<Arc<Answer>>>,
}

impl Drop for Filling {
    fn drop(&mut self) {
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        if fills
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.done.subscribe()))
        {
            fills.remove(&self.key);
        }
    }
}

/// How a request that missed the cache gets its answer.
enum Fill {
    /// It asks Postgres for everyone, and waits like the others.
    First(Filling, Pending),
    /// Another request is asking already: wait for its answer.
    Waiting(Pending),
    /// Too many URLs are being answered: it asks Postgres itself.
    Alone,
}

impl ResponseCache {
    /// An empty cache of at most `max_bytes` that watches `status` for
    /// committed batches; an answer that takes longer than `fill_limit` is
    /// a 503.
    pub fn new(
        status: Arc<ConsumerStatus>,
        max_bytes: usize,
        fill_limit: Duration,
        metrics: ApiMetrics,
    ) -> Self {
        Self {
            entries: Arc::default(),
            fills: Arc::default(),
            max_bytes,
            fill_limit,
            status,
            metrics,
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

    /// Whether this request answers `key` for everyone, or waits for
    /// another one's answer.
    fn fill(&self, key: &str) -> Fill {
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = fills.get(key) {
            return Fill::Waiting(rx.clone());
        }
        if fills.len() >= MAX_ENTRIES {
            return Fill::Alone;
        }
        let (done, rx) = watch::channel(None);
        fills.insert(key.to_owned(), rx.clone());
        Fill::First(
            Filling {
                fills: self.fills.clone(),
                key: key.to_owned(),
                done,
            },
            rx,
        )
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

    /// The largest answer kept.
    fn max_body(&self) -> usize {
        self.max_bytes / MAX_SHARE
    }

    /// Keeps `body`, the answer to `key` as of `batch`, unless it is too
    /// large or already stale.
    fn put(&self, key: String, batch: u64, body: Bytes) {
        let current = self.status.batches();
        if body.len() > self.max_body() || batch != current {
            return;
        }
        let mut entries = self.lock();
        if let Some(old) = entries.by_key.remove(&key) {
            entries.bytes -= old.body.len();
        }
        let full =
            |e: &Entries| e.by_key.len() >= MAX_ENTRIES || e.bytes + body.len() > self.max_bytes;
        if full(&entries) {
            // Answers that can no longer be served go first.
            entries
                .by_key
                .retain(|_, e| e.batch == current && e.stored.elapsed() < MAX_AGE);
            entries.bytes = entries.by_key.values().map(|e| e.body.len()).sum();
        }
        if full(&entries) {
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

    /// Runs the handler, within the fill limit, and keeps a 200 answer.
    async fn answer(&self, key: String, batch: u64, next: Next, request: Request) -> Answer {
        let response = match tokio::time::timeout(self.fill_limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", self.fill_limit),
            )))
            .into_response(),
        };
        let (parts, body) = response.into_parts();
        // The handlers' answers are already in memory.
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => {
                if parts.status == StatusCode::OK {
                    self.put(key, batch, bytes.clone());
                }
                Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body: bytes,
                }
            }
            Err(error) => {
                tracing::error!(%error, "reading an answer failed");
                internal_error()
            }
        }
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

/// Middleware: answer from the cache, or from the one query for this URL
/// in flight, or start that query.
pub async fn cached(State(cache): State<ResponseCache>, request: Request, next: Next) -> Response {
    let key = cache.key(request.uri());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let batch = cache.status.batches();
    if let Some(body) = cache.get(&key, batch) {
        cache.metrics.count(&route, "cache");
        return json_response(body);
    }
    let mut pending = match cache.fill(&key) {
        Fill::Waiting(pending) => {
            cache.metrics.count(&route, "shared");
            pending
        }
        Fill::First(filling, pending) => {
            cache.metrics.count(&route, "database");
            // In a task of its own: the answer others wait for is not
            // lost when this request's client goes away.
            let cache = cache.clone();
            tokio::spawn(async move {
                let answer = cache.answer(key, batch, next, request).await;
                filling.done.send_replace(Some(Arc::new(answer)));
            });
            pending
        }
        Fill::Alone => {
            cache.metrics.count(&route, "database");
            return cache.answer(key, batch, next, request).await.response();
        }
    };
    let answer = match pending.wait_for(Option::is_some).await {
        Ok(answer) => answer.clone(),
        // The task ended without an answer: the handler panicked.
        Err(_) => None,
    };
    answer.map_or_else(|| internal_error().response(), |a| a.response())
}

/// An opaque 500, as [`ApiError`] gives (the cause is logged where it
/// happened).
fn internal_error() -> Answer {
    let body = serde_json::to_vec(&ErrorBody {
        error: "internal_error",
        message: "internal error; see the service's logs".into(),
        parameter: None,
    })
    .unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        headers,
        body: Bytes::from(body),
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::consumer::store::Written;

    fn cache(max_bytes: usize) -> ResponseCache {
        ResponseCache::new(
            Arc::new(ConsumerStatus::default()),
            max_bytes,
            Duration::from_secs(30),
            ApiMetrics::default(),
        )
    }

    /// A commit: every cached answer is stale.
    fn commit(cache: &ResponseCache) {
        cache.status.record_batch(
            &Written::default(),
            Duration::ZERO,
            &std::collections::HashMap::new(),
        );
    }

    /// Serves `/api/clickCount` through `cache` with a handler that takes
    /// `takes` and answers `body`; returns its URL and how many times the
    /// handler ran.
    async fn serve(
        cache: ResponseCache,
        takes: Duration,
        body: Bytes,
    ) -> (String, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let handler = {
            let asked = asked.clone();
            move || async move {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(takes).await;
                body
            }
        };
        let app = axum::Router::new()
            .route("/api/clickCount", axum::routing::get(handler))
            .route_layer(axum::middleware::from_fn_with_state(
                cache.ignoring_query(),
                cached,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/clickCount", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, asked)
    }

    /// `n` clients asking `url` at once (each with its own random query);
    /// their statuses and bodies.
    async fn ask_at_once(url: &str, n: usize) -> Vec<(u16, Bytes)> {
        let http = reqwest::Client::new();
        futures::future::join_all((0..n).map(|i| {
            let request = http.get(format!("{url}?x={i}")).send();
            async move {
                let response = request.await.unwrap();
                (response.status().as_u16(), response.bytes().await.unwrap())
            }
        }))
        .await
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
        let cache = cache(4000);
        for key in ["/a", "/b", "/c", "/d"] {
            cache.put(key.into(), 0, Bytes::from(vec![b'x'; 1000]));
        }
        assert!(cache.get("/a", 0).is_some() && cache.get("/d", 0).is_some());
        cache.put("/e".into(), 0, Bytes::from(vec![b'e'; 1000]));
        assert!(
            cache.get("/a", 0).is_none(),
            "started over rather than grow past 4000 bytes"
        );
        assert!(cache.get("/e", 0).is_some());
        assert!(cache.lock().bytes <= 4000);
        cache.put("/f".into(), 0, Bytes::from(vec![b'f'; 1001]));
        assert!(
            cache.get("/f", 0).is_none(),
            "larger than a quarter of the budget: served, not kept"
        );
        cache.put("/e".into(), 0, Bytes::from(vec![b'e'; 300]));
        assert_eq!(
            cache.lock().bytes,
            300,
            "a replaced answer's bytes are given back"
        );
    }

    #[test]
    fn answers_that_can_no_longer_be_served_make_room_first() {
        let cache = cache(4000);
        for key in ["/old", "/b", "/c", "/d"] {
            cache.put(key.into(), 0, Bytes::from(vec![b'x'; 1000]));
        }
        // "/old" is past its second.
        let past = Instant::now() - MAX_AGE - Duration::from_millis(1);
        cache.lock().by_key.get_mut("/old").unwrap().stored = past;
        cache.put("/e".into(), 0, Bytes::from(vec![b'e'; 1000]));
        assert!(cache.get("/e", 0).is_some());
        assert!(
            cache.get("/b", 0).is_some() && cache.get("/d", 0).is_some(),
            "the fresh answers stay"
        );
        assert_eq!(cache.lock().bytes, 4000);
    }

    #[test]
    fn an_answer_from_an_older_batch_is_not_served() {
        let cache = cache(1000);
        cache.put("/a".into(), 0, Bytes::from_static(b"{}"));
        assert!(cache.get("/a", 0).is_some());
        commit(&cache);
        assert!(cache.get("/a", 1).is_none());
        cache.put("/b".into(), 0, Bytes::from_static(b"{}"));
        assert!(
            !cache.lock().by_key.contains_key("/b"),
            "an answer computed before the commit is not kept after it"
        );
    }

    #[tokio::test]
    async fn concurrent_requests_for_a_slow_answer_run_its_query_once_and_all_get_it() {
        let body = Bytes::from_static(b"[{\"button_id\":\"a\",\"sum\":1}]");
        let (url, asked) = serve(cache(16 << 20), Duration::from_secs(3), body.clone()).await;
        let answers = ask_at_once(&url, 16).await;
        assert_eq!(asked.load(Ordering::SeqCst), 1, "16 requests, one query");
        assert!(
            answers
                .iter()
                .all(|(status, b)| *status == 200 && *b == body),
            "every request got the answer"
        );
    }

    #[tokio::test]
    async fn an_answer_over_a_mebibyte_is_shared_and_cached() {
        let body = Bytes::from(vec![b'x'; 3 << 20]);
        let (url, asked) = serve(cache(16 << 20), Duration::from_millis(500), body.clone()).await;
        let answers = ask_at_once(&url, 16).await;
        assert!(answers.iter().all(|(s, b)| *s == 200 && b.len() == 3 << 20));
        let later = ask_at_once(&url, 1).await;
        assert_eq!(later[0].1, body);
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "a 3 MiB answer in a 16 MiB budget is kept"
        );
    }

    #[tokio::test]
    async fn an_answer_too_large_to_keep_still_reaches_every_waiting_request() {
        // 300 bytes in a 1,000-byte budget: over the quarter kept.
        let body = Bytes::from(vec![b'y'; 300]);
        let (url, asked) = serve(cache(1000), Duration::from_millis(500), body.clone()).await;
        let answers = ask_at_once(&url, 16).await;
        assert!(answers.iter().all(|(s, b)| *s == 200 && *b == body));
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one query for all 16");
        ask_at_once(&url, 1).await;
        assert_eq!(asked.load(Ordering::SeqCst), 2, "not kept: asked again");
    }

    #[tokio::test]
    async fn a_client_that_gives_up_does_not_cancel_the_others_answer() {
        let body = Bytes::from_static(b"[]");
        let (url, asked) = serve(cache(1000), Duration::from_millis(800), body.clone()).await;
        // The first client leaves while its query runs.
        let first = tokio::time::timeout(Duration::from_millis(200), reqwest::get(&url)).await;
        assert!(first.is_err(), "gave up before the answer");
        let answers = ask_at_once(&url, 4).await;
        assert!(answers.iter().all(|(s, b)| *s == 200 && *b == body));
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "the first query served them"
        );
    }

    #[tokio::test]
    async fn an_answer_that_never_comes_is_a_503_for_everyone_waiting() {
        let cache = ResponseCache::new(
            Arc::new(ConsumerStatus::default()),
            1000,
            Duration::from_millis(300),
            ApiMetrics::default(),
        );
        let (url, asked) = serve(cache, Duration::from_secs(3600), Bytes::new()).await;
        let answers = tokio::time::timeout(Duration::from_secs(5), ask_at_once(&url, 4))
            .await
            .expect("answered within the limit");
        assert!(answers.iter().all(|(s, _)| *s == 503), "{answers:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
