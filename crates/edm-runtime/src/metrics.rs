//! Prometheus metrics, the same way in every service.
//!
//! A service starts a [`MetricsBuilder`] with its prefix (`edm_relay`, …),
//! registers its own metrics in [`MetricsBuilder::service`], and gets a
//! [`ServiceMetrics`] that gives it the two things every router uses:
//!
//! - [`ServiceMetrics::layer`]: a tower layer counting requests and timing
//!   them, labelled by method, route template (`/api/v1/clicks`, never the
//!   raw path, so the label set stays small) and status:
//!   `http_requests_total` and `http_request_duration_seconds`;
//! - [`ServiceMetrics::endpoint`]: `GET /metrics` in the OpenMetrics text
//!   format, refreshing scrape-time gauges (queue depth, lag) first.
//!
//! [`PartitionLag`] is the consumer-lag gauge both consumers publish.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::MethodRouter;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::Registry;
use tower::{Layer, Service};

/// Registers metrics in a registry, one `"name": metric => "help";` a line:
///
/// ```ignore
/// register_metrics!(builder.service(), {
///     "events": counters.events.clone() => "Events read, by logical topic";
/// });
/// ```
#[macro_export]
macro_rules! register_metrics {
    ($registry:expr, { $($name:literal: $metric:expr => $help:literal;)+ }) => {{
        let registry: &mut $crate::metrics::Registry = $registry;
        $(registry.register($name, $help, $metric);)+
    }};
}

/// The content type of the OpenMetrics text format `/metrics` answers in.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Route label of requests no route matched (so unknown paths cannot grow
/// the label set).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) of the request-duration buckets: 0.5 ms to 10 s.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labels of the HTTP metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `POST`, … (`other` for unusual methods).
    pub method: Cow<'static, str>,
    /// The matched route template, or [`UNMATCHED_ROUTE`].
    pub route: Arc<str>,
    /// The response status code.
    pub status: u16,
}

type DurationFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The label of the refused-connections counter: `reason`, one of
/// `too_many_connections` or `too_many_connections_from_address`.
type RefusalLabel = [(&'static str, &'static str); 1];

/// Request counts and durations, shared by every route of a service, and
/// the connections refused before any request was read.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    refused: Family<RefusalLabel, Counter>,
}

impl HttpMetrics {
    /// Creates the metrics and registers them (unprefixed, so every service
    /// reports the same names and dashboards can compare them by `job`).
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: DurationFamily =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        let refused = Family::<RefusalLabel, Counter>::default();
        register_metrics!(registry, {
            "http_requests": requests.clone() => "HTTP requests answered, by method, route and status";
            "http_request_duration_seconds": durations.clone() => "Time from receiving a request to sending its response headers";
            "http_connections_refused": refused.clone() => "Connections refused before any request was read, by reason (too_many_connections, too_many_connections_from_address)";
        });
        Self {
            requests,
            durations,
            refused,
        }
    }

    /// Counts one refused connection.
    pub fn connection_refused(&self, reason: &'static str) {
        self.refused.get_or_create(&[("reason", reason)]).inc();
    }

    /// Records one answered request.
    pub fn observe(&self, labels: &RequestLabels, took: Duration) {
        self.requests.get_or_create(labels).inc();
        self.durations
            .get_or_create(labels)
            .observe(took.as_secs_f64());
    }

    /// Requests answered so far with these labels.
    pub fn requests(&self, labels: &RequestLabels) -> u64 {
        self.requests.get(labels).map_or(0, |c| c.get())
    }
}

fn method_label(method: &Method) -> Cow<'static, str> {
    Cow::Borrowed(match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    })
}

/// The tower layer recording [`HttpMetrics`]; add it with `Router::layer`
/// so the matched route is known.
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    metrics: HttpMetrics,
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`HttpMetricsLayer`] wraps a route in.
#[derive(Debug, Clone)]
pub struct HttpMetricsService<S> {
    inner: S,
    metrics: HttpMetrics,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.method());
        let route: Arc<str> = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| Arc::from(UNMATCHED_ROUTE), |p| Arc::from(p.as_str()));
        let started = Instant::now();
        let answered = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let result = answered.await;
            if let Ok(response) = &result {
                let labels = RequestLabels {
                    method,
                    route,
                    status: response.status().as_u16(),
                };
                metrics.observe(&labels, started.elapsed());
            }
            result
        })
    }
}

type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// Collects a service's metrics before it starts serving.
pub struct MetricsBuilder {
    registry: Registry,
    http: HttpMetrics,
    prefix: &'static str,
    hooks: Vec<ScrapeHook>,
}

