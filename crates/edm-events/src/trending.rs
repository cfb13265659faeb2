//! The records of the `edm-trending` topic: the top products of one closed
//! click window, written by edm-trending (never through the relay) and
//! read by edm-stream, which streams them to the dashboard. Every reader
//! parses and validates them the same way, with [`TrendingRecord::parse`].
//!
//! ```json
//! {"topic":"edm-trending","event_id":"trending-1m-1700000040000",
//!  "window":{"name":"1m","size_seconds":60,"advance_seconds":60,"start":1700000040000,"end":1700000100000},
//!  "clicks":7,"products":2,"top":[{"button_id":"kit","clicks":5},{"button_id":"mug","clicks":2}]}
//! ```
//!
//! A window's record is written when the window closes, and written again
//! (the same result, a higher `late_clicks`) when clicks for it arrive
//! after that: the latest record of a window replaces the earlier ones,
//! and a reader may also see one twice (a reader that is not
//! `read_committed`, edm-trending running at least once, a client resuming
//! a stream). `event_id` is the same for the same window, so a reader can
//! recognise the window. A record is complete when `late_clicks` is 0.
//!
//! Readers are tolerant: unknown fields are ignored. Besides what the JSON
//! Schema in the catalog states ([`crate::catalog`]), parsing checks what a
//! schema cannot: the record is at most [`MAX_RECORD_BYTES`], `event_id`
//! names the record's own window, the window's size, advance and end agree
//! with its name and start, and the top list is ordered most clicks first
//! and adds up to no more than the window's clicks and products.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{
    check_text, from_json, require_record_body, EventError, MAX_ID_CHARS,
    NO_CONTROL_CHARACTERS_PATTERN,
};
use edm_config::Topic;

/// The logical topic of the records, as their `topic` field holds it.
pub const TOPIC_NAME: &str = Topic::Trending.name();

/// Most products a record lists (edm-trending's `EDM_TRENDING_TOP_N` is at
/// most this).
pub const MAX_TOP_PRODUCTS: usize = 100;

/// Largest record accepted, in bytes of JSON text: a record of
/// [`MAX_TOP_PRODUCTS`] products with the longest button ids is about a
/// third of it, which leaves room for fields added later.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// The form of a record's `event_id`, as an ECMA-262 pattern.
pub const EVENT_ID_PATTERN: &str = "^trending-(1m|5m)-(0|-?[1-9][0-9]*)$";

/// A kind of window, as records name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum WindowName {
    /// `1m`: tumbling windows of one minute.
    #[serde(rename = "1m")]
    OneMinute,
    /// `5m`: five-minute windows starting every minute (hopping).
    #[serde(rename = "5m")]
    FiveMinutes,
}

impl WindowName {
    /// The name in records: `"1m"` or `"5m"`.
    pub const fn name(self) -> &'static str {
        match self {
            WindowName::OneMinute => "1m",
            WindowName::FiveMinutes => "5m",
        }
    }

    /// How long one window lasts, in seconds.
    pub const fn size_seconds(self) -> i64 {
        match self {
            WindowName::OneMinute => 60,
            WindowName::FiveMinutes => 300,
        }
    }

    /// How far apart consecutive windows start, in seconds.
    pub const fn advance_seconds(self) -> i64 {
        60
    }
}

impl std::fmt::Display for WindowName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A product and its clicks in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct ProductClicks {
    /// The product: the clicks' `properties.button_id`.
    #[schemars(length(max = MAX_ID_CHARS), pattern(NO_CONTROL_CHARACTERS_PATTERN))]
    pub button_id: String,
    /// Clicks on it counted in the window. When the window held more
    /// products than edm-trending tracks per window, this is an upper
    /// bound: the true count is between `clicks - overcount` and `clicks`.
    #[schemars(range(min = 1))]
    pub clicks: u64,
    /// How many of `clicks` may belong to other products (0, and left out,
    /// when the count is exact): edm-trending keeps at most
    /// `EDM_TRENDING_MAX_PRODUCTS_PER_WINDOW` products per window, and a
    /// product taking the place of the least-clicked one inherits its
    /// count as this bound. Always less than `clicks`.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub overcount: u64,
}

