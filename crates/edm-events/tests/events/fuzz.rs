//! Property tests of event, trending-record and sample-record parsing and
//! validation:
//! arbitrary bytes, deeply nested JSON, unicode edge cases, control
//! characters, and SQL- or script-shaped values. Parsing never panics;
//! whatever it accepts satisfies every documented bound and survives a
//! round trip; whatever it refuses gets an error that names the problem.
//!
//! The number of cases per property comes from `PROPTEST_CASES` (proptest's
//! own variable): CI runs the default below, `./edm reliability` a million.

use edm_events::event::{
    Properties, MAX_ID_CHARS, MAX_TEXT_CHARS, MAX_TIMESTAMP_MS, MAX_URL_CHARS, MIN_TIMESTAMP_MS,
};
use edm_events::trending::{MAX_RECORD_BYTES, MAX_TOP_PRODUCTS};
use edm_events::{Event, EventError, SampleRecord, TrendingRecord};
use proptest::prelude::*;
use serde_json::{json, Value};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(5_000)
}

/// Checks what the parser promises about any input.
fn check(input: &[u8]) {
    match Event::parse(input) {
        Ok(event) => {
            let len = |s: &str| s.chars().count();
            assert!((1..=MAX_ID_CHARS).contains(&len(&event.uuid)));
            assert!((MIN_TIMESTAMP_MS..MAX_TIMESTAMP_MS).contains(&event.event_timestamp));
            assert!(!event.uuid.chars().any(char::is_control));
            match &event.properties {
                Properties::Click(p) => {
                    assert!((1..=MAX_ID_CHARS).contains(&len(&p.button_id)));
                    assert!(len(&p.description) <= MAX_TEXT_CHARS);
                    assert!(!p.button_id.chars().any(char::is_control));
                }
                Properties::PageLoad(p) => {
                    assert!(len(&p.user_agent) <= MAX_TEXT_CHARS);
                    assert!(len(&p.url) <= MAX_URL_CHARS);
                }
            }
            // What was accepted reads back as the same event.
            assert_eq!(
                Event::parse(event.to_json().as_bytes()).as_ref(),
                Ok(&event)
            );
        }
        Err(EventError::Syntax(message)) => assert!(!message.is_empty()),
        Err(EventError::Field { field, problem }) => {
            assert!(!field.is_empty() && !problem.is_empty());
        }
    }
}

/// Checks what the trending-record parser promises about any input.
fn check_trending(input: &[u8]) {
    match TrendingRecord::parse(input) {
        Ok(record) => {
            assert!(input.len() <= MAX_RECORD_BYTES);
            assert_eq!(record.topic, "edm-trending");
            assert!((1..=MAX_TOP_PRODUCTS).contains(&record.top.len()));
            assert!(record.top.len() as u64 <= record.products);
            assert_eq!(
                record.window.end - record.window.start,
                record.window.size_seconds * 1000
            );
            assert!(record.top.windows(2).all(|p| p[0].clicks >= p[1].clicks));
            for product in &record.top {
                assert!(product.clicks >= 1);
                assert!(product.button_id.chars().count() <= MAX_ID_CHARS);
                assert!(!product.button_id.chars().any(char::is_control));
            }
            // What was accepted reads back as the same record.
            let text = serde_json::to_vec(&record).unwrap();
            assert_eq!(TrendingRecord::parse(&text).as_ref(), Ok(&record));
        }
        Err(EventError::Syntax(message)) => assert!(!message.is_empty()),
        Err(EventError::Field { field, problem }) => {
            assert!(!field.is_empty() && !problem.is_empty());
        }
    }
    // Neither parser takes the other's records.
    if let Ok(event) = Event::parse(input) {
        assert!(TrendingRecord::parse(input).is_err(), "{event:?}");
    }
}

/// Checks what the sample-record parser promises about any input.
fn check_sample(input: &[u8]) {
    match SampleRecord::parse(input) {
        Ok(record) => {
            assert!(input.len() <= edm_events::sample::MAX_RECORD_BYTES);
            assert_eq!(record.topic, "edm-trending-sample");
            assert!(record.stands_for >= 1);
            assert!(record.offset >= 0);
            assert!(record.second >= 0 && record.second % 1000 == 0);
            assert_eq!(record.event.topic, record.source.topic);
            assert!(record.source.topic.is_store_event());
            // What was accepted reads back as the same record.
            let text = serde_json::to_vec(&record).unwrap();
            assert_eq!(SampleRecord::parse(&text).as_ref(), Ok(&record));
        }
        Err(EventError::Syntax(message)) => assert!(!message.is_empty()),
        Err(EventError::Field { field, problem }) => {
            assert!(!field.is_empty() && !problem.is_empty());
        }
    }
    // An event is not a sample record, nor the other way round.
    if let Ok(record) = SampleRecord::parse(input) {
        assert!(Event::parse(input).is_err(), "{record:?}");
    }
}

/// A valid sample record with one field (its event's too) replaced by
/// something arbitrary.
fn mutated_sample_record() -> impl Strategy<Value = Value> {
    let base = json!({"topic":"edm-trending-sample",
        "event":{"topic":"edm-ui-click","uuid":"v","event_timestamp":1_763_800_000_000_i64,
                 "properties":{"button_id":"the-camper's-kit"}},
        "stands_for":3,"source":"edm-ui-click/1","offset":7,"second":1_763_800_001_000_i64});
    let field = prop_oneof![
        Just("/topic"),
        Just("/event"),
        Just("/event/topic"),
        Just("/event/properties"),
        Just("/event/properties/button_id"),
        Just("/stands_for"),
        Just("/source"),
        Just("/offset"),
        Just("/second"),
        Just("/extra"),
    ];
    (field, any_json(3)).prop_map(move |(field, value)| {
        let mut record = base.clone();
        let (parent, key) = field.rsplit_once('/').unwrap();
        if let Some(Value::Object(map)) = record.pointer_mut(parent) {
            map.insert(key.to_owned(), value);
        }
        record
    })
}

