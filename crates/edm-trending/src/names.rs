//! The names edm-trending uses on the wire, derived from its application id
//! the way Kafka Streams derives them, each with `KAFKA_PREFIX` in front (a
//! basic Heroku plan grants only prefixed names, and these topics must be
//! created ahead: `./edm topics`, docker compose, the Terraform topic
//! script):
//! - consumer group: the application id (`KAFKA_CONSUMER_GROUP`, by
//!   default the service's consumer group in `topology.json`,
//!   `edm-trending`; topology.json's `internal_topics` are the names for
//!   that default);
//! - `<id>-clicks-by-product-repartition`: clicks keyed by product; each
//!   partition is one window task's input, so a product's clicks are in
//!   one task, in one order;
//! - `<id>-window-counts-changelog`: the window stores' changelog,
//!   compacted, partition `i` task `i`'s;
//! - `<id>-window-partials`: each task's results for its products, one
//!   partition, read by the merge step;
//! - transactional ids: `<id>-windows-<i>` for window task `i` and
//!   `<id>-merge` for the merge step (stable ids: whoever takes a task over
//!   fences the previous owner) and `<id>-repartition-<process uuid>` for
//!   the repartition stage (fenced by the consumer group's generation).

use edm_config::{ConsumerGroup, KafkaSettings, Topic};

use crate::progress::InputTopic;

/// Every name, prefixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The consumer group (the application id).
    pub group: String,
    /// The input topic: `edm-ui-click`.
    pub input: String,
    /// The page-load input topic: `edm-ui-pageload`.
    pub page_loads: String,
    /// The internal repartition topic.
    pub repartition: String,
    /// The window stores' changelog topic.
    pub changelog: String,
    /// The window tasks' partial results, for the merge step.
    pub partials: String,
    /// The output topic: `edm-trending`.
    pub output: String,
    /// The per-minute counts topic: `edm-trending-counts`.
    pub counts: String,
    /// The sample of the store's events: `edm-trending-sample`.
    pub sample: String,
    /// The merge step's transactional id.
    pub merge_transactional_id: String,
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
            page_loads: kafka.topic_name(Topic::PageLoad),
            repartition: format!("{id}-clicks-by-product-repartition"),
            changelog: format!("{id}-window-counts-changelog"),
            partials: format!("{id}-window-partials"),
            output: format!("{}{}", kafka.prefix, crate::OUTPUT_TOPIC),
            counts: kafka.topic_name(Topic::Counts),
            sample: kafka.topic_name(Topic::Sample),
            merge_transactional_id: format!("{id}-merge"),
            repartition_transactional_id: format!(
                "{id}-repartition-{}",
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    /// The topics the processor's consumer subscribes to: the inputs
    /// (clicks, page loads), the repartition topic and the partials topic.
    pub fn consumed(&self) -> [&str; 4] {
        [
            &self.input,
            &self.page_loads,
            &self.repartition,
            &self.partials,
        ]
    }

    /// The name of input topic `topic`.
    pub fn input_topic(&self, topic: InputTopic) -> &str {
        match topic {
            InputTopic::Clicks => &self.input,
            InputTopic::PageLoads => &self.page_loads,
        }
    }

    /// Window task `task`'s transactional id.
    pub fn windows_transactional_id(&self, task: i32) -> String {
        format!("{}-windows-{task}", self.group)
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
        assert_eq!(names.page_loads, "wabash-1234.edm-ui-pageload");
        assert_eq!(
            names.repartition,
            "wabash-1234.edm-trending-clicks-by-product-repartition"
        );
        assert_eq!(
            names.changelog,
            "wabash-1234.edm-trending-window-counts-changelog"
        );
        assert_eq!(names.output, "wabash-1234.edm-trending");
        assert_eq!(names.counts, "wabash-1234.edm-trending-counts");
        assert_eq!(names.sample, "wabash-1234.edm-trending-sample");
        assert_eq!(names.partials, "wabash-1234.edm-trending-window-partials");
        assert_eq!(
            names.windows_transactional_id(3),
            "wabash-1234.edm-trending-windows-3"
        );
        assert_eq!(
            names.merge_transactional_id,
            "wabash-1234.edm-trending-merge"
        );
        assert!(names
            .repartition_transactional_id
            .starts_with("wabash-1234.edm-trending-repartition-"));
    }
}
