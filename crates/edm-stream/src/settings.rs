//! The stream service's configuration.

use edm_config::env::number;
use edm_config::{ConfigError, ConsumerSettings, Env, HttpSettings};
use edm_runtime::ServiceSettings;

/// Everything edm-stream needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster, the topics to stream (`KAFKA_TOPIC`, default both)
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
    /// Events queued per client before the oldest are dropped
    /// (`EDM_STREAM_CLIENT_BUFFER`, default 512).
    pub client_buffer: usize,
}

impl ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }

    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            consumer: ConsumerSettings::for_service(env, crate::NAME)?,
            recent_events: number(env, "EDM_STREAM_RECENT_EVENTS", 50, 0, 1000)? as usize,
            client_buffer: number(env, "EDM_STREAM_CLIENT_BUFFER", 512, 1, 100_000)? as usize,
            http: HttpSettings::from_env(env, crate::NAME)?,
        })
    }
}
