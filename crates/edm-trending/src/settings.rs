//! edm-trending's configuration, from the environment (Heroku config vars).
//! Every limit has a documented default and a range; an error names the
//! variable at fault.

use std::time::Duration;

use edm_config::env::number;
use edm_config::{ConfigError, ConsumerGroup, Env, HttpSettings, KafkaSettings};
use edm_runtime::ServiceSettings;

use crate::names::Names;
use crate::TrendingConfig;

/// `EDM_TRENDING_PROCESSING_GUARANTEE`, Kafka Streams' names and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingGuarantee {
    /// `exactly_once` (the default): each stage's output and input offsets
    /// in one Kafka transaction per cycle. Needs TransactionalId rights.
    ExactlyOnce,
    /// `at_least_once`: no transactions; a cycle's output is delivered
    /// before its input offsets are committed, so a crash writes some
    /// output again. Results are complete per window and keyed by it, so a
    /// repeat replaces the earlier record.
    AtLeastOnce,
}

impl ProcessingGuarantee {
    /// The setting's value: `exactly_once` or `at_least_once`.
    pub fn name(self) -> &'static str {
        match self {
            ProcessingGuarantee::ExactlyOnce => "exactly_once",
            ProcessingGuarantee::AtLeastOnce => "at_least_once",
        }
    }

    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        const VAR: &str = "EDM_TRENDING_PROCESSING_GUARANTEE";
        match env.get(VAR).as_deref().map(str::trim) {
            None | Some("") | Some("exactly_once") | Some("exactly_once_v2") => {
                Ok(ProcessingGuarantee::ExactlyOnce)
            }
            Some("at_least_once") => Ok(ProcessingGuarantee::AtLeastOnce),
            Some(other) => Err(ConfigError::new(
                VAR,
                format!("must be exactly_once or at_least_once, got {other:?}"),
            )),
        }
    }
}

