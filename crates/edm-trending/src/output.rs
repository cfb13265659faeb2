//! What edm-trending emits: a closed window's [`WindowResult`], its record
//! for the `edm-trending` topic and the record's key. The record's wire
//! format ([`TrendingRecord`], its window and products) and its JSON Schema
//! belong to `edm-events` ([`edm_events::trending`]), where every reader
//! of the topic parses it; this module builds it.
//!
//! ```json
//! {"topic":"edm-trending","event_id":"trending-1m-1700000040000",
//!  "window":{"name":"1m","size_seconds":60,"advance_seconds":60,"start":1700000040000,"end":1700000100000},
//!  "clicks":7,"products":2,"late_clicks":0,
//!  "top":[{"button_id":"kit","clicks":5},{"button_id":"mug","clicks":2}]}
//! ```
//!
//! A window's record is written when it closes, and again with a higher
//! `late_clicks` when clicks for it come later (see
//! [`WindowStore`](crate::WindowStore)); `event_id` and the key are the same
//! for the same (spec, start), so the latest record of a window replaces
//! the earlier ones.

use edm_config::Topic;
use serde_json::Value;

pub use edm_events::trending::{ProductClicks, TrendingRecord, TrendingWindow, WindowName};

use crate::window::{Window, WindowSpec};

/// The record's type under the name this crate gave it before it moved to
/// `edm-events`.
pub type TrendingOutput = TrendingRecord;
/// The record window's type under the name this crate gave it before it
/// moved to `edm-events`.
pub type OutputWindow = TrendingWindow;

/// The logical topic of the output records (without `KAFKA_PREFIX`).
pub const OUTPUT_TOPIC: &str = Topic::Trending.name();

/// The final result of a closed window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowResult {
    /// The window.
    pub window: Window,
    /// Clicks counted in the window, all products together.
    pub clicks: u64,
    /// Distinct products counted in the window.
    pub products: u64,
    /// The most-clicked products, at most `top_n`: by clicks, most first,
    /// then by button id (byte order) for equal clicks.
    pub top: Vec<ProductClicks>,
    /// Clicks for the window that arrived after it closed, so far.
    pub late_clicks: u64,
}

/// A Kafka record for the `edm-trending` topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// The record key: [`WindowResult::record_key`].
    pub key: Vec<u8>,
    /// The record value: the [`TrendingRecord`] JSON.
    pub value: Vec<u8>,
}

/// The name records give `spec`'s windows.
pub const fn window_name(spec: WindowSpec) -> WindowName {
    match spec {
        WindowSpec::OneMinute => WindowName::OneMinute,
        WindowSpec::FiveMinutes => WindowName::FiveMinutes,
    }
}

impl WindowResult {
    /// The output's event id: `trending-<spec>-<start>`, e.g.
    /// `trending-1m-1700000040000`.
    pub fn event_id(&self) -> String {
        TrendingRecord::event_id_of(window_name(self.window.spec()), self.window.start())
    }

    /// The output record's key: `<spec>:<start>`, e.g. `1m:1700000040000`.
    pub fn record_key(&self) -> String {
        format!("{}:{}", self.window.spec(), self.window.start())
    }

    /// The output record's value, as a struct.
    pub fn to_output(&self) -> TrendingRecord {
        let spec = self.window.spec();
        TrendingRecord {
            topic: OUTPUT_TOPIC.to_owned(),
            event_id: self.event_id(),
            window: TrendingWindow {
                name: window_name(spec),
                size_seconds: spec.size_ms() / 1000,
                advance_seconds: spec.advance_ms() / 1000,
                start: self.window.start(),
                end: self.window.end(),
            },
            clicks: self.clicks,
            products: self.products,
            top: self.top.clone(),
            late_clicks: self.late_clicks,
        }
    }

    /// The Kafka record to write to the `edm-trending` topic. Serializing
    /// this plain data does not fail in practice; the error is passed on
    /// rather than hidden.
    pub fn to_record(&self) -> Result<OutputRecord, serde_json::Error> {
        Ok(OutputRecord {
            key: self.record_key().into_bytes(),
            value: serde_json::to_vec(&self.to_output())?,
        })
    }
}

/// The JSON Schema (draft 2020-12) of the `edm-trending` records: the
/// catalog's (`docs/events/edm-trending.schema.json`).
pub fn schema() -> Value {
    edm_events::catalog::schema(Topic::Trending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result() -> WindowResult {
        WindowResult {
            window: Window::new(WindowSpec::OneMinute, 1_700_000_040_000).unwrap(),
            clicks: 7,
            products: 2,
            top: vec![
                ProductClicks {
                    button_id: "kit".into(),
                    clicks: 5,
                    overcount: 0,
                },
                ProductClicks {
                    button_id: "mug".into(),
                    clicks: 2,
                    overcount: 0,
                },
            ],
            late_clicks: 0,
        }
    }

    #[test]
    fn the_record_is_the_documented_json_under_the_documented_key() {
        let record = result().to_record().unwrap();
        assert_eq!(record.key, b"1m:1700000040000".to_vec());
        let value: Value = serde_json::from_slice(&record.value).unwrap();
        assert_eq!(
            value,
            json!({"topic":"edm-trending","event_id":"trending-1m-1700000040000",
                   "window":{"name":"1m","size_seconds":60,"advance_seconds":60,
                             "start":1_700_000_040_000_i64,"end":1_700_000_100_000_i64},
                   "clicks":7,"products":2,"late_clicks":0,
                   "top":[{"button_id":"kit","clicks":5},{"button_id":"mug","clicks":2}]})
        );
        // Readers parse it back, validated as edm-stream does.
        let parsed = TrendingRecord::parse(&record.value).unwrap();
        assert_eq!(parsed, result().to_output());
    }

    #[test]
    fn a_five_minute_window_names_its_size_and_advance() {
        let mut five = result();
        five.window = Window::new(WindowSpec::FiveMinutes, 1_700_000_040_000).unwrap();
        let output = five.to_output();
        assert_eq!(output.event_id, "trending-5m-1700000040000");
        assert_eq!(five.record_key(), "5m:1700000040000");
        assert_eq!(output.window.size_seconds, 300);
        assert_eq!(output.window.advance_seconds, 60);
        assert_eq!(output.window.end - output.window.start, 300_000);
    }

    #[test]
    fn the_schema_pins_the_topic_and_requires_every_field() {
        let s = schema();
        assert_eq!(s["properties"]["topic"]["const"], OUTPUT_TOPIC);
        assert_eq!(
            s["required"],
            json!(["topic", "event_id", "window", "clicks", "products", "top"])
        );
        assert_eq!(
            s["properties"]["window"]["required"],
            json!(["name", "size_seconds", "advance_seconds", "start", "end"])
        );
        let names: Vec<&Value> = s["properties"]["window"]["properties"]["name"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|variant| &variant["const"])
            .collect();
        assert_eq!(names, vec!["1m", "5m"]);
        // Only closed windows with clicks are emitted.
        assert_eq!(s["properties"]["clicks"]["minimum"], 1);
        assert_eq!(s["properties"]["top"]["minItems"], 1);
        assert_eq!(
            s["properties"]["top"]["items"]["properties"]["clicks"]["minimum"],
            1
        );
        assert_eq!(
            s["properties"]["top"]["items"]["required"],
            json!(["button_id", "clicks"])
        );
    }
}
