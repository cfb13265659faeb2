//! The event catalog: one JSON Schema (draft 2020-12) per topic, generated
//! with `schemars` from the event types in [`crate::event`], the
//! trending record in [`crate::trending`], the counts record in
//! [`crate::counts`] and the sample record in [`crate::sample`] (whose
//! `event` is either store topic's event schema). The schemas are committed under
//! `docs/events/` (a test keeps the files equal to what this module
//! generates) and edm-relay serves them at `/api/v1/schemas`.
//!
//! A store topic's schema describes the event's JSON text exactly as
//! [`Event::parse`] accepts it: the topic as a constant, the required
//! fields, the length limits and the ban on control characters. The
//! `edm-trending` schema states the same of [`TrendingRecord::parse`], which
//! also checks a few rules across fields that a schema cannot express (see
//! [`crate::trending`]). Unknown fields are allowed
//! (`additionalProperties: true`) because every reader ignores them; see
//! `docs/events.md` for the tolerant-reader rule and the versioning policy.
//!
//! [`Event::parse`]: crate::Event::parse
//! [`TrendingRecord::parse`]: crate::TrendingRecord::parse

use std::marker::PhantomData;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use crate::counts::CountsRecord;
use crate::event::{
    ClickProperties, PageLoadProperties, MAX_ID_CHARS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS,
    NO_CONTROL_CHARACTERS_PATTERN,
};
use crate::sample::SampleRecord;
use crate::trending::TrendingRecord;
use edm_config::Topic;

/// Where the committed schemas live, relative to the workspace root.
pub const SCHEMA_DIR: &str = "docs/events";

/// The `properties` type of one topic's events.
trait TopicProperties: JsonSchema {
    /// The topic whose events carry these properties.
    const TOPIC: Topic;
}

impl TopicProperties for ClickProperties {
    const TOPIC: Topic = Topic::Click;
}

impl TopicProperties for PageLoadProperties {
    const TOPIC: Topic = Topic::PageLoad;
}

/// The `topic` field of one topic's events: that topic's logical name and
/// nothing else.
struct TopicName<P>(PhantomData<P>);

impl<P: TopicProperties> JsonSchema for TopicName<P> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("TopicName_{}", P::TOPIC.name()).into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The logical topic (without KAFKA_PREFIX); it must match the topic the event is written to.",
            "type": "string",
            "const": P::TOPIC.name(),
        })
    }
}

/// An event of one topic as it travels on the wire: the envelope of
/// [`crate::Event`] with that topic's properties. Readers ignore fields
/// they do not know, so producers may add fields.
// Only its schema is used: parsing is `Event::parse`, and a test checks that
// the schema and the parser accept and refuse the same events.
#[derive(JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
#[allow(dead_code)]
struct TopicEvent<P: TopicProperties> {
    topic: TopicName<P>,
    /// The visitor's session id; the Kafka message key, so one visitor's
    /// events stay in order.
    #[schemars(length(min = 1, max = MAX_ID_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    uuid: String,
    /// When it happened in the browser: epoch milliseconds from the years
    /// 2000 to 2099, written as a plain JSON integer (no fraction, no
    /// exponent), as `Date.now()` gives it.
    #[schemars(range(min = MIN_TIMESTAMP_MS, max = MAX_TIMESTAMP_MS - 1))]
    event_timestamp: i64,
    /// What happened; the fields depend on the topic.
    properties: P,
    /// The client's id for this event, so a retried event is counted once.
    /// Optional; the `Idempotency-Key` header sent to the relay, or the
    /// Kafka header `edm-event-id`, carries the same id.
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_ID_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    event_id: Option<String>,
}

/// The schema of a store event of either topic, as [`crate::Event::parse`]
/// accepts it: the click schema or the page-load schema (each pins its
/// topic, so exactly one can match). A sample record's `event`.
pub(crate) fn store_event_schema(generator: &mut SchemaGenerator) -> Schema {
    let of_topic = |mut schema: Schema, topic: Topic| {
        schema.insert(
            "description".into(),
            format!("An {topic} event, as {} states it.", file_name(topic)).into(),
        );
        schema
    };
    let click = generator.subschema_for::<TopicEvent<ClickProperties>>();
    let page_load = generator.subschema_for::<TopicEvent<PageLoadProperties>>();
    json_schema!({
        "oneOf": [of_topic(click, Topic::Click), of_topic(page_load, Topic::PageLoad)],
    })
}