/// Everything the service needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its HTTP side (`PORT`, limits): `/health`, `/ready` and `/metrics`.
    pub http: HttpSettings,
    /// The cluster (`KAFKA_URL`, the TLS variables, `KAFKA_PREFIX`).
    pub kafka: KafkaSettings,
    /// The application id: `KAFKA_CONSUMER_GROUP` (default: the service's
    /// group in topology.json, `edm-trending`), the consumer group and the
    /// root of every internal name, as Kafka Streams' `application.id` is.
    /// Another id needs its internal topics created under its own names.
    pub application_id: ConsumerGroup,
    /// The window store's settings: `EDM_TRENDING_GRACE_SECS` (default 60,
    /// up to 3600), `EDM_TRENDING_TOP_N` (default 10, up to 100) and
    /// `EDM_TRENDING_MAX_OPEN_ENTRIES` (default 100,000 window × product
    /// counts in memory, up to 10,000,000) and
    /// `EDM_TRENDING_MAX_PRODUCTS_PER_WINDOW` (default 1,000, 10 to 100,000,
    /// at least the top N: past it a new product takes the least-clicked
    /// one's place, see [`counts`](crate::counts)).
    pub store: TrendingConfig,
    /// `EDM_TRENDING_PROCESSING_GUARANTEE`: `exactly_once` (default) or
    /// `at_least_once`.
    pub guarantee: ProcessingGuarantee,
    /// `EDM_TRENDING_MAX_CLOCK_SKEW_SECS` (default 5, 0 to 3,600): how far
    /// ahead of this processor's clock an event time may be (later ones are
    /// capped there and counted), and how far behind its clock an input
    /// partition read to its end holds its watermark.
    pub max_clock_skew: Duration,
    /// `EDM_TRENDING_COMMIT_INTERVAL_MS` (default 100, 10 to 60,000): how
    /// long one transaction gathers records before it commits, as Kafka
    /// Streams' `commit.interval.ms` under exactly-once.
    pub commit_interval: Duration,
    /// `EDM_TRENDING_MAX_BATCH_RECORDS` (default 50,000, 1 to 1,000,000):
    /// the most input records in one transaction (a cycle ends at this or
    /// at the commit interval; at 5,000 the commits halved the rate).
    pub max_batch_records: usize,
    /// `EDM_TRENDING_SAMPLE_PER_SECOND` (default 20, 0 to 10,000): events
    /// per input partition per second in the `edm-trending-sample` topic,
    /// at most; each cycle keeps, per input partition, a uniform sample of
    /// `ceil(this × the commit interval in seconds)` (at most 1,000) of the
    /// events it read ([`Sampler`](crate::sampler::Sampler)). 0 writes no
    /// sample.
    pub sample_per_second: u32,
    /// `EDM_TRENDING_DEDUP_WINDOW_EVENTS` (default 100,000, 0 to
    /// 10,000,000; 0 counts every record): how many offsets back in its
    /// input partition a retried event id is recognised and not counted
    /// again, edm-stats' rule ([`edm_events::recent_ids`]); keep it equal
    /// to edm-stats' `EDM_STATS_DEDUP_WINDOW_EVENTS` so that the two count
    /// alike. Each input partition holds that many ids in memory and reads
    /// them back from Kafka when it is assigned.
    pub dedup_window_events: u64,
    /// `EDM_TRENDING_FETCH_PARTITION_KB` (default 4,096, 64 to 65,536):
    /// the most one fetch brings of each partition (librdkafka's
    /// `max.partition.fetch.bytes`). A backlog is read a fetch at a time:
    /// librdkafka's 1 MiB held one instance at about 150,000 clicks/s on
    /// the bench, 4 MiB at several times that, for more memory (fetched
    /// batches are held decompressed until processed).
    pub fetch_partition_bytes: usize,
    /// `EDM_TRENDING_TRANSACTION_TIMEOUT_MS` (default 10,000, 1,000 to
    /// 900,000): how long the broker keeps a dead instance's open
    /// transaction before it aborts it (readers of the repartition topic
    /// wait that long at most).
    pub transaction_timeout: Duration,
    /// `EDM_TRENDING_KAFKA_TIMEOUT_SECS` (default 30, 1 to 300): the most a
    /// transaction call, a commit or a restore waits for the brokers, and
    /// the most a fenced window task waits for a rebalance before it takes
    /// its work back.
    pub kafka_timeout: Duration,
}

impl ServiceSettings for Settings {
    fn http(&self) -> &HttpSettings {
        &self.http
    }

