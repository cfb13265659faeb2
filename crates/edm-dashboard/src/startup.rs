//! Builds the dashboard application: its routes on a [`WebServer`], which binds
//! the listener first (so tests can ask for port 0 and learn the real one),
//! then serves until told to stop.

use std::future::Future;

use edm_web::WebServer;

use crate::routes;
use crate::settings::Settings;

/// The dashboard, bound to its port and ready to serve.
pub struct Application(WebServer);

impl Application {
    /// Binds `0.0.0.0:PORT` and builds the routes.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let router = routes::router(&settings);
        Ok(Self(WebServer::bind(settings.http.port, router).await?))
    }

    /// The port actually bound (useful when `PORT` was 0).
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.0.run_until_stopped(shutdown).await
    }
}
