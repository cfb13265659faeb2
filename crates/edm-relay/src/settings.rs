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
    /// Logical topics the relay accepts (`KAFKA_TOPIC`, default both);
    /// events for any other topic are refused.
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
}

impl ServiceSettings for Settings {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            kafka: KafkaSettings::from_env(env)?,
            http: HttpSettings::from_env(env, crate::NAME)?,
            topics: topics_from_env(env)?,
            delivery_timeout: Duration::from_millis(number(
                env,
                "EDM_RELAY_DELIVERY_TIMEOUT_MS",
                10_000,
                100,
                300_000,
            )?),
            max_body_bytes: number(env, "EDM_RELAY_MAX_BODY_BYTES", 64 * 1024, 1024, 1 << 24)?
                as usize,
            max_batch_bytes: number(env, "EDM_RELAY_MAX_BATCH_BYTES", 8 << 20, 1024, 1 << 28)?
                as usize,
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
        })
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }
}