/// Whether a count is zero (and so left out of the record).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The window of a record: `[start, end)` in epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct TrendingWindow {
    /// The kind of window: `1m` (tumbling) or `5m` (hopping by one minute).
    pub name: WindowName,
    /// How long the window lasts, in seconds: 60 for `1m`, 300 for `5m`.
    #[schemars(extend("enum" = [60, 300]))]
    pub size_seconds: i64,
    /// How far apart consecutive windows of this kind start, in seconds.
    #[schemars(extend("const" = 60))]
    pub advance_seconds: i64,
    /// The window's first millisecond (epoch ms, inclusive).
    pub start: i64,
    /// The window's end (epoch ms, exclusive): `start + size_seconds * 1000`.
    pub end: i64,
}

/// A record of the `edm-trending` topic: the top products of one closed
/// window. Readers ignore fields they do not know, so fields may be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = true))]
pub struct TrendingRecord {
    /// The logical topic, always `edm-trending`.
    #[schemars(extend("const" = TOPIC_NAME))]
    pub topic: String,
    /// `trending-<window name>-<window start>`: the same for every emission
    /// of the same window, so a reader can recognise a duplicate.
    #[schemars(pattern(EVENT_ID_PATTERN))]
    pub event_id: String,
    /// The window counted in.
    pub window: TrendingWindow,
    /// Clicks counted in the window, all products together.
    #[schemars(range(min = 1))]
    pub clicks: u64,
    /// Distinct products counted in the window (the products held when
    /// some gave their place to others, see `top[].overcount`).
    #[schemars(range(min = 1))]
    pub products: u64,
    /// Clicks in this window that arrived after it had closed (its end plus
    /// the grace period had passed) and are therefore not in `clicks`. A
    /// later record for the same window may carry a higher figure: the
    /// latest record of a window replaces the earlier ones.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub late_clicks: u64,

    /// The most-clicked products, most clicks first, then by button id.
    #[schemars(length(min = 1, max = MAX_TOP_PRODUCTS))]
    pub top: Vec<ProductClicks>,
}

impl TrendingRecord {
    /// The `event_id` of the record of window `name` starting at `start`:
    /// `trending-1m-1700000040000`.
    pub fn event_id_of(name: WindowName, start: i64) -> String {
        format!("trending-{name}-{start}")
    }

    /// Parses and validates one record from its JSON text (a Kafka
    /// message's value). Errors name the field at fault, as
    /// [`crate::Event::parse`]'s do.
    pub fn parse(json: &[u8]) -> Result<Self, EventError> {
        require_record_body(json, MAX_RECORD_BYTES)?;
        let record: TrendingRecord = from_json(json, "")?;
        record.validate()?;
        Ok(record)
    }

    /// Whether every click of the window is in `clicks`: none came late.
    pub fn is_complete(&self) -> bool {
        self.late_clicks == 0
    }

    /// Checks what serde's types do not.
    fn validate(&self) -> Result<(), EventError> {
        if self.topic != TOPIC_NAME {
            return Err(EventError::field(
                "topic",
                format!("must be {TOPIC_NAME} in a trending record"),
            ));
        }
        let window = &self.window;
        let name = window.name;
        if window.size_seconds != name.size_seconds() {
            return Err(EventError::field(
                "window.size_seconds",
                format!("must be {} for a {name} window", name.size_seconds()),
            ));
        }
        if window.advance_seconds != name.advance_seconds() {
            return Err(EventError::field(
                "window.advance_seconds",
                format!("must be {} for a {name} window", name.advance_seconds()),
            ));
        }
        if window.start.checked_add(name.size_seconds() * 1000) != Some(window.end) {
            return Err(EventError::field(
                "window.end",
                format!("must be start + {} ms", name.size_seconds() * 1000),
            ));
        }
        if self.event_id != Self::event_id_of(name, window.start) {
            return Err(EventError::field(
                "event_id",
                "must be trending-<window.name>-<window.start>, naming the record's window",
            ));
        }
        if self.clicks == 0 {
            return Err(EventError::field("clicks", "must be at least 1"));
        }
        if self.products == 0 {
            return Err(EventError::field("products", "must be at least 1"));
        }
        self.validate_top()
    }

