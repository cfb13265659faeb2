//! Builds the dashboard application: binds the listener first (so tests can ask
//! for port 0 and learn the real one), then serves until told to stop.

use std::future::Future;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::routes;
use crate::settings::Settings;

/// The dashboard, bound to its port and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
}

impl Application {
    /// Binds `0.0.0.0:PORT` and builds the routes.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", settings.http.port))
            .await
            .with_context(|| format!("cannot listen on port {}", settings.http.port))?;
        let port = listener.local_addr()?.port();
        let router = routes::router(&settings);
        Ok(Self {
            listener,
            router,
            port,
        })
    }

    /// The port actually bound (useful when `PORT` was 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the dashboard's HTTP server failed")
    }
}
