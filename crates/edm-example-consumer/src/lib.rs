//! edm-example-consumer: the smallest complete EDM consumer, made to be
//! copied when you add a service. It joins its own consumer group, so it
//! gets every event no matter what edm-stream and edm-stats do, reads both
//! topics through edm-config (Heroku's variables, `KAFKA_PREFIX`, TLS),
//! logs one line per event, keeps a running count per button and logs a
//! summary every `EDM_EXAMPLE_SUMMARY_SECS` seconds.
//!
//! Delivery is at least once: an event's offset is stored only after the
//! event was handled, and librdkafka commits stored offsets every few
//! seconds and when the consumer stops, so after a crash a few events may be
//! seen again but none is skipped. A consumer whose effect must happen
//! exactly once keeps its offsets with its data instead, as edm-stats does.
//!
//! # Layout
//! - [`Settings`]: configuration from the environment.
//! - [`Tally`]: what it keeps: counts per topic and per button.
//! - [`run`]: the consumer loop, until the shutdown signal.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use edm_config::env::number;
use edm_config::{ConfigError, ConsumerSettings, Env, KafkaSettings, Topic};
use edm_events::event::Properties;
use edm_events::Event;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

/// The logical consumer group when `KAFKA_CONSUMER_GROUP` is unset.
pub const DEFAULT_GROUP: &str = "edm-example-consumer";

/// Everything the consumer needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster (`KAFKA_URL`, TLS variables, `KAFKA_PREFIX`), the topics
    /// to read (`KAFKA_TOPIC`, default both topics of the store's events,
    /// [`Topic::STORE_EVENTS`]: they hold `Event`s) and its own consumer group
    /// (`KAFKA_CONSUMER_GROUP`, default `edm-example-consumer`; the prefix
    /// is added on the wire).
    pub consumer: ConsumerSettings,
    /// How often the summary line is logged (`EDM_EXAMPLE_SUMMARY_SECS`,
    /// default 10).
    pub summary_every: Duration,
}

impl Settings {
    /// Reads the settings; errors name the variable at fault.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            consumer: ConsumerSettings::from_env(env, DEFAULT_GROUP, &Topic::STORE_EVENTS)?,
            summary_every: Duration::from_secs(number(
                env,
                "EDM_EXAMPLE_SUMMARY_SECS",
                10,
                1,
                86_400,
            )?),
        })
    }
}

/// Running counts of what was read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Click events.
    pub clicks: u64,
    /// Page-load events.
    pub page_loads: u64,
    /// Messages that were not valid events.
    pub skipped: u64,
    /// Clicks per button id.
    pub per_button: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts an event; for a click, returns its button's count so far.
    pub fn record(&mut self, event: &Event) -> Option<u64> {
        match event.button_id() {
            Some(button) => {
                self.clicks += 1;
                let count = self.per_button.entry(button.to_owned()).or_default();
                *count += 1;
                Some(*count)
            }
            None => {
                self.page_loads += 1;
                None
            }
        }
    }

    /// One line: totals and the three most clicked buttons.
    pub fn summary(&self) -> String {
        let mut top: Vec<(&String, &u64)> = self.per_button.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(3)
            .map(|(button, n)| format!("{button} ({n})"))
            .collect();
        format!(
            "{} clicks, {} page loads, {} skipped; most clicked: {}",
            self.clicks,
            self.page_loads,
            self.skipped,
            if top.is_empty() {
                "none yet".to_owned()
            } else {
                top.join(", ")
            }
        )
    }
}