/// The JSON Schema of `topic`'s records, with its keys sorted so the text
/// is the same however `serde_json` orders maps.
pub fn schema(topic: Topic) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let (mut schema, what, written) = match topic {
        Topic::Click => (
            generator.into_root_schema_for::<TopicEvent<ClickProperties>>(),
            "A button click in the store.",
            "keyed by uuid",
        ),
        Topic::PageLoad => (
            generator.into_root_schema_for::<TopicEvent<PageLoadProperties>>(),
            "A page load in the store.",
            "keyed by uuid",
        ),
        Topic::Trending => (
            generator.into_root_schema_for::<TrendingRecord>(),
            "The top products of one closed click window, counted by edm-trending (never sent through edm-relay).",
            "keyed by \"<window name>:<window start>\"",
        ),
        Topic::Counts => (
            generator.into_root_schema_for::<CountsRecord>(),
            "The clicks of one product in one minute of event time, counted by edm-trending (never sent through edm-relay): provisional while the minute is open, final once it closed.",
            "keyed by \"<kind>:<minute>:<name>\" and compacted (the latest record per key holds: the final count)",
        ),
        Topic::Sample => (
            generator.into_root_schema_for::<SampleRecord>(),
            "One event of a bounded, uniform sample of the store's events, taken by edm-trending (never sent through edm-relay), with how many events read with it it stands for.",
            "keyed by its source \"<topic>/<partition>\"",
        ),
    };
    let kind = if topic.is_store_event() {
        "event"
    } else {
        "record"
    };
    schema.insert("title".into(), format!("{topic} {kind}").into());
    schema.insert(
        "description".into(),
        format!(
            "{what} Written to the Kafka topic KAFKA_PREFIX + \"{topic}\", {written}. \
             Readers ignore unknown fields, so producers may add fields; see docs/events.md."
        )
        .into(),
    );
    sorted(schema.to_value())
}

/// The committed file name of `topic`'s schema, e.g. `edm-ui-click.schema.json`.
pub fn file_name(topic: Topic) -> String {
    format!("{topic}.schema.json")
}

/// The text of `topic`'s schema as committed: pretty JSON and a newline.
pub fn schema_text(topic: Topic) -> String {
    let mut text = serde_json::to_string_pretty(&schema(topic)).unwrap_or_default();
    text.push('\n');
    text
}

/// `value` with every object's keys in sorted order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_schema_pins_its_topic_and_requires_the_envelope() {
        for topic in Topic::STORE_EVENTS {
            let s = schema(topic);
            assert_eq!(s["properties"]["topic"]["const"], topic.name());
            assert_eq!(
                s["required"],
                serde_json::json!(["topic", "uuid", "event_timestamp", "properties"])
            );
            assert_eq!(s["additionalProperties"], true);
            assert_eq!(s["properties"]["properties"]["additionalProperties"], true);
        }
        let click = schema(Topic::Click);
        assert_eq!(
            click["properties"]["properties"]["required"],
            serde_json::json!(["button_id"])
        );
        assert_eq!(
            click["properties"]["properties"]["properties"]["button_id"]["maxLength"],
            MAX_ID_CHARS
        );
        let load = schema(Topic::PageLoad);
        assert_eq!(
            load["properties"]["properties"]["required"],
            serde_json::json!(["user_agent", "url"])
        );
    }

    #[test]
    fn the_counts_schema_pins_its_topic_and_requires_the_count_and_its_status() {
        let s = schema(Topic::Counts);
        assert_eq!(s["title"], "edm-trending-counts record");
        assert_eq!(s["properties"]["topic"]["const"], "edm-trending-counts");
        assert_eq!(
            s["required"],
            serde_json::json!(["topic", "kind", "name", "minute", "count", "final"])
        );
        assert_eq!(s["properties"]["minute"]["multipleOf"], 60_000);
        assert_eq!(s["properties"]["count"]["minimum"], 1);
        assert_eq!(s["additionalProperties"], true);
    }

    #[test]
    fn the_sample_schema_pins_its_topic_and_holds_either_store_event() {
        let s = schema(Topic::Sample);
        assert_eq!(s["title"], "edm-trending-sample record");
        assert_eq!(s["properties"]["topic"]["const"], "edm-trending-sample");
        assert_eq!(
            s["required"],
            serde_json::json!(["topic", "event", "stands_for", "source", "offset", "second"])
        );
        assert_eq!(s["properties"]["stands_for"]["minimum"], 1);
        assert_eq!(s["properties"]["second"]["multipleOf"], 1000);
        assert_eq!(
            s["properties"]["source"]["pattern"],
            crate::sample::SOURCE_PATTERN
        );
        let events = s["properties"]["event"]["oneOf"].as_array().unwrap();
        let topics: Vec<&Value> = events
            .iter()
            .map(|e| &e["properties"]["topic"]["const"])
            .collect();
        assert_eq!(topics, ["edm-ui-click", "edm-ui-pageload"]);
        assert_eq!(s["additionalProperties"], true);
    }

    #[test]
    fn the_trending_schema_pins_its_topic_and_bounds_what_readers_show() {
        let s = schema(Topic::Trending);
        assert_eq!(s["title"], "edm-trending record");
        assert_eq!(s["properties"]["topic"]["const"], "edm-trending");
        assert_eq!(
            s["required"],
            serde_json::json!(["topic", "event_id", "window", "clicks", "products", "top"])
        );
        assert_eq!(s["additionalProperties"], true);
        let top = &s["properties"]["top"];
        assert_eq!(top["minItems"], 1);
        assert_eq!(top["maxItems"], crate::trending::MAX_TOP_PRODUCTS);
        assert_eq!(
            top["items"]["properties"]["button_id"]["maxLength"],
            MAX_ID_CHARS
        );
        assert_eq!(
            s["properties"]["window"]["properties"]["size_seconds"]["enum"],
            serde_json::json!([60, 300])
        );
    }
}