impl MetricsBuilder {
    /// A registry holding the shared HTTP metrics; the service's own go
    /// under `prefix` (e.g. `edm_relay`).
    pub fn new(prefix: &'static str) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        Self {
            registry,
            http,
            prefix,
            hooks: Vec::new(),
        }
    }

    /// Where the service registers its own metrics (names get its prefix).
    pub fn service(&mut self) -> &mut Registry {
        self.registry.sub_registry_with_prefix(self.prefix)
    }

    /// Runs `refresh` before each scrape, to set gauges read from elsewhere
    /// (queue depth, consumer lag, connected clients).
    pub fn before_scrape(mut self, refresh: impl Fn() + Send + Sync + 'static) -> Self {
        self.hooks.push(Box::new(refresh));
        self
    }

    /// The finished metrics, ready to be shared by the routes.
    pub fn build(self) -> ServiceMetrics {
        ServiceMetrics {
            inner: Arc::new(Published {
                registry: self.registry,
                hooks: self.hooks,
            }),
            http: self.http,
        }
    }
}

struct Published {
    registry: Registry,
    hooks: Vec<ScrapeHook>,
}

/// A service's metrics: the HTTP layer and the `/metrics` endpoint.
#[derive(Clone)]
pub struct ServiceMetrics {
    inner: Arc<Published>,
    http: HttpMetrics,
}

impl std::fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceMetrics").finish_non_exhaustive()
    }
}

impl ServiceMetrics {
    /// The layer counting and timing every request of a router.
    pub fn layer(&self) -> HttpMetricsLayer {
        HttpMetricsLayer {
            metrics: self.http.clone(),
        }
    }

    /// The HTTP metrics, for tests and embedding.
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// Every metric in the OpenMetrics text format, gauges refreshed.
    pub fn render(&self) -> String {
        for refresh in &self.inner.hooks {
            refresh();
        }
        let mut text = String::new();
        // Writing into a String cannot fail; an error would only mean a
        // metric could not describe itself, and then the text says so.
        if let Err(e) = encode(&mut text, &self.inner.registry) {
            text = format!("# metrics could not be encoded: {e}\n# EOF\n");
        }
        text
    }

    /// `GET /metrics` for any router.
    pub fn endpoint<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let metrics = self.clone();
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
                    metrics.render(),
                )
                    .into_response()
            }
        })
    }
}

/// Labels of a per-partition gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    /// Logical topic (`edm-ui-click`), without `KAFKA_PREFIX`.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

/// Messages a consumer is behind the end of each partition it reads.
#[derive(Debug, Clone, Default)]
pub struct PartitionLag {
    family: Family<PartitionLabels, Gauge>,
}

impl PartitionLag {
    /// Creates the gauge and registers it as `consumer_lag`.
    pub fn register(registry: &mut Registry) -> Self {
        let lag = Self::default();
        registry.register(
            "consumer_lag",
            "Messages behind the end of each partition (librdkafka statistics)",
            lag.family.clone(),
        );
        lag
    }

    /// Replaces every value: partitions no longer read disappear.
    pub fn set_all(&self, lags: impl IntoIterator<Item = (String, i32, i64)>) {
        self.family.clear();
        for (topic, partition, lag) in lags {
            self.family
                .get_or_create(&PartitionLabels { topic, partition })
                .set(lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    fn app(metrics: &ServiceMetrics) -> Router {
        Router::new()
            .route("/items/{id}", get(|| async { "item" }))
            .route("/metrics", metrics.endpoint())
            .layer(metrics.layer())
    }

    async fn get_status(app: &Router, path: &str) -> u16 {
        app.clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn labels(method: &'static str, route: &str, status: u16) -> RequestLabels {
        RequestLabels {
            method: method.into(),
            route: route.into(),
            status,
        }
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status() {
        let metrics = MetricsBuilder::new("edm_test").build();
        let app = app(&metrics);
        assert_eq!(get_status(&app, "/items/1").await, 200);
        assert_eq!(get_status(&app, "/items/2").await, 200);
        assert_eq!(get_status(&app, "/nowhere/3").await, 404);
        let http = metrics.http();
        assert_eq!(http.requests(&labels("GET", "/items/{id}", 200)), 2);
        assert_eq!(http.requests(&labels("GET", UNMATCHED_ROUTE, 404)), 1);

        let text = metrics.render();
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/items/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"http_request_duration_seconds_count{method="GET",route="/items/{id}",status="200"} 2"#),
            "{text}"
        );
        assert!(!text.contains("/items/1"), "raw paths never become labels");
    }

    #[tokio::test]
    async fn the_endpoint_speaks_openmetrics_and_refreshes_gauges_first() {
        let mut builder = MetricsBuilder::new("edm_test");
        let depth = Gauge::<i64>::default();
        builder
            .service()
            .register("queue_depth", "Queued items", depth.clone());
        let lag = PartitionLag::register(builder.service());
        let source = Arc::new(std::sync::atomic::AtomicI64::new(7));
        let seen = source.clone();
        let metrics = builder
            .before_scrape(move || {
                depth.set(seen.load(std::sync::atomic::Ordering::Relaxed));
                lag.set_all([("edm-ui-click".to_owned(), 0, 3)]);
            })
            .build();
        let response = app(&metrics)
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            OPENMETRICS_CONTENT_TYPE
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("edm_test_queue_depth 7"), "{text}");
        assert!(
            text.contains(r#"edm_test_consumer_lag{topic="edm-ui-click",partition="0"} 3"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
