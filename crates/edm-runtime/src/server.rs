//! The HTTP server of every service. [`Server::bind`] takes the port first
//! (port 0 picks a free one, so tests learn the real one before serving);
//! [`Server::serve`] adds `/health`, `/ready` and `/metrics` to the
//! service's [`Routes`], puts them behind the shared [`layers`](crate::layers),
//! and serves until told to stop, with the connection and time bounds of
//! [`connections`](crate::connections). Then it stops in one way for every
//! service: the [`Background`] stop signal fires, the server stops
//! accepting and finishes the requests in flight (then the background's
//! final steps run), background tasks return, and all of it must end within the shutdown deadline
//! (`EDM_SHUTDOWN_TIMEOUT_SECS`), or the service exits anyway, saying so.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use edm_config::HttpSettings;
use tokio::net::TcpListener;

use crate::background::Background;
use crate::connections::{self, ConnectionLimits};
use crate::health::{self, ReadyReport};
use crate::layers::{self, CorsPolicy};
use crate::metrics::ServiceMetrics;

type ReadyCheck =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = ReadyReport> + Send>> + Send + Sync>;

/// What a service serves: its own routes and metrics, how it tells that it
/// is ready, and whether pages on other origins may call it.
pub struct Routes {
    router: Router,
    metrics: ServiceMetrics,
    ready: ReadyCheck,
    cors: Option<CorsPolicy>,
}

impl Routes {
    /// `router` with its service's metrics; ready as soon as it serves.
    pub fn new(router: Router, metrics: ServiceMetrics) -> Self {
        Self {
            router,
            metrics,
            ready: Arc::new(|| Box::pin(async { ReadyReport::always() })),
            cors: None,
        }
    }

    /// Answers `/ready` with what `check` finds.
    pub fn ready_when<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ReadyReport> + Send + 'static,
    {
        self.ready = Arc::new(move || Box::pin(check()));
        self
    }

    /// Lets pages on the allowed origins (`EDM_ALLOWED_ORIGINS`) call these
    /// routes as `policy` says.
    pub fn callable_from_pages(mut self, policy: CorsPolicy) -> Self {
        self.cors = Some(policy);
        self
    }

    /// The complete router of `service`; `/ready` answers 503 once a task
    /// of `background` has failed.
    fn into_router(
        self,
        service: &'static str,
        settings: &HttpSettings,
        background: Background,
    ) -> Router {
        let ready = self.ready;
        let router = self
            .router
            .route("/health", get(move || async move { health::live(service) }))
            .route(
                "/ready",
                get(move || {
                    let check = ready();
                    let failure = background.failure();
                    async move {
                        let mut report = check.await;
                        if let Some(failure) = failure {
                            report.ready = false;
                            report
                                .checks
                                .insert("background_task_failed".to_owned(), failure.into());
                        }
                        report.into_response(service)
                    }
                }),
            )
            .route("/metrics", self.metrics.endpoint());
        layers::apply(router, &self.metrics, settings, self.cors.as_ref())
    }
}

/// A service's listener, bound and not yet serving.
pub struct Server {
    service: &'static str,
    listener: TcpListener,
    settings: HttpSettings,
}

impl Server {
    /// Binds `0.0.0.0:PORT` for `service` (its name, e.g. `edm-relay`).
    pub async fn bind(service: &'static str, settings: &HttpSettings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", settings.port))
            .await
            .with_context(|| format!("cannot listen on port {}", settings.port))?;
        Ok(Self {
            service,
            listener,
            settings: settings.clone(),
        })
    }

    /// The port actually bound (useful when `PORT` was 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves `routes` until `shutdown` completes, then stops the server
    /// and `background` together within the shutdown deadline.
    pub async fn serve(
        self,
        routes: Routes,
        background: Background,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let service = self.service;
        let deadline = self.settings.shutdown_timeout;
        let port = self.port();
        let per_address = self.settings.max_connections_per_address;
        let limits = ConnectionLimits {
            total: self.settings.max_connections,
            per_address: (self.settings.trusted_proxy_hops == 0 && per_address > 0)
                .then_some(per_address),
            header_read_timeout: self.settings.header_read_timeout,
            max_header_bytes: self.settings.max_header_bytes,
            write_timeout: self.settings.write_timeout,
        };
        let http_metrics = routes.metrics.http().clone();
        let app = routes.into_router(service, &self.settings, background.clone());
        let stop = background.stop_signal();
        let server = connections::serve(self.listener, app, limits, http_metrics, stop.clone());
        tokio::pin!(server);
        tracing::info!(service, port, "listening");
        let server_done = tokio::select! {
            () = &mut server => true,
            () = shutdown => false,
            () = stop.cancelled() => false,
        };
        stop.cancel();
        tracing::info!(
            service,
            "stopping: finishing requests in flight and background work (at most {deadline:?})"
        );
        let finished = tokio::time::timeout(deadline, async {
            let drained = async {
                if !server_done {
                    server.await;
                }
                background.requests_finished().await;
            };
            tokio::join!(drained, background.stop());
        })
        .await;
        match finished {
            Ok(()) => match background.failure() {
                None => {
                    tracing::info!(service, "stopped");
                    Ok(())
                }
                Some(failure) => anyhow::bail!("stopped because {failure}"),
            },
            Err(_) => anyhow::bail!(
                "did not stop within {deadline:?} (EDM_SHUTDOWN_TIMEOUT_SECS); \
                 {} background task(s) still running",
                background.running()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use edm_config::http::AllowedOrigins;

    use super::*;
    use crate::metrics::MetricsBuilder;

    fn settings(shutdown_timeout: Duration) -> HttpSettings {
        let mut settings = HttpSettings::from_env(&edm_config::MapEnv::default(), "edm-relay")
            .expect("default settings");
        settings.port = 0;
        settings.allowed_origins = AllowedOrigins::Any;
        settings.shutdown_timeout = shutdown_timeout;
        settings
    }

    /// `GET /slow` answers after 300 ms, and sets `finished` just before.
    fn slow_routes(finished: Arc<AtomicBool>) -> Routes {
        let router = Router::new().route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                finished.store(true, Ordering::SeqCst);
                "done"
            }),
        );
        Routes::new(router, MetricsBuilder::new("edm_test").build())
    }