/// Text that tends to break parsers and pages.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f]{0,8}",
        Just("' OR '1'='1'; DROP TABLE click_counts; --".to_owned()),
        Just("<img src=x onerror=alert(1)>".to_owned()),
        Just("\u{202e}\u{200b}\u{feff}\u{fffd}".to_owned()),
        Just("🧪".repeat(300)),
        Just("é".repeat(MAX_ID_CHARS)),
        Just("x".repeat(MAX_URL_CHARS + 1)),
        "\\PC{0,64}",
    ]
}

/// Any JSON value, nested up to `depth`.
fn any_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        nasty_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(nasty_text(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid event with one field replaced by something arbitrary.
fn mutated_event() -> impl Strategy<Value = Value> {
    let base = prop_oneof![
        Just(
            json!({"topic":"edm-ui-click","uuid":"v","event_timestamp":1_763_800_000_000_i64,
                    "properties":{"button_id":"the-camper's-kit","description":"button click"}})
        ),
        Just(
            json!({"topic":"edm-ui-pageload","uuid":"v","event_timestamp":1_763_800_000_000_i64,
                    "properties":{"user_agent":"Mozilla/5.0","description":"Page loaded","url":"http://localhost:3000"}})
        ),
    ];
    let field = prop_oneof![
        Just("/topic"),
        Just("/uuid"),
        Just("/event_timestamp"),
        Just("/properties"),
        Just("/properties/button_id"),
        Just("/properties/description"),
        Just("/properties/user_agent"),
        Just("/properties/url"),
        Just("/event_id"),
        Just("/extra"),
    ];
    (base, field, any_json(3)).prop_map(|(mut event, field, value)| {
        let (parent, key) = field.rsplit_once('/').unwrap();
        if let Some(Value::Object(map)) = event.pointer_mut(parent) {
            map.insert(key.to_owned(), value);
        }
        event
    })
}

/// A valid trending record with one field replaced by something arbitrary.
fn mutated_trending_record() -> impl Strategy<Value = Value> {
    let base = json!({"topic":"edm-trending","event_id":"trending-5m-1763799960000",
        "window":{"name":"5m","size_seconds":300,"advance_seconds":60,
                  "start":1_763_799_960_000_i64,"end":1_763_800_260_000_i64},
        "clicks":9,"products":3,
        "top":[{"button_id":"the-camper's-kit","clicks":5},{"button_id":"mug","clicks":3}]});
    let field = prop_oneof![
        Just("/topic"),
        Just("/event_id"),
        Just("/window"),
        Just("/window/name"),
        Just("/window/size_seconds"),
        Just("/window/start"),
        Just("/window/end"),
        Just("/clicks"),
        Just("/products"),
        Just("/top"),
        Just("/top/0/button_id"),
        Just("/top/1/clicks"),
        Just("/extra"),
    ];
    (field, any_json(3)).prop_map(move |(field, value)| {
        let mut record = base.clone();
        let (parent, key) = field.rsplit_once('/').unwrap();
        match record.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.insert(key.to_owned(), value);
            }
            Some(Value::Array(items)) => {
                if let Some(slot) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    *slot = value;
                }
            }
            _ => {}
        }
        record
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
        check_trending(&bytes);
        check_sample(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json(6)) {
        check(value.to_string().as_bytes());
        check_trending(value.to_string().as_bytes());
        check_sample(value.to_string().as_bytes());
    }

    #[test]
    fn mutated_events_are_accepted_only_within_bounds(event in mutated_event()) {
        check(event.to_string().as_bytes());
        check_trending(event.to_string().as_bytes());
    }

    #[test]
    fn mutated_sample_records_are_accepted_only_within_bounds(record in mutated_sample_record()) {
        check_sample(record.to_string().as_bytes());
        check(record.to_string().as_bytes());
    }

    #[test]
    fn mutated_trending_records_are_accepted_only_within_bounds(record in mutated_trending_record()) {
        check_trending(record.to_string().as_bytes());
        check(record.to_string().as_bytes());
    }
}

#[test]
fn very_deep_nesting_is_refused_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Event::parse(deep.as_bytes()).is_err());
    let deep_props = format!(
        r#"{{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{}1{}}}"#,
        "{\"a\":".repeat(5000),
        "}".repeat(5000)
    );
    assert!(Event::parse(deep_props.as_bytes()).is_err());
    let deep_top = format!(
        r#"{{"topic":"edm-trending","top":{}1{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(TrendingRecord::parse(deep_top.as_bytes()).is_err());
    assert!(TrendingRecord::parse(deep.as_bytes()).is_err());
    let deep_event = format!(
        r#"{{"topic":"edm-trending-sample","event":{}1{}}}"#,
        "{\"a\":".repeat(5000),
        "}".repeat(5000)
    );
    assert!(SampleRecord::parse(deep_event.as_bytes()).is_err());
    assert!(SampleRecord::parse(deep.as_bytes()).is_err());
}
