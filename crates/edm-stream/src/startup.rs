//! Building and running edm-stream: the consumer task, Socket.io and the
//! health routes on one port; on shutdown, clients are disconnected cleanly
//! and the consumer stops.

use std::future::Future;
use std::sync::Arc;

use axum::serve::ListenerExt;
use edm_config::http::AllowedOrigins;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::consumer::{ConsumerHealth, StreamReader};
use crate::http::{routes, HttpState};
use crate::hub::Hub;
use crate::settings::Settings;
use crate::{metrics, sockets};

/// edm-stream bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    settings: Settings,
}

impl Application {
    /// Binds `0.0.0.0:PORT` (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", settings.http.port)).await?;
        Ok(Self { listener, settings })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let hub = Arc::new(Hub::new(
            self.settings.recent_events,
            self.settings.client_buffer,
        ));
        let health = Arc::new(ConsumerHealth::default());
        let reader = StreamReader::new(&self.settings, hub.clone(), health.clone())?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let consumer = tokio::spawn(reader.run(stop_rx));

        let (layer, io) = SocketIo::builder().build_layer();
        sockets::register(
            &io,
            hub.clone(),
            self.settings.recent_events,
            self.settings.topics.clone(),
        );
        let metrics =
            metrics::service_metrics(hub.clone(), health.clone(), self.settings.kafka.clone());
        let app = routes(HttpState { hub, health }, &metrics)
            .layer(layer)
            .layer(cors_layer(&self.settings.http.allowed_origins));

        tracing::info!(port = self.port(), "edm-stream listening");
        let io_for_shutdown = io.clone();
        // Every event is a small WebSocket frame: send it at once rather
        // than let Nagle's algorithm hold it for the client's delayed ACK
        // (up to 40 ms on Linux).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY not set: {e}");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                // Long-lived connections would keep the server up: close them.
                if let Err(e) = io_for_shutdown.disconnect().await {
                    tracing::warn!("disconnecting clients: {e}");
                }
            })
            .await;
        let _ = stop_tx.send(true);
        let _ = consumer.await;
        tracing::info!("edm-stream stopped");
        served.map_err(Into::into)
    }
}

fn cors_layer(origins: &AllowedOrigins) -> CorsLayer {
    let allow_origin = match origins {
        AllowedOrigins::Any => AllowOrigin::any(),
        AllowedOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| o.parse().ok())),
    };
    // Socket.io's long-polling transport uses GET and POST across origins.
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::OPTIONS,
        ])
        .allow_headers([axum::http::header::CONTENT_TYPE])
}
