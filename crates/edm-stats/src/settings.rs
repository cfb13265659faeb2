//! The stats service's configuration.

use std::time::Duration;

use edm_config::database::DatabaseSettings;
use edm_config::env::number;
use edm_config::{ConfigError, ConsumerSettings, Env, HttpSettings, Topic};
use edm_runtime::ServiceSettings;

/// Everything edm-stats needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster, the topics to count (`KAFKA_TOPIC`, default both topics
    /// of the store's events, [`Topic::STORE_EVENTS`]; `edm-trending` is
    /// refused at start) and
    /// the consumer group (`KAFKA_CONSUMER_GROUP`, default
    /// `edm-consumer-group-2`).
    pub consumer: ConsumerSettings,
    /// Where the aggregates live.
    pub database: DatabaseSettings,
    /// Port and allowed browser origins (the dashboard's).
    pub http: HttpSettings,
    /// Most events written in one transaction (`EDM_STATS_BATCH_MAX_EVENTS`,
    /// default 5000).
    pub batch_max_events: usize,
    /// Longest an event waits in a batch (`EDM_STATS_BATCH_MAX_WAIT_MS`,
    /// default 200 ms): the API lags the topic by at most about this much.
    pub batch_max_wait: Duration,
    /// How far back in its partition a retried event id is recognised
    /// (`EDM_STATS_DEDUP_WINDOW_EVENTS`, in offsets, default 100,000; 0
    /// counts every record): each owned partition keeps the ids of that
    /// many offsets in memory (at most 135 bytes each, see
    /// `edm-events/tests/recent_ids_memory.rs`) and reads them back from
    /// Kafka when it is assigned (see `consumer::dedup`).
    pub dedup_window_events: u64,
    /// Malformed events kept for inspection (`EDM_STATS_DEAD_LETTER_MAX`,
    /// default 10000).
    pub dead_letter_max: i64,
    /// Most bytes a dead letter keeps of a record's payload and of the
    /// reason it was not counted (`EDM_STATS_DEAD_LETTER_EXCERPT_BYTES`,
    /// default 1,024, 64 to 65,536), with the payload's full size; the
    /// whole record stays in Kafka at the offset the dead letter names.
    /// Cut as each record is read, so no more is held or stored.
    pub dead_letter_excerpt_bytes: usize,
    /// Connections the API may hold (`EDM_STATS_API_DB_CONNECTIONS`,
    /// default 6). The consumer has a pool of its own, so no API load can
    /// starve it.
    pub api_db_connections: u32,
    /// Longest any database call may take (`EDM_STATS_DB_TIMEOUT_SECS`,
    /// default 10 s): Postgres cancels a statement past it, and the service
    /// gives up waiting for an answer that never comes (a database cut off
    /// the network), reports itself degraded and retries.
    pub db_timeout: Duration,
    /// Memory for cached API answers (`EDM_STATS_CACHE_BYTES`, default
    /// 64 MiB, so that answers of up to 16 MiB are kept: the original
    /// endpoints answer with every product); answers larger than a quarter
    /// of it are served (to every request waiting for them) but not kept.
    pub cache_bytes: usize,
}

impl ServiceSettings for Settings {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            consumer: ConsumerSettings::for_service(env, crate::NAME, &Topic::STORE_EVENTS)?,
            database: DatabaseSettings::from_env(env)?,
            http: HttpSettings::from_env(env, crate::NAME)?,
            batch_max_events: number(env, "EDM_STATS_BATCH_MAX_EVENTS", 5000, 1, 100_000)? as usize,
            batch_max_wait: Duration::from_millis(number(
                env,
                "EDM_STATS_BATCH_MAX_WAIT_MS",
                200,
                1,
                60_000,
            )?),
            dedup_window_events: dedup_window_events(env)?,
            dead_letter_max: number(env, "EDM_STATS_DEAD_LETTER_MAX", 10_000, 0, 10_000_000)?
                as i64,
            dead_letter_excerpt_bytes: number(
                env,
                "EDM_STATS_DEAD_LETTER_EXCERPT_BYTES",
                1024,
                64,
                65_536,
            )? as usize,
            api_db_connections: number(env, "EDM_STATS_API_DB_CONNECTIONS", 6, 1, 100)? as u32,
            db_timeout: Duration::from_secs(number(env, "EDM_STATS_DB_TIMEOUT_SECS", 10, 1, 600)?),
            cache_bytes: number(env, "EDM_STATS_CACHE_BYTES", 64 << 20, 0, 1 << 32)? as usize,
        })
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }
}

