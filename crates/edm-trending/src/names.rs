//! The names edm-trending uses on the wire, derived from its application id
//! the way Kafka Streams derives them, each with `KAFKA_PREFIX` in front (a
//! basic Heroku plan grants only prefixed names, and these topics must be
//! created ahead: `./edm topics`, docker compose, the Terraform topic
//! script):
//! - consumer group: the application id (`KAFKA_CONSUMER_GROUP`, by
//!   default the service's consumer group in `topology.json`,
//!   `edm-trending`; topology.json's `internal_topics` are the names for
//!   that default);
//! - `<id>-clicks-by-product-repartition`: clicks keyed by product, one
//!   partition, so that one task sees every product's clicks in one order;
//! - `<id>-window-counts-changelog`: the window store's changelog, compacted;
//! - transactional ids: `<id>-windows-0` for the window task (one stable id:
//!   whoever takes the task over fences the previous owner) and
//!   `<id>-repartition-<process uuid>` for the repartition stage (fenced by
//!   the consumer group's generation).

use edm_config::{ConsumerGroup, KafkaSettings, Topic};

/// Every name, prefixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The consumer group (the application id).
    pub group: String,
    /// The input topic: `edm-ui-click`.
    pub input: String,
    /// The internal repartition topic.
    pub repartition: String,
    /// The window store's changelog topic.
    pub changelog: String,
    /// The output topic: `edm-trending`.
    pub output: String,
    /// The window task's transactional id.
    pub windows_transactional_id: String,
    /// This process's repartition-stage transactional id.
    pub repartition_transactional_id: String,
}

impl Names {
    /// The names for `application_id` (logical, unprefixed) on `kafka`.
    pub fn new(kafka: &KafkaSettings, application_id: &ConsumerGroup) -> Self {
        let id = kafka.group_name(application_id);
        Self {
            group: id.clone(),
            input: kafka.topic_name(Topic::Click),
            repartition: format!("{id}-clicks-by-product-repartition"),
            changelog: format!("{id}-window-counts-changelog"),
            output: format!("{}{}", kafka.prefix, crate::OUTPUT_TOPIC),
            windows_transactional_id: format!("{id}-windows-0"),
            repartition_transactional_id: format!(
                "{id}-repartition-{}",
                uuid::Uuid::new_v4().simple()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edm_config::MapEnv;

    #[test]
    fn every_name_carries_the_prefix_and_follows_kafka_streams() {
        let env = MapEnv::default()
            .with("KAFKA_URL", "kafka://127.0.0.1:9092")
            .with("KAFKA_PREFIX", "wabash-1234.");
        let kafka = KafkaSettings::from_env(&env).unwrap();
        let names = Names::new(&kafka, &ConsumerGroup::new("edm-trending").unwrap());
        assert_eq!(names.group, "wabash-1234.edm-trending");
        assert_eq!(names.input, "wabash-1234.edm-ui-click");
        assert_eq!(
            names.repartition,
            "wabash-1234.edm-trending-clicks-by-product-repartition"
        );
        assert_eq!(
            names.changelog,
            "wabash-1234.edm-trending-window-counts-changelog"
        );
        assert_eq!(names.output, "wabash-1234.edm-trending");
        assert_eq!(
            names.windows_transactional_id,
            "wabash-1234.edm-trending-windows-0"
        );
        assert!(names
            .repartition_transactional_id
            .starts_with("wabash-1234.edm-trending-repartition-"));
    }
}