/// Consumes until `shutdown` completes, then commits what was handled and
/// leaves the group; returns the final tally.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<Tally> {
    let consumer: StreamConsumer = settings
        .consumer
        .consumer_config("edm-example-consumer")
        .create()?;
    let topics = settings.consumer.topic_names();
    consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    tracing::info!(
        group = settings.consumer.group_name(),
        topics = topics.join(","),
        "consuming"
    );

    let mut tally = Tally::default();
    let mut summary = tokio::time::interval(settings.summary_every);
    summary.tick().await; // the first tick is immediate
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = summary.tick() => tracing::info!("summary: {}", tally.summary()),
            received = consumer.recv() => match received {
                Err(e) => tracing::warn!("Kafka: {e}"),
                Ok(message) => {
                    handle(&settings.consumer.kafka, &mut tally, &message);
                    // Handled: from now on its offset may be committed.
                    if let Err(e) = consumer.store_offset_from_message(&message) {
                        tracing::warn!("storing an offset: {e}");
                    }
                }
            },
        }
    }
    tracing::info!("stopping; final summary: {}", tally.summary());
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!("final commit: {e}"); // e.g. nothing new to commit
    }
    consumer.unsubscribe();
    Ok(tally)
}

/// Does "something visible" with one message: this is the part to replace.
/// Unknown fields are ignored (tolerant reader); a message that is not a
/// valid event is logged and skipped, never fatal.
fn handle(kafka: &KafkaSettings, tally: &mut Tally, message: &BorrowedMessage<'_>) {
    let topic = kafka.topic_from_wire(message.topic());
    match message.payload().map(Event::parse) {
        Some(Ok(event)) if Some(event.topic) == topic => match tally.record(&event) {
            Some(count) => tracing::info!(
                button = event.button_id().unwrap_or_default(),
                visitor = event.uuid,
                count,
                "click"
            ),
            None => {
                let url = match &event.properties {
                    Properties::PageLoad(p) => p.url.as_str(),
                    Properties::Click(_) => "",
                };
                tracing::info!(visitor = event.uuid, url, "page load")
            }
        },
        Some(Ok(event)) => {
            tally.skipped += 1;
            tracing::warn!(
                offset = message.offset(),
                "skipping a {} event on the {} topic",
                event.topic,
                message.topic()
            );
        }
        Some(Err(e)) => {
            tally.skipped += 1;
            tracing::warn!(
                offset = message.offset(),
                "skipping a message that is not a valid event: {e}"
            );
        }
        None => {
            tally.skipped += 1;
            tracing::warn!(offset = message.offset(), "skipping an empty message");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        Event::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn counts_clicks_per_button_and_summarises_the_top_three() {
        let mut tally = Tally::default();
        assert_eq!(
            tally.summary(),
            "0 clicks, 0 page loads, 0 skipped; most clicked: none yet"
        );
        let click = |b: &str| {
            event(&format!(
                r#"{{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{{"button_id":"{b}"}}}}"#
            ))
        };
        for b in ["a", "b", "b", "c", "c", "c", "d"] {
            tally.record(&click(b));
        }
        assert_eq!(tally.record(&click("d")), Some(2));
        let load = event(
            r#"{"topic":"edm-ui-pageload","uuid":"v","event_timestamp":1763800000000,"properties":{"user_agent":"x","url":"y"}}"#,
        );
        assert_eq!(tally.record(&load), None);
        assert_eq!(
            tally.summary(),
            "8 clicks, 1 page loads, 0 skipped; most clicked: c (3), b (2), d (2)"
        );
    }

    #[test]
    fn the_group_defaults_to_its_own_and_can_be_chosen() {
        let env = edm_config::MapEnv::default().with("KAFKA_URL", "localhost:9092");
        let settings = Settings::from_env(&env).unwrap();
        assert_eq!(settings.consumer.group.name(), DEFAULT_GROUP);
        assert_eq!(settings.consumer.topics, Topic::STORE_EVENTS.to_vec());
        let trending = env.clone().with("KAFKA_TOPIC", "edm-trending");
        assert_eq!(
            Settings::from_env(&trending).unwrap_err().variable,
            "KAFKA_TOPIC",
            "edm-trending holds no store events"
        );
        let env = env
            .with("KAFKA_CONSUMER_GROUP", "fraud-checks")
            .with("EDM_EXAMPLE_SUMMARY_SECS", "0");
        assert_eq!(
            Settings::from_env(&env).unwrap_err().to_string(),
            "EDM_EXAMPLE_SUMMARY_SECS must be a whole number from 1 to 86400"
        );
    }
}