/// `EDM_STATS_DEDUP_WINDOW_EVENTS`, refusing the variables it replaced
/// (ids were kept in Postgres for a time): a deploy that still sets them
/// expects something this version no longer does.
fn dedup_window_events(env: &impl Env) -> Result<u64, ConfigError> {
    for retired in ["EDM_STATS_DEDUP_WINDOW_SECS", "EDM_STATS_PRUNE_BATCH"] {
        if env.get(retired).is_some() {
            return Err(ConfigError::new(
                retired,
                "is no longer read: retries are recognised within \
                 EDM_STATS_DEDUP_WINDOW_EVENTS offsets of their partition (default 100000, \
                 0 to count every record); unset it",
            ));
        }
    }
    number(env, "EDM_STATS_DEDUP_WINDOW_EVENTS", 100_000, 0, 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;

    fn env() -> MapEnv {
        MapEnv::default()
            .with("KAFKA_URL", "kafka://127.0.0.1:9092")
            .with(
                "DATABASE_URL",
                "postgres://edm@127.0.0.1:5432/edm?sslmode=disable",
            )
    }

    #[test]
    fn it_counts_the_store_topics_by_default_and_refuses_edm_trending() {
        let settings = Settings::from_env(&env()).unwrap();
        assert_eq!(settings.consumer.topics, Topic::STORE_EVENTS);
        assert!(!settings.consumer.topics.contains(&Topic::Trending));
        let err = Settings::from_env(&env().with("KAFKA_TOPIC", "edm-ui-click,edm-trending"))
            .unwrap_err();
        assert_eq!(err.variable, "KAFKA_TOPIC");
        assert!(err.to_string().contains("entry 2 is edm-trending"), "{err}");
    }

    #[test]
    fn the_dedup_window_is_counted_in_offsets_and_the_retired_variables_are_refused() {
        assert_eq!(
            Settings::from_env(&env()).unwrap().dedup_window_events,
            100_000
        );
        let off = env().with("EDM_STATS_DEDUP_WINDOW_EVENTS", "0");
        assert_eq!(Settings::from_env(&off).unwrap().dedup_window_events, 0);
        for retired in ["EDM_STATS_DEDUP_WINDOW_SECS", "EDM_STATS_PRUNE_BATCH"] {
            let err = Settings::from_env(&env().with(retired, "0")).unwrap_err();
            assert_eq!(err.variable, retired);
            assert!(
                err.to_string().contains("EDM_STATS_DEDUP_WINDOW_EVENTS"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_dead_letter_keeps_a_bounded_excerpt_of_1024_bytes_by_default() {
        assert_eq!(
            Settings::from_env(&env())
                .unwrap()
                .dead_letter_excerpt_bytes,
            1024
        );
        let set = env().with("EDM_STATS_DEAD_LETTER_EXCERPT_BYTES", "65536");
        assert_eq!(
            Settings::from_env(&set).unwrap().dead_letter_excerpt_bytes,
            65_536
        );
        for outside in ["63", "65537", "1MB"] {
            let err =
                Settings::from_env(&env().with("EDM_STATS_DEAD_LETTER_EXCERPT_BYTES", outside))
                    .unwrap_err();
            assert_eq!(err.variable, "EDM_STATS_DEAD_LETTER_EXCERPT_BYTES");
            assert!(err.to_string().contains("from 64 to 65536"), "{err}");
        }
    }
}