    /// Reads the settings; errors name the variable at fault.
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let grace_secs = number(env, "EDM_TRENDING_GRACE_SECS", 60, 0, 3600)?;
        let top_n = number(env, "EDM_TRENDING_TOP_N", 10, 1, 100)?;
        let max_open = number(env, "EDM_TRENDING_MAX_OPEN_ENTRIES", 100_000, 1, 10_000_000)?;
        let per_window = number(
            env,
            "EDM_TRENDING_MAX_PRODUCTS_PER_WINDOW",
            TrendingConfig::DEFAULT_MAX_PRODUCTS_PER_WINDOW as u64,
            10,
            100_000,
        )?;
        let guarantee = ProcessingGuarantee::from_env(env)?;
        let store =
            TrendingConfig::new(grace_secs as i64 * 1000, top_n as usize, max_open as usize)
                .map_err(|e| ConfigError::new("EDM_TRENDING_GRACE_SECS", e.to_string()))?
                .with_max_products_per_window(per_window as usize)
                .map_err(|e| {
                    ConfigError::new("EDM_TRENDING_MAX_PRODUCTS_PER_WINDOW", e.to_string())
                })?
                .with_repeated_sources_skipped(guarantee == ProcessingGuarantee::AtLeastOnce);
        Ok(Self {
            guarantee,
            max_clock_skew: Duration::from_secs(number(
                env,
                "EDM_TRENDING_MAX_CLOCK_SKEW_SECS",
                5,
                0,
                3600,
            )?),
            http: HttpSettings::from_env(env, crate::NAME)?,
            kafka: KafkaSettings::from_env(env)?,
            application_id: ConsumerGroup::from_env(
                env,
                edm_config::topology::topology()
                    .service(crate::NAME)
                    .consumer_group
                    .as_deref()
                    .unwrap_or(crate::NAME),
            )?,
            store,
            commit_interval: Duration::from_millis(number(
                env,
                "EDM_TRENDING_COMMIT_INTERVAL_MS",
                100,
                10,
                60_000,
            )?),
            max_batch_records: number(env, "EDM_TRENDING_MAX_BATCH_RECORDS", 50_000, 1, 1_000_000)?
                as usize,
            sample_per_second: number(env, "EDM_TRENDING_SAMPLE_PER_SECOND", 20, 0, 10_000)? as u32,
            dedup_window_events: number(
                env,
                "EDM_TRENDING_DEDUP_WINDOW_EVENTS",
                100_000,
                0,
                10_000_000,
            )?,
            fetch_partition_bytes: number(
                env,
                "EDM_TRENDING_FETCH_PARTITION_KB",
                4_096,
                64,
                65_536,
            )? as usize
                * 1024,
            transaction_timeout: Duration::from_millis(number(
                env,
                "EDM_TRENDING_TRANSACTION_TIMEOUT_MS",
                10_000,
                1_000,
                900_000,
            )?),
            kafka_timeout: Duration::from_secs(number(
                env,
                "EDM_TRENDING_KAFKA_TIMEOUT_SECS",
                30,
                1,
                300,
            )?),
        })
    }
}

impl Settings {
    /// The prefixed names on the wire.
    pub fn names(&self) -> Names {
        Names::new(&self.kafka, &self.application_id)
    }

    /// The sample's `k`, events kept per input partition per cycle (`None`:
    /// no sample), from `EDM_TRENDING_SAMPLE_PER_SECOND` and the commit
    /// interval.
    pub fn sample_per_cycle(&self) -> Option<usize> {
        crate::sampler::Sampler::per_cycle(self.sample_per_second, self.commit_interval)
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
    fn the_sample_keeps_its_rate_over_a_cycle_and_can_be_turned_off() {
        let settings = Settings::from_env(&env()).unwrap();
        assert_eq!(settings.sample_per_second, 20);
        assert_eq!(settings.sample_per_cycle(), Some(2), "20/s over 100 ms");
        let env = env()
            .with("EDM_TRENDING_SAMPLE_PER_SECOND", "50")
            .with("EDM_TRENDING_COMMIT_INTERVAL_MS", "250");
        assert_eq!(
            Settings::from_env(&env).unwrap().sample_per_cycle(),
            Some(13)
        );
        let off = env.clone().with("EDM_TRENDING_SAMPLE_PER_SECOND", "0");
        assert_eq!(Settings::from_env(&off).unwrap().sample_per_cycle(), None);
        for bad in ["10001", "-1", "many"] {
            let err = Settings::from_env(&env.clone().with("EDM_TRENDING_SAMPLE_PER_SECOND", bad))
                .unwrap_err();
            assert_eq!(err.variable, "EDM_TRENDING_SAMPLE_PER_SECOND", "{bad}");
        }
    }

    #[test]
    fn the_dedup_window_defaults_to_edm_stats_and_refuses_what_it_cannot_hold() {
        assert_eq!(
            Settings::from_env(&env()).unwrap().dedup_window_events,
            100_000
        );
        let off = env().with("EDM_TRENDING_DEDUP_WINDOW_EVENTS", "0");
        assert_eq!(Settings::from_env(&off).unwrap().dedup_window_events, 0);
        for bad in ["10000001", "-1", "all"] {
            let err = Settings::from_env(&env().with("EDM_TRENDING_DEDUP_WINDOW_EVENTS", bad))
                .unwrap_err();
            assert_eq!(err.variable, "EDM_TRENDING_DEDUP_WINDOW_EVENTS", "{bad}");
        }
    }
}
