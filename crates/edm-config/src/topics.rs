//! The logical topics and consumer groups of EDM. Logical names carry no
//! `KAFKA_PREFIX`; [`crate::KafkaSettings`] adds it, in one place, when a
//! name goes on the wire.

use std::fmt;
use std::str::FromStr;

use crate::env::Env;
use crate::error::ConfigError;

/// A logical topic of EDM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Button clicks in the store: `edm-ui-click`.
    Click,
    /// Page loads in the store: `edm-ui-pageload`.
    PageLoad,
    /// The top products of each closed click window: `edm-trending`,
    /// written by edm-trending alone (never through the relay).
    Trending,
    /// Clicks per product per minute, final and provisional:
    /// `edm-trending-counts`, compacted, written by edm-trending alone.
    Counts,
    /// A bounded, uniform sample of the store's events, each standing for
    /// the events read with it: `edm-trending-sample`, written by
    /// edm-trending alone.
    Sample,
}

impl Topic {
    /// Every logical topic, in a stable order (the order of `topics` in
    /// `topology.json`, which creates them): the event catalog's.
    pub const ALL: [Topic; 5] = [
        Topic::Click,
        Topic::PageLoad,
        Topic::Trending,
        Topic::Counts,
        Topic::Sample,
    ];

    /// What edm-stream streams unless `KAFKA_TOPIC` says otherwise: the
    /// store's events, edm-trending's window results and per-minute
    /// counts, and its sample (read instead of the store's events above
    /// `EDM_STREAM_RAW_EVENTS_PER_SECOND`).
    pub const STREAMED: [Topic; 5] = [
        Topic::Click,
        Topic::PageLoad,
        Topic::Trending,
        Topic::Counts,
        Topic::Sample,
    ];

    /// The topics of the store's events (`edm_events::Event`): what
    /// edm-relay accepts from browsers and writes, and what edm-stats and
    /// edm-example-consumer read.
    pub const STORE_EVENTS: [Topic; 2] = [Topic::Click, Topic::PageLoad];

    /// The logical (unprefixed) name, as it appears in an event's `topic` field.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::Click => "edm-ui-click",
            Topic::PageLoad => "edm-ui-pageload",
            Topic::Trending => "edm-trending",
            Topic::Counts => "edm-trending-counts",
            Topic::Sample => "edm-trending-sample",
        }
    }

    /// Whether the store's events travel on it (see [`Topic::STORE_EVENTS`]).
    pub const fn is_store_event(self) -> bool {
        matches!(self, Topic::Click | Topic::PageLoad)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of EDM's logical topics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown topic (expected edm-ui-click, edm-ui-pageload, edm-trending, edm-trending-counts \
     or edm-trending-sample)"
)]
pub struct UnknownTopic;

impl FromStr for Topic {
    type Err = UnknownTopic;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or(UnknownTopic)
    }
}

