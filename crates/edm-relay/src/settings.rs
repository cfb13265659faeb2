//! The relay's configuration: the shared Kafka and HTTP settings plus the
//! bounds that keep a request from hanging or growing without limit.

use std::time::Duration;

use edm_config::env::number;
use edm_config::topics::topics_from_env;
use edm_config::{ConfigError, Env, HttpSettings, KafkaSettings, Topic};
use edm_runtime::ServiceSettings;

/// Everything the relay needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How to reach the cluster.
    pub kafka: KafkaSettings,
    /// Port and allowed browser origins.
    pub http: HttpSettings,
    /// Logical topics the relay accepts (`KAFKA_TOPIC`, default both
    /// topics of the store's events, [`Topic::STORE_EVENTS`]; naming any
    /// other, such as `edm-trending`, stops the relay at start); events for
    /// any other topic are refused.
    pub topics: Vec<Topic>,
    /// How long an event may take to reach the brokers before the caller
    /// gets an error (`EDM_RELAY_DELIVERY_TIMEOUT_MS`, default 10 s).
    pub delivery_timeout: Duration,
    /// Largest accepted single-event body (`EDM_RELAY_MAX_BODY_BYTES`,
    /// default 64 KiB).
    pub max_body_bytes: usize,
    /// Largest accepted batch body (`EDM_RELAY_MAX_BATCH_BYTES`, default 8 MiB).
    pub max_batch_bytes: usize,
    /// Most events in one batch (`EDM_RELAY_MAX_BATCH_EVENTS`, default 5000).
    pub max_batch_events: usize,
    /// Events per second each client may send on average
    /// (`EDM_RELAY_RATE_LIMIT_PER_SECOND`, default 100; 0 turns limiting off).
    pub rate_limit_per_second: u32,
    /// Events a client may send at once (`EDM_RELAY_RATE_LIMIT_BURST`,
    /// default 5000, so a full batch passes).
    pub rate_limit_burst: u32,
    /// Produce requests handled at once (`EDM_RELAY_MAX_IN_FLIGHT`, default
    /// 1024); more are refused at once with 503 `overloaded`, so an
    /// overloaded relay answers promptly and its memory stays bounded.
    pub max_in_flight: usize,
    /// Produce requests one client may have in flight
    /// (`EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT`, default 64); more get 429
    /// `too_many_in_flight`, so a few clients with slow bodies cannot hold
    /// every place. A client is its address (IPv6: its /64 network).
    pub max_in_flight_per_client: usize,
    /// Memory for batch bodies being read and written at once
    /// (`EDM_RELAY_MAX_BATCH_BUFFER_BYTES`, default 32 MiB, at least
    /// `max_batch_bytes`). A batch reserves its declared size before it is
    /// read; when the budget is taken it is refused with 503 `overloaded`.
    pub max_batch_buffer_bytes: usize,
}

impl ServiceSettings for Settings {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let max_batch_bytes =
            number(env, "EDM_RELAY_MAX_BATCH_BYTES", 8 << 20, 1024, 1 << 28)? as usize;
        Ok(Self {
            kafka: KafkaSettings::from_env(env)?,
            http: HttpSettings::from_env(env, crate::NAME)?,
            topics: topics_from_env(env, &Topic::STORE_EVENTS)?,
            delivery_timeout: Duration::from_millis(number(
                env,
                "EDM_RELAY_DELIVERY_TIMEOUT_MS",
                10_000,
                100,
                300_000,
            )?),
            max_body_bytes: number(env, "EDM_RELAY_MAX_BODY_BYTES", 64 * 1024, 1024, 1 << 24)?
                as usize,
            max_batch_bytes,
            max_batch_events: number(env, "EDM_RELAY_MAX_BATCH_EVENTS", 5000, 1, 100_000)? as usize,
            rate_limit_per_second: number(
                env,
                "EDM_RELAY_RATE_LIMIT_PER_SECOND",
                100,
                0,
                10_000_000,
            )? as u32,
            rate_limit_burst: number(env, "EDM_RELAY_RATE_LIMIT_BURST", 5000, 1, 10_000_000)?
                as u32,
            max_in_flight: number(env, "EDM_RELAY_MAX_IN_FLIGHT", 1024, 1, 1_000_000)? as usize,
            max_in_flight_per_client: number(
                env,
                "EDM_RELAY_MAX_IN_FLIGHT_PER_CLIENT",
                64,
                1,
                1_000_000,
            )? as usize,
            max_batch_buffer_bytes: number(
                env,
                "EDM_RELAY_MAX_BATCH_BUFFER_BYTES",
                (32 << 20).max(max_batch_bytes as u64),
                max_batch_bytes as u64,
                1 << 34,
            )? as usize,
        })
    }

    fn http(&self) -> &HttpSettings {
        &self.http
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
    fn it_accepts_the_store_topics_by_default_and_never_edm_trending() {
        let settings = Settings::from_env(&env()).unwrap();
        assert_eq!(settings.topics, Topic::STORE_EVENTS);
        let err = Settings::from_env(&env().with("KAFKA_TOPIC", "edm-trending")).unwrap_err();
        assert_eq!(err.variable, "KAFKA_TOPIC");
        assert!(
            err.to_string()
                .contains("edm-trending, which this service does not handle"),
            "{err}"
        );
    }
}