    /// The top list: 1 to [`MAX_TOP_PRODUCTS`] products, each named and
    /// clicked, most clicks first, within the window's totals.
    fn validate_top(&self) -> Result<(), EventError> {
        if self.top.is_empty() {
            return Err(EventError::field("top", "must list at least 1 product"));
        }
        if self.top.len() > MAX_TOP_PRODUCTS {
            return Err(EventError::field(
                "top",
                format!("lists more than {MAX_TOP_PRODUCTS} products"),
            ));
        }
        if self.top.len() as u64 > self.products {
            return Err(EventError::field(
                "top",
                "lists more products than the window counted (products)",
            ));
        }
        let mut previous = u64::MAX;
        let mut listed: u64 = 0;
        for (i, product) in self.top.iter().enumerate() {
            check_text(
                &format!("top[{i}].button_id"),
                &product.button_id,
                0,
                MAX_ID_CHARS,
            )?;
            if product.clicks == 0 {
                return Err(EventError::field(
                    format!("top[{i}].clicks"),
                    "must be at least 1",
                ));
            }
            if product.overcount >= product.clicks {
                return Err(EventError::field(
                    format!("top[{i}].overcount"),
                    "must be less than clicks",
                ));
            }
            if product.clicks > previous {
                return Err(EventError::field(
                    format!("top[{i}].clicks"),
                    "is more than the product before it: top is ordered most clicks first",
                ));
            }
            previous = product.clicks;
            listed = listed.saturating_add(product.clicks);
        }
        if listed > self.clicks {
            return Err(EventError::field(
                "top",
                "holds more clicks than the window counted (clicks)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record() -> Value {
        json!({"topic":"edm-trending","event_id":"trending-5m-1700000040000",
               "window":{"name":"5m","size_seconds":300,"advance_seconds":60,
                         "start":1_700_000_040_000_i64,"end":1_700_000_340_000_i64},
               "clicks":9,"products":3,
               "top":[{"button_id":"the-camper's-kit","clicks":5},{"button_id":"mug","clicks":3}]})
    }

    fn parse(v: &Value) -> Result<TrendingRecord, EventError> {
        TrendingRecord::parse(v.to_string().as_bytes())
    }

    fn field_of(v: &Value) -> String {
        parse(v).unwrap_err().field_name().unwrap().to_owned()
    }

    #[test]
    fn what_edm_trending_writes_parses_into_its_parts() {
        let r = parse(&record()).unwrap();
        assert_eq!(r.window.name, WindowName::FiveMinutes);
        assert_eq!(r.window.end - r.window.start, 300_000);
        assert_eq!(r.top[0].button_id, "the-camper's-kit");
        assert_eq!(r.top[1].clicks, 3);
        // And reads back the same.
        let text = serde_json::to_vec(&r).unwrap();
        assert_eq!(TrendingRecord::parse(&text), Ok(r));
    }

    #[test]
    fn what_was_left_out_is_read_and_defaults_to_nothing() {
        let r = parse(&record()).unwrap();
        assert_eq!(r.late_clicks, 0);
        assert!(r.is_complete());
        assert_eq!(r.top[0].overcount, 0);
        let text = String::from_utf8(serde_json::to_vec(&r).unwrap()).unwrap();
        assert!(
            !text.contains("overcount"),
            "an exact count carries no bound: {text}"
        );
        let mut v = record();
        v["late_clicks"] = json!(2);
        v["top"][1]["overcount"] = json!(2);
        let r = parse(&v).unwrap();
        assert_eq!((r.late_clicks, r.top[1].overcount), (2, 2));
        assert!(!r.is_complete());
        v["top"][1]["overcount"] = json!(3);
        assert_eq!(field_of(&v), "top[1].overcount");
        let mut v = record();
        v["late_clicks"] = json!(-1);
        assert_eq!(field_of(&v), "late_clicks");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut v = record();
        v["region"] = json!("eu");
        v["window"]["timezone"] = json!("UTC");
        v["top"][0]["share"] = json!(0.5);
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let mut v = record();
        v["window"].as_object_mut().unwrap().remove("end");
        assert_eq!(field_of(&v), "window.end");
        let mut v = record();
        v["top"][1]["clicks"] = json!("three");
        assert_eq!(field_of(&v), "top[1].clicks");
        let mut v = record();
        v["clicks"] = json!(-1);
        assert_eq!(field_of(&v), "clicks");
        let mut v = record();
        v["window"]["name"] = json!("10m");
        assert_eq!(field_of(&v), "window.name");
        assert_eq!(field_of(&json!([record()])), "body");
    }

    #[test]
    fn a_record_that_contradicts_itself_is_refused() {
        type Change = fn(&mut Value);
        let cases: [(&str, Change); 9] = [
            ("topic", |v| v["topic"] = json!("edm-ui-click")),
            ("event_id", |v| {
                v["event_id"] = json!("trending-1m-1700000040000")
            }),
            ("window.size_seconds", |v| {
                v["window"]["size_seconds"] = json!(60)
            }),
            ("window.advance_seconds", |v| {
                v["window"]["advance_seconds"] = json!(300)
            }),
            ("window.end", |v| {
                v["window"]["end"] = json!(1_700_000_100_000_i64)
            }),
            ("top[1].clicks", |v| v["top"][1]["clicks"] = json!(6)),
            ("top", |v| v["clicks"] = json!(7)),
            ("top", |v| v["products"] = json!(1)),
            ("top", |v| v["top"] = json!([])),
        ];
        for (field, change) in cases {
            let mut v = record();
            change(&mut v);
            assert_eq!(field_of(&v), field, "{v}");
        }
    }

    #[test]
    fn sizes_and_characters_are_bounded() {
        let mut v = record();
        v["top"][0]["button_id"] = json!("é".repeat(MAX_ID_CHARS));
        assert!(parse(&v).is_ok(), "256 characters, however many bytes");
        v["top"][0]["button_id"] = json!("é".repeat(MAX_ID_CHARS + 1));
        assert_eq!(field_of(&v), "top[0].button_id");
        let mut v = record();
        v["top"][1]["button_id"] = json!("mug\u{0}");
        assert_eq!(field_of(&v), "top[1].button_id");
        let mut v = record();
        v["products"] = json!(1000);
        v["clicks"] = json!(1000);
        v["top"] = json!(vec![
            json!({"button_id":"p","clicks":1});
            MAX_TOP_PRODUCTS + 1
        ]);
        assert_eq!(field_of(&v), "top");
        let huge = format!(
            "{{\"pad\":\"{}\",{}",
            "x".repeat(MAX_RECORD_BYTES),
            &record().to_string()[1..]
        );
        assert_eq!(
            TrendingRecord::parse(huge.as_bytes())
                .unwrap_err()
                .to_string(),
            format!("body: is longer than {MAX_RECORD_BYTES} bytes")
        );
    }

    #[test]
    fn the_extremes_of_time_do_not_overflow() {
        let mut v = record();
        v["window"]["start"] = json!(i64::MAX - 1000);
        v["window"]["end"] = json!(i64::MAX);
        v["event_id"] = json!(format!("trending-5m-{}", i64::MAX - 1000));
        assert_eq!(field_of(&v), "window.end");
    }

    #[test]
    fn script_shaped_button_ids_are_data() {
        let mut v = record();
        v["top"][0]["button_id"] = json!("<img src=x onerror=alert(1)>");
        assert_eq!(
            parse(&v).unwrap().top[0].button_id,
            "<img src=x onerror=alert(1)>"
        );
    }

    #[test]
    fn syntax_errors_say_so() {
        assert!(matches!(
            TrendingRecord::parse(b"{not json"),
            Err(EventError::Syntax(_))
        ));
        assert!(matches!(
            TrendingRecord::parse(b""),
            Err(EventError::Syntax(_))
        ));
        let mut text = record().to_string();
        text.push_str("{}");
        assert!(TrendingRecord::parse(text.as_bytes()).is_err());
    }
}
