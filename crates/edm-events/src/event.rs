//! The event wire format of the original reference store, parsed and
//! validated the same way by every service.
//!
//! ```json
//! {"topic":"edm-ui-click","uuid":"<visitor>","event_timestamp":1700000000000,
//!  "properties":{"button_id":"areopress-coffee-maker","description":"button click"}}
//! ```
//!
//! Readers are tolerant: unknown fields are ignored, so producers may add
//! fields without breaking consumers. Required fields, types and lengths
//! are checked, and every error names the field at fault.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use edm_config::Topic;

/// The Kafka message header that carries an event's id, so that consumers
/// can recognise a retried duplicate.
pub const EVENT_ID_HEADER: &str = "edm-event-id";

/// Longest accepted visitor id, event id or button id, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Why an `edm-event-id` header cannot be used: another producer than the
/// relay can write anything there, and an id that Postgres cannot store
/// (a NUL byte) would stop every batch it is in.
pub const UNUSABLE_EVENT_ID: &str =
    "the edm-event-id header is not 1-256 characters of UTF-8 without control characters";

/// The event id an [`EVENT_ID_HEADER`] value carries: 1 to
/// [`MAX_ID_CHARS`] characters of UTF-8 without control characters, or
/// [`UNUSABLE_EVENT_ID`].
fn event_id_from_header(value: Option<&[u8]>) -> Result<&str, &'static str> {
    value
        .and_then(|v| std::str::from_utf8(v).ok())
        .filter(|id| {
            (1..=MAX_ID_CHARS).contains(&id.chars().count()) && !id.chars().any(char::is_control)
        })
        .ok_or(UNUSABLE_EVENT_ID)
}

/// The id a retry of an event shares with it: the [`EVENT_ID_HEADER`]
/// header's (`header`: its value, when the record has the header), else
/// the body's `event_id`; [`UNUSABLE_EVENT_ID`] when the header is present
/// but unusable. edm-stats and edm-trending both take ids this way.
pub fn retry_id<'a>(
    header: Option<Option<&'a [u8]>>,
    body: Option<&'a str>,
) -> Result<Option<&'a str>, &'static str> {
    match header {
        None => Ok(body),
        Some(value) => event_id_from_header(value).map(Some),
    }
}
/// Longest accepted description or user agent, in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Longest accepted page URL, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Earliest accepted `event_timestamp`: 2000-01-01T00:00:00Z in epoch ms.
pub const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// Latest accepted `event_timestamp`: 2100-01-01T00:00:00Z in epoch ms.
pub const MAX_TIMESTAMP_MS: i64 = 4_102_444_800_000;
/// Text fields hold no control characters (Unicode category Cc, which is
/// what [`char::is_control`] tests), as an ECMA-262 pattern for the JSON
/// Schemas of the event catalog.
pub const NO_CONTROL_CHARACTERS_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// A click or page-load event from the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Which logical topic the event belongs to.
    #[serde(serialize_with = "serialize_topic")]
    pub topic: Topic,
    /// The visitor's session id; one visitor's events stay in order.
    pub uuid: String,
    /// When it happened in the browser, epoch milliseconds.
    pub event_timestamp: i64,
    /// What happened.
    pub properties: Properties,
    /// The client's id for this event, when it sent one in the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// The topic-specific part of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Properties {
    /// For `edm-ui-click`.
    Click(ClickProperties),
    /// For `edm-ui-pageload`.
    PageLoad(PageLoadProperties),
}

// The `schemars` attributes below state the limits that `Event::validate`
// checks, so the catalog's JSON Schemas (see `crate::catalog`) say exactly
// what is accepted; a test holds the two together.

/// A button click.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct ClickProperties {
    /// The element id of the button, e.g. `the-camper's-kit`.
    #[schemars(length(min = 1, max = MAX_ID_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub button_id: String,
    /// Free text; the store sends `button click`.
    #[serde(default)]
    #[schemars(length(max = MAX_TEXT_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub description: String,
}