    #[tokio::test]
    async fn stopping_finishes_requests_in_flight_before_the_final_steps() {
        let server = Server::bind("edm-test", &settings(Duration::from_secs(10)))
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}/slow", server.port());
        let background = Background::new();
        let handled = Arc::new(AtomicBool::new(false));
        let seen_by_final_step = Arc::new(AtomicBool::new(false));
        let (handled_flag, seen) = (handled.clone(), seen_by_final_step.clone());
        background.after_requests("check", async move {
            seen.store(handled_flag.load(Ordering::SeqCst), Ordering::SeqCst);
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(slow_routes(handled), background, async {
            let _ = stopped.await;
        }));
        let request = tokio::spawn(async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(());
        let (status, body) = request.await.unwrap();
        assert_eq!((status.as_u16(), body.as_str()), (200, "done"));
        serving.await.unwrap().expect("a clean stop");
        assert!(
            seen_by_final_step.load(Ordering::SeqCst),
            "the final step ran after the request in flight was handled"
        );
    }

    #[tokio::test]
    async fn a_failed_background_task_makes_it_unready_and_stops_it_with_an_error() {
        use tower::ServiceExt;
        let background = Background::new();
        background.spawn("consumer", |_stop| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!("the consumer lost its way");
        });
        let router = slow_routes(Arc::default()).into_router(
            "edm-test",
            &settings(Duration::from_secs(5)),
            background.clone(),
        );
        let ready = |router: Router| async move {
            let request = axum::http::Request::get("/ready")
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status().as_u16()
        };
        assert_eq!(ready(router.clone()).await, 200);
        let server = Server::bind("edm-test", &settings(Duration::from_secs(5)))
            .await
            .unwrap();
        let error = tokio::time::timeout(
            Duration::from_secs(10),
            server.serve(
                slow_routes(Arc::default()),
                background,
                std::future::pending(),
            ),
        )
        .await
        .expect("the failure stops the server")
        .expect_err("and is an error: the process exits with status 1");
        assert!(
            error
                .to_string()
                .contains("\"consumer\" panicked: the consumer lost its way"),
            "{error}"
        );
        assert_eq!(ready(router).await, 503);
    }

    #[tokio::test]
    async fn a_request_head_over_the_limit_is_answered_431() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = Server::bind("edm-test", &settings(Duration::from_secs(5)))
            .await
            .unwrap();
        let port = server.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving =
            tokio::spawn(
                server.serve(slow_routes(Arc::default()), Background::new(), async {
                    let _ = stopped.await;
                }),
            );
        let status_of = |header_bytes: usize| async move {
            let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let head = format!(
                "GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
                "a".repeat(header_bytes)
            );
            // The service may answer and close before the whole head is sent.
            let _ = tcp.write_all(head.as_bytes()).await;
            let mut answer = Vec::new();
            let _ = tcp.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer)
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        };
        // The default limit is 16 KiB.
        assert_eq!(status_of(12 << 10).await, "200");
        assert_eq!(status_of(100 << 10).await, "431");
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_an_answer_is_cut_at_the_write_deadline() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const BODY: usize = 64 << 20;
        let mut settings = settings(Duration::from_secs(5));
        settings.write_timeout = Duration::from_secs(1);
        let server = Server::bind("edm-test", &settings).await.unwrap();
        let port = server.port();
        let router = Router::new().route("/large", get(|| async { vec![b'x'; BODY] }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(
            Routes::new(router, MetricsBuilder::new("edm_test").build()),
            Background::new(),
            async {
                let _ = stopped.await;
            },
        ));
        let read_after = |pause: Duration| async move {
            let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            tcp.write_all(b"GET /large HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            tokio::time::sleep(pause).await;
            let mut answer = Vec::new();
            let _ = tcp.read_to_end(&mut answer).await;
            answer.len()
        };
        assert!(
            read_after(Duration::ZERO).await > BODY,
            "a client that reads gets the whole answer"
        );
        let cut = read_after(Duration::from_secs(3)).await;
        assert!(
            cut < BODY,
            "a client that read nothing for 3 s got {cut} bytes: only what the buffers held"
        );
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_stop_that_overruns_the_deadline_gives_up_and_says_so() {
        let server = Server::bind("edm-test", &settings(Duration::from_secs(1)))
            .await
            .unwrap();
        let background = Background::new();
        background.spawn("stubborn", |_stop| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let started = Instant::now();
        let error = server
            .serve(slow_routes(Arc::default()), background, async {})
            .await
            .expect_err("the task outlived the deadline");
        assert!(started.elapsed() < Duration::from_secs(5));
        let message = error.to_string();
        assert!(
            message.contains("did not stop within 1s") && message.contains("1 background task"),
            "{message}"
        );
    }
}
