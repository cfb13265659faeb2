//! The logical topics and consumer groups of EDM. Logical names carry no
//! `KAFKA_PREFIX`; [`crate::KafkaSettings`] adds it, in one place, when a
//! name goes on the wire.

use std::fmt;
use std::str::FromStr;

use crate::env::Env;
use crate::error::ConfigError;

/// A logical topic that EDM events are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Button clicks in the store: `edm-ui-click`.
    Click,
    /// Page loads in the store: `edm-ui-pageload`.
    PageLoad,
}

impl Topic {
    /// Every logical topic, in a stable order.
    pub const ALL: [Topic; 2] = [Topic::Click, Topic::PageLoad];

    /// The logical (unprefixed) name, as it appears in an event's `topic` field.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::Click => "edm-ui-click",
            Topic::PageLoad => "edm-ui-pageload",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of EDM's logical topics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown topic (expected edm-ui-click or edm-ui-pageload)")]
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

/// The topics a consumer subscribes to, from `KAFKA_TOPIC`
/// (comma-separated logical names; default: all of them).
pub fn topics_from_env(env: &impl Env) -> Result<Vec<Topic>, ConfigError> {
    let Some(raw) = env.get("KAFKA_TOPIC") else {
        return Ok(Topic::ALL.to_vec());
    };
    let mut topics = Vec::new();
    for (i, entry) in raw.split(',').map(str::trim).enumerate() {
        let topic = entry.parse::<Topic>().map_err(|_| {
            ConfigError::new(
                "KAFKA_TOPIC",
                format!(
                    "entry {} is not a known topic (expected edm-ui-click or edm-ui-pageload)",
                    i + 1
                ),
            )
        })?;
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
    fn kafka_topic_defaults_to_all_and_parses_lists() {
        assert_eq!(topics_from_env(&MapEnv::default()).unwrap(), Topic::ALL);
        let env = MapEnv::default().with("KAFKA_TOPIC", "edm-ui-pageload, edm-ui-pageload");
        assert_eq!(topics_from_env(&env).unwrap(), vec![Topic::PageLoad]);
    }

    #[test]
    fn kafka_topic_rejects_unknown_entries() {
        let env = MapEnv::default().with("KAFKA_TOPIC", "edm-ui-click,secret-topic");
        let err = topics_from_env(&env).unwrap_err();
        assert_eq!(err.variable, "KAFKA_TOPIC");
        assert!(err.to_string().contains("entry 2"), "{err}");
        assert!(!err.to_string().contains("secret-topic"));
    }

    #[test]
    fn consumer_group_validates_characters() {
        let env = MapEnv::default();
        assert_eq!(
            crate::kafka::ConsumerSettings::for_service(
                &env.clone().with("KAFKA_URL", "k:9092"),
                "edm-stats"
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