/// A page load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct PageLoadProperties {
    /// The browser's user agent string.
    #[schemars(length(max = MAX_TEXT_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub user_agent: String,
    /// Free text describing the page.
    #[serde(default)]
    #[schemars(length(max = MAX_TEXT_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub description: String,
    /// The page's origin.
    #[schemars(length(max = MAX_URL_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub url: String,
}

/// Why an event (or a trending record, see [`crate::trending`]) was
/// refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The bytes are not JSON at all.
    #[error("body is not valid JSON: {0}")]
    Syntax(String),
    /// A field is missing, of the wrong type, or out of bounds.
    #[error("{field}: {problem}")]
    Field {
        /// Dotted path of the field, e.g. `properties.button_id`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl EventError {
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        EventError::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The field at fault, if the error is about one.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            EventError::Syntax(_) => None,
            EventError::Field { field, .. } => Some(field),
        }
    }
}

/// The common envelope, before the topic says how to read `properties`.
#[derive(Deserialize)]
struct Envelope<'a> {
    topic: String,
    uuid: String,
    event_timestamp: i64,
    #[serde(borrow)]
    properties: &'a RawValue,
    #[serde(default)]
    event_id: Option<String>,
}

impl Event {
    /// Parses and validates one event from JSON text. Only the store's
    /// topics ([`Topic::STORE_EVENTS`]) hold events: anything that says it
    /// is on `edm-trending` is refused, naming the topic.
    pub fn parse(json: &[u8]) -> Result<Self, EventError> {
        require_object(json, "body")?;
        let envelope: Envelope = from_json(json, "").map_err(|err| {
            // Whatever else is wrong, say first that the topic is not one
            // events may be sent to.
            match claimed_topic(json) {
                Some(topic) if !topic.is_store_event() => not_a_store_topic(topic),
                _ => err,
            }
        })?;
        let topic: Topic = envelope.topic.parse().map_err(|_| {
            EventError::field(
                "topic",
                "unknown topic (expected edm-ui-click or edm-ui-pageload)",
            )
        })?;
        let properties = envelope.properties.get().as_bytes();
        let properties = match topic {
            Topic::Click => {
                require_object(properties, "properties")?;
                Properties::Click(from_json(properties, "properties.")?)
            }
            Topic::PageLoad => {
                require_object(properties, "properties")?;
                Properties::PageLoad(from_json(properties, "properties.")?)
            }
            Topic::Trending | Topic::Counts | Topic::Sample => {
                return Err(not_a_store_topic(topic))
            }
        };
        let event = Event {
            topic,
            uuid: envelope.uuid,
            event_timestamp: envelope.event_timestamp,
            properties,
            event_id: envelope.event_id,
        };
        event.validate()?;
        Ok(event)
    }

    /// Checks lengths, characters and the timestamp range.
    fn validate(&self) -> Result<(), EventError> {
        check_text("uuid", &self.uuid, 1, MAX_ID_CHARS)?;
        if let Some(id) = &self.event_id {
            check_text("event_id", id, 1, MAX_ID_CHARS)?;
        }
        if !(MIN_TIMESTAMP_MS..MAX_TIMESTAMP_MS).contains(&self.event_timestamp) {
            return Err(EventError::field(
                "event_timestamp",
                "must be epoch milliseconds between the years 2000 and 2100",
            ));
        }
        match &self.properties {
            Properties::Click(p) => {
                check_text("properties.button_id", &p.button_id, 1, MAX_ID_CHARS)?;
                check_text("properties.description", &p.description, 0, MAX_TEXT_CHARS)?;
            }
            Properties::PageLoad(p) => {
                check_text("properties.user_agent", &p.user_agent, 0, MAX_TEXT_CHARS)?;
                check_text("properties.description", &p.description, 0, MAX_TEXT_CHARS)?;
                check_text("properties.url", &p.url, 0, MAX_URL_CHARS)?;
            }
        }
        Ok(())
    }

    /// The button id of a click event.
    pub fn button_id(&self) -> Option<&str> {
        match &self.properties {
            Properties::Click(p) => Some(&p.button_id),
            Properties::PageLoad(_) => None,
        }
    }

