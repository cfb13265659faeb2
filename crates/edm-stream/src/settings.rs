//! The stream service's configuration.

use std::time::Duration;

use edm_config::env::number;
use edm_config::{ConfigError, ConsumerSettings, Env, HttpSettings, Topic};
use edm_runtime::ServiceSettings;

use crate::hub::{RingBounds, WakePacing};

/// Everything edm-stream needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster, the topics to stream (`KAFKA_TOPIC`, default all it
    /// handles, [`Topic::STREAMED`]: clicks, page loads, edm-trending's
    /// results, counts and sample)
    /// and the consumer group (`KAFKA_CONSUMER_GROUP`, default
    /// `edm-consumer-group-1`). The group identifies the service's clients;
    /// offsets are never committed, since every instance reads every
    /// partition.
    pub consumer: ConsumerSettings,
    /// Port and allowed browser origins (the dashboard's).
    pub http: HttpSettings,
    /// Recent events a new client receives first (`EDM_STREAM_RECENT_EVENTS`,
    /// default 50, at most 1000).
    pub recent_events: usize,
    /// The ring every client reads from: the last `EDM_STREAM_RESUME_EVENTS`
    /// events (default 10,000, at least 100 and `recent_events`) of all
    /// partitions together, within `EDM_STREAM_RESUME_BYTES` of encoded
    /// event text (default 16 MiB, at least 1 MiB). It bounds how far back
    /// a reconnecting client can resume and how far a slow client may fall
    /// behind before it loses events. An instance reads this many events of
    /// each partition back at start.
    pub ring: RingBounds,
    /// Socket.io packets waiting in one socket's own send buffer
    /// (`EDM_STREAM_SOCKET_BUFFER_PACKETS`, default 128). With
    /// `max_record_bytes` it bounds the bytes one client holds: about
    /// packets × twice the record cap (a record's text is escaped once
    /// more inside its packet), 2 MiB with the defaults.
    pub socket_buffer_packets: usize,
    /// Largest record streamed as it was in Kafka
    /// (`EDM_STREAM_MAX_RECORD_BYTES`, default 8 KiB, 1 KiB to 256 KiB). A
    /// longer one (the relay keeps fields it does not know, up to its body
    /// limit) is streamed re-encoded from the fields its topic defines when
    /// that fits, and otherwise skipped; both are counted.
    pub max_record_bytes: usize,
    /// Bytes the sockets of clients that stopped reading may hold in all
    /// (`EDM_STREAM_STALLED_CLIENT_BYTES`, default 64 MiB, at least 1 MiB):
    /// a client whose socket buffer is full is disconnected when what it
    /// holds would take the instance past this (it may reconnect and
    /// resume).
    pub stalled_client_bytes: usize,
    /// How often clients may be woken ([`WakePacing`]): the interval grows
    /// by `EDM_STREAM_WAKE_INTERVAL_PER_CLIENT_US` (default 20 µs, up to
    /// 10,000) for each connected client, up to `EDM_STREAM_WAKE_INTERVAL_MS`
    /// (default 20 ms, up to 1,000; 0 turns pacing off). Fewer than 50
    /// clients are woken at every event; 500 at most every 10 ms, each
    /// wake-up and socket write then carrying every event since the last.
    pub wake_pacing: WakePacing,
    /// Clients connected at once (`EDM_STREAM_MAX_CLIENTS`, default
    /// 10,000); more are refused with the Socket.io connect error
    /// `too_many_clients`.
    pub max_clients: usize,
    /// Clients connected at once from one address
    /// (`EDM_STREAM_MAX_CLIENTS_PER_ADDRESS`, default 256, 0 turns the cap
    /// off); more are refused with `too_many_clients_from_address`. Counted
    /// per Socket.io client, so long-polling sessions sharing keep-alive
    /// connections count one by one, and behind trusted proxies
    /// (`EDM_TRUSTED_PROXY_HOPS`) by the forwarded address.
    pub max_clients_per_address: usize,
    /// The store's rate above which raw events stop
    /// (`EDM_STREAM_RAW_EVENTS_PER_SECOND`, default 1,000, the most a
    /// dashboard is sized to draw in docs/scaling.md; 0 never stops them):
    /// see [`crate::mode`].
    pub raw_events_per_second: u64,
    /// Largest WebSocket message, and long-polling request body, a client
    /// may send (`EDM_STREAM_MAX_INBOUND_BYTES`, default 4 KiB): clients
    /// only send pings and their connect packet. It also bounds the
    /// batches long-polling clients receive (one record larger than it
    /// goes alone).
    pub max_inbound_bytes: usize,
    /// How long an Engine.IO session may stay without joining the
    /// namespace (`EDM_STREAM_CONNECT_TIMEOUT_SECS`, default 10 s, 1 to
    /// 45): a client joins right after its handshake, and a session whose
    /// join was refused (a cap) is closed after this rather than
    /// socketioxide's 45 s.
    pub connect_timeout: Duration,
}

