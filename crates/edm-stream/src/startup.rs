//! edm-stream as a service: the consumer task reading every partition,
//! Socket.io at `/socket.io/` and the runtime's routes on one port. On
//! shutdown clients are disconnected cleanly (so the server can finish) and
//! the consumer stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::Method;
use axum::Router;
use edm_runtime::{Background, CorsPolicy, ReadyReport, Routes, Service};
use serde_json::json;
use socketioxide::{ParserConfig, SocketIo};

use crate::consumer::{ConsumerHealth, StreamReader};
use crate::hub::Hub;
use crate::mode::ModeReport;
use crate::settings::Settings;
use crate::{metrics, sockets};

/// edm-stream, prepared (it needs nothing before its port is bound).
pub struct Stream {
    settings: Settings,
}

impl Service for Stream {
    const NAME: &'static str = crate::NAME;
    type Settings = Settings;

    async fn prepare(settings: Settings) -> anyhow::Result<Self> {
        Ok(Self { settings })
    }

    fn start(self, background: &Background) -> anyhow::Result<Routes> {
        let settings = self.settings;
        let hub = Arc::new(Hub::new(settings.ring).with_wake_pacing(settings.wake_pacing));
        let pacer = hub.clone();
        background.spawn("client wake-ups", |stop| async move {
            tokio::select! {
                () = pacer.pace_wakes() => {}
                () = stop.cancelled() => {}
            }
        });
        let health = Arc::new(ConsumerHealth::default());
        let (mode, mode_updates) = tokio::sync::watch::channel(ModeReport::START);
        let reader = StreamReader::new(&settings, hub.clone(), health.clone(), mode)?;
        background.spawn("kafka consumer", |stop| reader.run(stop));

        let (socket_io, io) = SocketIo::builder()
            // EDM clients never send binary attachments: a packet that
            // announces one closes its connection before any is buffered
            // (socketioxide's defaults hold up to 10 MB per socket).
            .with_parser(
                ParserConfig::common()
                    .max_incoming_binaries(0)
                    .max_incoming_binary_buf_size(0),
            )
            .max_buffer_size(settings.socket_buffer_packets)
            // Long-polling bodies obey the WebSocket message cap (Engine.IO
            // would take 100 KB); outgoing polling batches are cut at it
            // too, and one larger packet goes alone.
            .max_payload(settings.max_inbound_bytes as u64)
            .ws_max_message_size(settings.max_inbound_bytes)
            .ws_max_frame_size(settings.max_inbound_bytes)
            // A session that never joins (or whose join a cap refused)
            // holds its buffers only this long.
            .connect_timeout(settings.connect_timeout)
            .build_svc();
        sockets::register(
            &io,
            hub.clone(),
            sockets::ClientPolicy {
                default_recent: settings.recent_events,
                topics: settings.consumer.topics.clone(),
                max_clients: settings.max_clients,
                // Behind trusted proxies the runtime's per-connection cap is
                // off (every connection is a proxy's); this one counts the
                // forwarded address.
                max_clients_per_address: (settings.max_clients_per_address > 0)
                    .then_some(settings.max_clients_per_address),
                socket_buffer_packets: settings.socket_buffer_packets,
                stalled_client_bytes: settings.stalled_client_bytes,
                mode: mode_updates.clone(),
            },
        );
        // Long-lived connections would keep the server up: close them.
        background.spawn("socket.io clients", |stop| async move {
            stop.cancelled().await;
            if let Err(e) = io.disconnect().await {
                tracing::warn!("disconnecting clients: {e}");
            }
        });

        let metrics = metrics::service_metrics(
            hub.clone(),
            health.clone(),
            settings.consumer.kafka,
            mode_updates,
        );
        let router = Router::new().route_service("/socket.io/", socket_io);
        Ok(Routes::new(router, metrics)
            .ready_when(move || {
                let report = readiness(&health, &hub);
                async move { report }
            })
            // Socket.io's long-polling transport uses GET and POST, and
            // Socket.io 2 clients (the original dashboard's) send it with
            // credentials.
            .callable_from_pages(CorsPolicy {
                methods: vec![Method::GET, Method::POST],
                headers: vec![],
                credentials: true,
            }))
    }
}

/// Ready when the cluster answers and every streamed topic has partitions
/// assigned (a topic that is missing, or whose metadata is not complete
/// yet just after it was created, keeps it not ready and is looked up
/// again every 500 ms).
fn readiness(health: &ConsumerHealth, hub: &Hub) -> ReadyReport {
    let reachable = health.reachable.load(Ordering::Relaxed);
    let partitions = health.partitions.load(Ordering::Relaxed);
    let topics_missing = health.topics_missing.load(Ordering::Relaxed);
    ReadyReport::new(
        reachable && partitions > 0 && topics_missing == 0,
        json!({
            "kafka": if reachable { "reachable" } else { "unreachable" },
            "partitions": partitions,
            "topics_missing": topics_missing,
            "lag": health.lag.load(Ordering::Relaxed),
            "clients": hub.client_count(),
        }),
    )
}
