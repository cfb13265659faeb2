//! The HTTP server of a web crate: binds `0.0.0.0:PORT` first (port 0 picks
//! a free one), then serves its router until told to stop, finishing the
//! requests in flight.

use std::future::Future;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

/// A router bound to its port and ready to serve.
pub struct WebServer {
    listener: TcpListener,
    router: Router,
    port: u16,
}

impl WebServer {
    /// Binds `0.0.0.0:port` for `router`.
    pub async fn bind(port: u16, router: Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", port))
            .await
            .with_context(|| format!("cannot listen on port {port}"))?;
        let port = listener.local_addr()?.port();
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
            .context("the HTTP server failed")
    }
}
