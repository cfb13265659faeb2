//! The stream service's configuration.

use edm_config::env::number;
use edm_config::topics::topics_from_env;
use edm_config::{ConfigError, ConsumerGroup, Env, HttpSettings, KafkaSettings, Topic};

/// Local default port of the stream service.
pub const DEFAULT_PORT: u16 = 5001;

/// Everything edm-stream needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How to reach the cluster.
    pub kafka: KafkaSettings,
    /// Logical topics to stream (`KAFKA_TOPIC`, default both).
    pub topics: Vec<Topic>,
    /// Logical consumer group (`KAFKA_CONSUMER_GROUP`, default
    /// `edm-consumer-group-1`). It identifies the service's clients; offsets
    /// are never committed, since every instance reads every partition.
    pub group: ConsumerGroup,
    /// Port and allowed browser origins (the dashboard's).
    pub http: HttpSettings,
    /// Recent events a new client receives first (`EDM_STREAM_RECENT_EVENTS`,
    /// default 50, at most 1000).
    pub recent_events: usize,
    /// Events queued per client before the oldest are dropped
    /// (`EDM_STREAM_CLIENT_BUFFER`, default 512).
    pub client_buffer: usize,
}

impl Settings {
    /// Reads the settings; errors name the variable at fault.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            kafka: KafkaSettings::from_env(env)?,
            topics: topics_from_env(env)?,
            group: ConsumerGroup::from_env(env, ConsumerGroup::STREAM_DEFAULT)?,
            http: HttpSettings::from_env(env, DEFAULT_PORT)?,
            recent_events: number(env, "EDM_STREAM_RECENT_EVENTS", 50, 0, 1000)? as usize,
            client_buffer: number(env, "EDM_STREAM_CLIENT_BUFFER", 512, 1, 100_000)? as usize,
        })
    }
}