impl ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }

    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let recent_events = number(env, "EDM_STREAM_RECENT_EVENTS", 50, 0, 1000)? as usize;
        Ok(Self {
            consumer: ConsumerSettings::for_service(env, crate::NAME, &Topic::STREAMED)?,
            recent_events,
            ring: RingBounds {
                events: (number(env, "EDM_STREAM_RESUME_EVENTS", 10_000, 100, 1_000_000)? as usize)
                    .max(recent_events),
                bytes: number(env, "EDM_STREAM_RESUME_BYTES", 16 << 20, 1 << 20, 1 << 32)? as usize,
            },
            socket_buffer_packets: number(env, "EDM_STREAM_SOCKET_BUFFER_PACKETS", 128, 1, 10_000)?
                as usize,
            wake_pacing: WakePacing {
                per_client: Duration::from_micros(number(
                    env,
                    "EDM_STREAM_WAKE_INTERVAL_PER_CLIENT_US",
                    20,
                    0,
                    10_000,
                )?),
                max: Duration::from_millis(number(
                    env,
                    "EDM_STREAM_WAKE_INTERVAL_MS",
                    20,
                    0,
                    1000,
                )?),
            },
            max_record_bytes: number(
                env,
                "EDM_STREAM_MAX_RECORD_BYTES",
                8 << 10,
                1 << 10,
                256 << 10,
            )? as usize,
            stalled_client_bytes: number(
                env,
                "EDM_STREAM_STALLED_CLIENT_BYTES",
                64 << 20,
                1 << 20,
                1 << 40,
            )? as usize,
            max_clients: number(env, "EDM_STREAM_MAX_CLIENTS", 10_000, 1, 1_000_000)? as usize,
            max_clients_per_address: number(
                env,
                "EDM_STREAM_MAX_CLIENTS_PER_ADDRESS",
                256,
                0,
                1_000_000,
            )? as usize,
            raw_events_per_second: number(
                env,
                "EDM_STREAM_RAW_EVENTS_PER_SECOND",
                1_000,
                0,
                100_000_000,
            )?,
            max_inbound_bytes: number(env, "EDM_STREAM_MAX_INBOUND_BYTES", 4096, 256, 1 << 20)?
                as usize,
            connect_timeout: Duration::from_secs(number(
                env,
                "EDM_STREAM_CONNECT_TIMEOUT_SECS",
                10,
                1,
                45,
            )?),
            http: HttpSettings::from_env(env, crate::NAME)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;

    fn env() -> MapEnv {
        MapEnv::default().with("KAFKA_URL", "kafka://127.0.0.1:9092")
    }

    #[test]
    fn it_streams_every_topic_by_default_and_kafka_topic_can_choose() {
        let settings = Settings::from_env(&env()).unwrap();
        assert_eq!(settings.consumer.topics, Topic::STREAMED);
        let trending_only = Settings::from_env(&env().with("KAFKA_TOPIC", "edm-trending")).unwrap();
        assert_eq!(trending_only.consumer.topics, [Topic::Trending]);
        let err = Settings::from_env(&env().with("KAFKA_TOPIC", "edm-trending,edm-ui-scroll"))
            .unwrap_err();
        assert_eq!(err.variable, "KAFKA_TOPIC");
        assert!(
            err.to_string().contains("entry 2 is not a known topic"),
            "{err}"
        );
    }
}