    /// The JSON text of this event in the wire format.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }
}

/// The topic `json` claims, when it is an object whose `topic` is one of
/// EDM's; read only to explain an event that failed to parse.
fn claimed_topic(json: &[u8]) -> Option<Topic> {
    #[derive(Deserialize)]
    struct Claimed<'a> {
        #[serde(borrow)]
        topic: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Claimed>(json)
        .ok()?
        .topic
        .parse()
        .ok()
}

/// The error for an event on a topic that holds no store events.
fn not_a_store_topic(topic: Topic) -> EventError {
    EventError::field(
        "topic",
        format!(
            "{topic} is not a topic of store events: its records are written by \
             edm-trending alone (expected edm-ui-click or edm-ui-pageload)"
        ),
    )
}

fn serialize_topic<S: serde::Serializer>(topic: &Topic, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(topic.name())
}

/// Deserializes `json`, turning serde's error into one that names the field
/// (prefixed with `prefix`).
pub(crate) fn from_json<'a, T: Deserialize<'a>>(
    json: &'a [u8],
    prefix: &str,
) -> Result<T, EventError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let result = serde_path_to_error::deserialize(&mut de);
    // Nothing but white space may follow the value.
    if result.is_ok() {
        de.end().map_err(|e| EventError::Syntax(e.to_string()))?;
    }
    result.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return EventError::Syntax(inner.to_string());
        }
        let message = inner.to_string();
        // serde reports a missing field against its parent; name the field.
        if let Some(rest) = message.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            let parent = if path == "." {
                String::new()
            } else {
                format!("{path}.")
            };
            return EventError::field(format!("{prefix}{parent}{name}"), "is required");
        }
        let problem = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let field = match (path.as_str(), prefix) {
            (".", "") => "body".to_owned(),
            (".", prefix) => prefix.trim_end_matches('.').to_owned(),
            (path, prefix) => format!("{prefix}{path}"),
        };
        EventError::field(field, problem)
    })
}

/// The checks every record parser makes before parsing: at most
/// `max_bytes` of JSON text, and an object.
pub(crate) fn require_record_body(json: &[u8], max_bytes: usize) -> Result<(), EventError> {
    if json.len() > max_bytes {
        return Err(EventError::field(
            "body",
            format!("is longer than {max_bytes} bytes"),
        ));
    }
    require_object(json, "body")
}

/// serde would also read a struct from a JSON array; events are objects.
pub(crate) fn require_object(json: &[u8], field: &str) -> Result<(), EventError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        None => Err(EventError::Syntax("empty body".into())),
        Some(_)
            if field == "body"
                && serde_json::from_slice::<serde::de::IgnoredAny>(json).is_err() =>
        {
            Err(EventError::Syntax("expected a JSON object".into()))
        }
        Some(_) => Err(EventError::field(field, "must be a JSON object")),
    }
}