/// `topics` as a list for messages: `edm-ui-click, edm-ui-pageload`.
pub fn topic_list(topics: &[Topic]) -> String {
    topics
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The topics a service reads or accepts, from `KAFKA_TOPIC`
/// (comma-separated logical names). `handled` are the topics the service
/// can handle: the default is all of them, and an entry that is not one of
/// them stops the service at start with an error naming `KAFKA_TOPIC` (an
/// unknown entry is not repeated, in case it holds something secret).
pub fn topics_from_env(env: &impl Env, handled: &[Topic]) -> Result<Vec<Topic>, ConfigError> {
    let Some(raw) = env.get("KAFKA_TOPIC") else {
        return Ok(handled.to_vec());
    };
    let mut topics = Vec::new();
    for (i, entry) in raw.split(',').map(str::trim).enumerate() {
        let topic = entry.parse::<Topic>().map_err(|_| {
            ConfigError::new(
                "KAFKA_TOPIC",
                format!(
                    "entry {} is not a known topic (expected {})",
                    i + 1,
                    topic_list(handled)
                ),
            )
        })?;
        if !handled.contains(&topic) {
            return Err(ConfigError::new(
                "KAFKA_TOPIC",
                format!(
                    "entry {} is {topic}, which this service does not handle (it handles {})",
                    i + 1,
                    topic_list(handled)
                ),
            ));
        }
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    Ok(topics)
}

/// A logical consumer group name (without `KAFKA_PREFIX`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerGroup(String);

impl ConsumerGroup {
    /// A group with this logical name; it must be a valid Kafka name.
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        validate_kafka_name("KAFKA_CONSUMER_GROUP", name)?;
        Ok(Self(name.to_owned()))
    }

    /// `KAFKA_CONSUMER_GROUP`, or `default` when unset.
    pub fn from_env(env: &impl Env, default: &str) -> Result<Self, ConfigError> {
        match env.get("KAFKA_CONSUMER_GROUP") {
            Some(name) => Self::new(&name),
            None => Self::new(default),
        }
    }

    /// The logical name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Checks that `name` only uses the characters Kafka allows in topic and
/// group names, so that a typo fails at start rather than at first write.
pub(crate) fn validate_kafka_name(variable: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.len() > 200 {
        return Err(ConfigError::new(variable, "is longer than 200 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        let shown = if c.is_ascii_graphic() || c == ' ' {
            format!("'{c}'")
        } else {
            format!("U+{:04X}", c as u32)
        };
        return Err(ConfigError::new(
            variable,
            format!("contains {shown}; only letters, digits, '.', '_' and '-' are allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnv;

    #[test]
    fn topic_names_round_trip() {
        for t in Topic::ALL {
            assert_eq!(t.name().parse::<Topic>(), Ok(t));
        }
        assert_eq!("edm-ui-other".parse::<Topic>(), Err(UnknownTopic));
    }

    #[test]
    fn the_store_events_are_the_topics_the_store_writes_and_trending_is_not_one() {
        assert_eq!(Topic::STORE_EVENTS, [Topic::Click, Topic::PageLoad]);
        assert!(Topic::ALL
            .iter()
            .all(|t| t.is_store_event() == Topic::STORE_EVENTS.contains(t)));
        assert!(!Topic::Trending.is_store_event());
        assert_eq!(Topic::Trending.name(), "edm-trending");
        // The sample carries store events, but it is not a topic of them.
        assert!(!Topic::Sample.is_store_event());
        assert_eq!(Topic::ALL.last(), Some(&Topic::Sample));
    }

    #[test]
    fn kafka_topic_defaults_to_what_the_service_handles_and_parses_lists() {
        assert_eq!(
            topics_from_env(&MapEnv::default(), &Topic::ALL).unwrap(),
            Topic::ALL
        );
        assert_eq!(
            topics_from_env(&MapEnv::default(), &Topic::STORE_EVENTS).unwrap(),
            Topic::STORE_EVENTS
        );
        let env = MapEnv::default().with("KAFKA_TOPIC", "edm-ui-pageload, edm-ui-pageload");
        assert_eq!(
            topics_from_env(&env, &Topic::STORE_EVENTS).unwrap(),
            vec![Topic::PageLoad]
        );
        let env = MapEnv::default().with("KAFKA_TOPIC", "edm-trending,edm-ui-click");
        assert_eq!(
            topics_from_env(&env, &Topic::ALL).unwrap(),
            vec![Topic::Trending, Topic::Click]
        );
    }

    #[test]
    fn kafka_topic_rejects_unknown_entries() {
        let env = MapEnv::default().with("KAFKA_TOPIC", "edm-ui-click,secret-topic");
        let err = topics_from_env(&env, &Topic::ALL).unwrap_err();
        assert_eq!(err.variable, "KAFKA_TOPIC");
        assert!(err.to_string().contains("entry 2"), "{err}");
        assert!(!err.to_string().contains("secret-topic"));
        let err =
            topics_from_env(&env.with("KAFKA_TOPIC", "edm-ui-click,"), &Topic::ALL).unwrap_err();
        assert!(err.to_string().contains("entry 2"), "{err}");
    }

    #[test]
    fn kafka_topic_refuses_a_topic_the_service_does_not_handle() {
        let env = MapEnv::default().with("KAFKA_TOPIC", "edm-ui-click,edm-trending");
        let err = topics_from_env(&env, &Topic::STORE_EVENTS).unwrap_err();
        assert_eq!(err.variable, "KAFKA_TOPIC");
        assert_eq!(
            err.to_string(),
            "KAFKA_TOPIC entry 2 is edm-trending, which this service does not handle \
             (it handles edm-ui-click, edm-ui-pageload)"
        );
    }

    #[test]
    fn consumer_group_validates_characters() {
        let env = MapEnv::default();
        assert_eq!(
            crate::kafka::ConsumerSettings::for_service(
                &env.clone().with("KAFKA_URL", "k:9092"),
                "edm-stats",
                &Topic::STORE_EVENTS
            )
            .unwrap()
            .group
            .name(),
            "edm-consumer-group-2"
        );
        let env = env.with("KAFKA_CONSUMER_GROUP", "my group");
        let err = ConsumerGroup::from_env(&env, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFKA_CONSUMER_GROUP contains ' '; only letters, digits, '.', '_' and '-' are allowed"
        );
    }
}