/// A text field must have `min..=max` characters and no control characters.
pub(crate) fn check_text(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), EventError> {
    let chars = value.chars().count();
    if chars < min {
        return Err(EventError::field(field, "must not be empty"));
    }
    if chars > max {
        return Err(EventError::field(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(EventError::field(field, "contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn click() -> serde_json::Value {
        json!({"topic":"edm-ui-click","uuid":"a1b2","event_timestamp":1_700_000_000_000_i64,
               "properties":{"button_id":"the-camper's-kit","description":"button click"}})
    }

    fn pageload() -> serde_json::Value {
        json!({"topic":"edm-ui-pageload","uuid":"a1b2","event_timestamp":1_700_000_000_000_i64,
               "properties":{"user_agent":"Mozilla/5.0","description":"Page loaded","url":"http://localhost:3000"}})
    }

    fn parse(v: &serde_json::Value) -> Result<Event, EventError> {
        Event::parse(v.to_string().as_bytes())
    }

    fn field_of(v: &serde_json::Value) -> String {
        parse(v).unwrap_err().field_name().unwrap().to_owned()
    }

    #[test]
    fn reference_store_events_parse() {
        let c = parse(&click()).unwrap();
        assert_eq!(c.topic, Topic::Click);
        assert_eq!(c.button_id(), Some("the-camper's-kit"));
        let p = parse(&pageload()).unwrap();
        assert_eq!(p.topic, Topic::PageLoad);
        assert_eq!(p.button_id(), None);
    }

    #[test]
    fn round_trips_through_the_wire_format() {
        for v in [click(), pageload()] {
            let event = parse(&v).unwrap();
            let back: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut v = click();
        v["schema_version"] = json!(2);
        v["properties"]["color"] = json!("blue");
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn missing_fields_are_named() {
        let mut v = click();
        v.as_object_mut().unwrap().remove("uuid");
        assert_eq!(field_of(&v), "uuid");
        let mut v = click();
        v["properties"].as_object_mut().unwrap().remove("button_id");
        assert_eq!(field_of(&v), "properties.button_id");
        let mut v = pageload();
        v["properties"].as_object_mut().unwrap().remove("url");
        assert_eq!(field_of(&v), "properties.url");
    }

    #[test]
    fn wrong_types_are_named() {
        let mut v = click();
        v["event_timestamp"] = json!("yesterday");
        assert_eq!(field_of(&v), "event_timestamp");
        let mut v = click();
        v["properties"]["button_id"] = json!(42);
        assert_eq!(field_of(&v), "properties.button_id");
        let mut v = click();
        v["properties"] = json!([1, 2]);
        assert_eq!(field_of(&v), "properties");
        assert_eq!(field_of(&json!([1])), "body");
    }

    #[test]
    fn bounds_and_characters_are_checked() {
        let mut v = click();
        v["properties"]["button_id"] = json!("x".repeat(MAX_ID_CHARS + 1));
        assert_eq!(field_of(&v), "properties.button_id");
        let mut v = click();
        v["properties"]["button_id"] = json!("");
        assert_eq!(field_of(&v), "properties.button_id");
        let mut v = click();
        v["uuid"] = json!("a\u{0}b");
        assert_eq!(field_of(&v), "uuid");
        let mut v = click();
        v["event_timestamp"] = json!(-1);
        assert_eq!(field_of(&v), "event_timestamp");
        // Multi-byte characters count as one each.
        let mut v = click();
        v["properties"]["button_id"] = json!("é".repeat(MAX_ID_CHARS));
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn unknown_topic_is_refused() {
        let mut v = click();
        v["topic"] = json!("__consumer_offsets");
        assert_eq!(field_of(&v), "topic");
    }

    #[test]
    fn an_event_claiming_the_trending_topic_is_refused_naming_the_topic() {
        let mut v = click();
        v["topic"] = json!("edm-trending");
        let err = parse(&v).unwrap_err();
        assert_eq!(err.field_name(), Some("topic"));
        assert!(
            err.to_string()
                .starts_with("topic: edm-trending is not a topic of store events"),
            "{err}"
        );
        // Shaped like a trending record, it gets the same answer rather
        // than a list of missing event fields.
        let record = json!({"topic":"edm-trending","event_id":"trending-1m-0",
            "window":{"name":"1m","size_seconds":60,"advance_seconds":60,"start":0,"end":60_000},
            "clicks":1,"products":1,"top":[{"button_id":"kit","clicks":1}]});
        assert_eq!(parse(&record).unwrap_err(), err);
    }

    #[test]
    fn syntax_errors_say_so() {
        assert!(matches!(
            Event::parse(b"{not json"),
            Err(EventError::Syntax(_))
        ));
        assert!(matches!(Event::parse(b""), Err(EventError::Syntax(_))));
        let mut text = click().to_string();
        text.push_str("{}");
        assert!(Event::parse(text.as_bytes()).is_err());
    }

    #[test]
    fn script_shaped_values_are_data() {
        let mut v = click();
        v["properties"]["button_id"] = json!("<img src=x onerror=alert(1)>");
        let event = parse(&v).unwrap();
        assert_eq!(event.button_id(), Some("<img src=x onerror=alert(1)>"));
    }
}
