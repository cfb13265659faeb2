//! The event catalog: the JSON Schemas committed under `docs/events/` are
//! exactly what the code generates, and each schema accepts and refuses the
//! same events as `Event::parse`, the parser every EDM service uses (for
//! `edm-trending`, the same records as `TrendingRecord::parse`, which also
//! checks the rules across fields that a schema cannot state; likewise for
//! `edm-trending-counts` and `edm-trending-sample`).
//!
//! After changing the event types, regenerate the committed files with
//!
//!     cargo test -p edm-events --test events -- --ignored write_the_committed_schemas

use std::path::PathBuf;

use edm_config::Topic;
use edm_events::catalog::{self, SCHEMA_DIR};
use edm_events::event::{
    MAX_ID_CHARS, MAX_TEXT_CHARS, MAX_TIMESTAMP_MS, MAX_URL_CHARS, MIN_TIMESTAMP_MS,
};
use edm_events::trending::MAX_TOP_PRODUCTS;
use edm_events::{Event, TrendingRecord};
use serde_json::{json, Value};

fn schema_path(topic: Topic) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SCHEMA_DIR)
        .join(catalog::file_name(topic))
}

#[test]
fn the_committed_schemas_are_what_the_code_generates() {
    for topic in Topic::ALL {
        let path = schema_path(topic);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == catalog::schema_text(topic),
            "{} differs from the schema the event types generate; regenerate it with\n  \
             cargo test -p edm-events --test events -- --ignored write_the_committed_schemas",
            path.display()
        );
    }
}

/// Writes `docs/events/<topic>.schema.json` from the code.
#[test]
#[ignore = "writes files: run it to regenerate the committed schemas"]
fn write_the_committed_schemas() {
    for topic in Topic::ALL {
        let path = schema_path(topic);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, catalog::schema_text(topic)).unwrap();
        println!("wrote {}", path.display());
    }
}

/// The original reference store's events, field for field.
fn reference_click() -> Value {
    json!({"topic":"edm-ui-click","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1_763_800_000_000_i64,
           "properties":{"button_id":"the-camper's-kit","description":"button click"}})
}

fn reference_pageload() -> Value {
    json!({"topic":"edm-ui-pageload","uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","event_timestamp":1_763_800_000_000_i64,
           "properties":{"user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                         "description":"fix coffee page page loaded","url":"https://edm-ui.herokuapp.com"}})
}

/// Variations of `base` (valid and invalid) with what each one changes.
fn variations(base: &Value) -> Vec<(String, Value)> {
    let is_click = base["topic"] == "edm-ui-click";
    let mut out: Vec<(String, Value)> = vec![("as the store sends it".into(), base.clone())];
    let mut with = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        change(&mut v);
        out.push((name.to_owned(), v));
    };
    with("extra top-level fields", &|v| {
        v["schema_version"] = json!(2);
        v["campaign"] = json!({"id": "spring"});
    });
    with("extra properties", &|v| {
        v["properties"]["color"] = json!("blue")
    });
    with("an event_id", &|v| v["event_id"] = json!("retry-1"));
    with("a null event_id", &|v| v["event_id"] = Value::Null);
    with("an empty event_id", &|v| v["event_id"] = json!(""));
    with("a too long event_id", &|v| {
        v["event_id"] = json!("e".repeat(MAX_ID_CHARS + 1))
    });
    with("no description", &|v| {
        v["properties"]
            .as_object_mut()
            .unwrap()
            .remove("description");
    });
    with("the other topic", &|v| {
        v["topic"] = json!(if is_click {
            "edm-ui-pageload"
        } else {
            "edm-ui-click"
        })
    });
    with("an unknown topic", &|v| v["topic"] = json!("edm-ui-scroll"));
    with("no uuid", &|v| {
        v.as_object_mut().unwrap().remove("uuid");
    });
    with("an empty uuid", &|v| v["uuid"] = json!(""));
    with("a uuid of the longest length", &|v| {
        v["uuid"] = json!("é".repeat(MAX_ID_CHARS))
    });
    with("a uuid one character too long", &|v| {
        v["uuid"] = json!("é".repeat(MAX_ID_CHARS + 1))
    });
    with("a NUL in the uuid", &|v| v["uuid"] = json!("a\u{0}b"));
    with("a DEL in the uuid", &|v| v["uuid"] = json!("a\u{7f}b"));
    with("a C1 control in the uuid", &|v| {
        v["uuid"] = json!("a\u{85}b")
    });
    with("a non-breaking space in the uuid", &|v| {
        v["uuid"] = json!("a\u{a0}b")
    });
    with("a numeric uuid", &|v| v["uuid"] = json!(42));
    with("no timestamp", &|v| {
        v.as_object_mut().unwrap().remove("event_timestamp");
    });
    with("a text timestamp", &|v| v["event_timestamp"] = json!("now"));
    with("the earliest timestamp", &|v| {
        v["event_timestamp"] = json!(MIN_TIMESTAMP_MS)
    });
    with("a timestamp before 2000", &|v| {
        v["event_timestamp"] = json!(MIN_TIMESTAMP_MS - 1)
    });
    with("the latest timestamp", &|v| {
        v["event_timestamp"] = json!(MAX_TIMESTAMP_MS - 1)
    });
    with("a timestamp in 2100", &|v| {
        v["event_timestamp"] = json!(MAX_TIMESTAMP_MS)
    });
    with("no properties", &|v| {
        v.as_object_mut().unwrap().remove("properties");
    });
    with("properties as an array", &|v| v["properties"] = json!([1]));
    with("a too long description", &|v| {
        v["properties"]["description"] = json!("d".repeat(MAX_TEXT_CHARS + 1))
    });
    with("a description of the longest length", &|v| {
        v["properties"]["description"] = json!("d".repeat(MAX_TEXT_CHARS))
    });
    with("a newline in the description", &|v| {
        v["properties"]["description"] = json!("a\nb")
    });
    if is_click {
        with("no button_id", &|v| {
            v["properties"].as_object_mut().unwrap().remove("button_id");
        });
        with("an empty button_id", &|v| {
            v["properties"]["button_id"] = json!("")
        });
        with("a button_id of the longest length", &|v| {
            v["properties"]["button_id"] = json!("b".repeat(MAX_ID_CHARS))
        });
        with("a too long button_id", &|v| {
            v["properties"]["button_id"] = json!("b".repeat(MAX_ID_CHARS + 1))
        });
        with("a script-shaped button_id", &|v| {
            v["properties"]["button_id"] = json!("<img src=x onerror=alert(1)>")
        });
    } else {
        with("no url", &|v| {
            v["properties"].as_object_mut().unwrap().remove("url");
        });
        with("no user_agent", &|v| {
            v["properties"]
                .as_object_mut()
                .unwrap()
                .remove("user_agent");
        });
        with("an empty user_agent", &|v| {
            v["properties"]["user_agent"] = json!("")
        });
        with("a url of the longest length", &|v| {
            v["properties"]["url"] = json!("u".repeat(MAX_URL_CHARS))
        });
        with("a too long url", &|v| {
            v["properties"]["url"] = json!("u".repeat(MAX_URL_CHARS + 1))
        });
        with("a too long user_agent", &|v| {
            v["properties"]["user_agent"] = json!("a".repeat(MAX_TEXT_CHARS + 1))
        });
    }
    out
}

#[test]
fn each_schema_accepts_exactly_what_the_services_accept() {
    for (topic, base) in [
        (Topic::Click, reference_click()),
        (Topic::PageLoad, reference_pageload()),
    ] {
        let schema = catalog::schema(topic);
        let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
        let mut accepted = 0;
        for (name, event) in variations(&base) {
            let by_parser = Event::parse(event.to_string().as_bytes())
                .map(|e| e.topic == topic)
                .unwrap_or(false);
            let by_schema = validator.is_valid(&event);
            assert_eq!(
                by_schema, by_parser,
                "{topic} with {name}: the schema says {by_schema}, Event::parse says {by_parser}"
            );
            accepted += usize::from(by_parser);
        }
        assert!(accepted >= 8, "the corpus has valid events too");
    }
}

#[test]
fn the_reference_store_events_and_extended_ones_are_valid() {
    for (topic, base) in [
        (Topic::Click, reference_click()),
        (Topic::PageLoad, reference_pageload()),
    ] {
        let validator = jsonschema::validator_for(&catalog::schema(topic)).unwrap();
        assert!(validator.is_valid(&base), "{topic}: the reference event");
        let mut extended = base.clone();
        extended["schema_version"] = json!(2);
        extended["properties"]["color"] = json!("blue");
        assert!(
            validator.is_valid(&extended),
            "{topic}: unknown fields are allowed"
        );
        // What this project's own code writes is valid too.
        let written: Value =
            serde_json::from_str(&Event::parse(base.to_string().as_bytes()).unwrap().to_json())
                .unwrap();
        assert!(validator.is_valid(&written), "{topic}: Event::to_json");
    }
}

/// A record as edm-trending writes it: a 5-minute window's top two.
fn reference_trending() -> Value {
    json!({"topic":"edm-trending","event_id":"trending-5m-1763799960000",
           "window":{"name":"5m","size_seconds":300,"advance_seconds":60,
                     "start":1_763_799_960_000_i64,"end":1_763_800_260_000_i64},
           "clicks":9,"products":3,
           "top":[{"button_id":"the-camper's-kit","clicks":5},{"button_id":"bunum-wo-aa,-papua-new-guinea","clicks":3}]})
}

/// `count` products of one click each, in a window that counted them all.
fn with_products(count: usize) -> Value {
    let mut v = reference_trending();
    v["clicks"] = json!(count);
    v["products"] = json!(count);
    v["top"] = (0..count)
        .map(|i| json!({"button_id": format!("product-{i}"), "clicks": 1}))
        .collect();
    v
}

/// Variations of a trending record (valid and invalid) with what each
/// changes; none breaks a rule across fields, which no schema can state.
fn trending_variations() -> Vec<(String, Value)> {
    let base = reference_trending();
    let mut out: Vec<(String, Value)> = vec![("as edm-trending writes it".into(), base.clone())];
    let mut with = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        change(&mut v);
        out.push((name.to_owned(), v));
    };
    with("extra fields everywhere", &|v| {
        v["region"] = json!("eu");
        v["window"]["timezone"] = json!("UTC");
        v["top"][0]["share"] = json!(0.55);
    });
    with("a one-minute window", &|v| {
        v["event_id"] = json!("trending-1m-1763799960000");
        v["window"] = json!({"name":"1m","size_seconds":60,"advance_seconds":60,
                             "start":1_763_799_960_000_i64,"end":1_763_800_020_000_i64});
    });
    with("a window at the epoch", &|v| {
        v["event_id"] = json!("trending-5m-0");
        v["window"]["start"] = json!(0);
        v["window"]["end"] = json!(300_000);
    });
    with("no topic", &|v| {
        v.as_object_mut().unwrap().remove("topic");
    });
    with("a store topic", &|v| v["topic"] = json!("edm-ui-click"));
    with("no event_id", &|v| {
        v.as_object_mut().unwrap().remove("event_id");
    });
    with("an event_id of another form", &|v| {
        v["event_id"] = json!("5m:1763799960000")
    });
    with("an event_id with a leading zero", &|v| {
        v["event_id"] = json!("trending-5m-01763799960000")
    });
    with("an unknown window name", &|v| {
        v["window"]["name"] = json!("10m")
    });
    with("a window as a list", &|v| v["window"] = json!([1, 2]));
    with("no window end", &|v| {
        v["window"].as_object_mut().unwrap().remove("end");
    });
    with("a window start as text", &|v| {
        v["window"]["start"] = json!("1763799960000")
    });
    with("a size no window has", &|v| {
        v["window"]["size_seconds"] = json!(120)
    });
    with("another advance", &|v| {
        v["window"]["advance_seconds"] = json!(300)
    });
    with("no clicks", &|v| v["clicks"] = json!(0));
    with("negative clicks", &|v| v["clicks"] = json!(-9));
    with("no products", &|v| v["products"] = json!(0));
    with("an empty top list", &|v| v["top"] = json!([]));
    with("a top list as an object", &|v| v["top"] = json!({"kit": 5}));
    with("a product without clicks", &|v| {
        v["top"][1].as_object_mut().unwrap().remove("clicks");
    });
    with("a product with no clicks", &|v| {
        v["top"][1]["clicks"] = json!(0)
    });
    with("a product without a button id", &|v| {
        v["top"][0].as_object_mut().unwrap().remove("button_id");
    });
    with("an empty button id", &|v| {
        v["top"][0]["button_id"] = json!("")
    });
    with("a button id of the longest length", &|v| {
        v["top"][0]["button_id"] = json!("é".repeat(MAX_ID_CHARS))
    });
    with("a button id one character too long", &|v| {
        v["top"][0]["button_id"] = json!("é".repeat(MAX_ID_CHARS + 1))
    });
    with("a newline in a button id", &|v| {
        v["top"][0]["button_id"] = json!("kit\nmug")
    });
    with("a script-shaped button id", &|v| {
        v["top"][0]["button_id"] = json!("<img src=x onerror=alert(1)>")
    });
    out.push((
        "the most products a record lists".into(),
        with_products(MAX_TOP_PRODUCTS),
    ));
    out.push((
        "one product too many".into(),
        with_products(MAX_TOP_PRODUCTS + 1),
    ));
    out
}

#[test]
fn the_trending_schema_accepts_exactly_what_readers_accept() {
    let schema = catalog::schema(Topic::Trending);
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let mut accepted = 0;
    for (name, record) in trending_variations() {
        let by_parser = TrendingRecord::parse(record.to_string().as_bytes()).is_ok();
        let by_schema = validator.is_valid(&record);
        assert_eq!(
            by_schema, by_parser,
            "edm-trending with {name}: the schema says {by_schema}, TrendingRecord::parse says {by_parser}"
        );
        accepted += usize::from(by_parser);
    }
    assert!(accepted >= 8, "the corpus has valid records too");
    // Store events are not trending records, and the other way round.
    let click = catalog::schema(Topic::Click);
    let click = jsonschema::validator_for(&click).unwrap();
    assert!(!click.is_valid(&reference_trending()));
    assert!(!validator.is_valid(&reference_click()));
}

#[test]
fn reading_a_trending_record_also_checks_what_a_schema_cannot_state() {
    let validator = jsonschema::validator_for(&catalog::schema(Topic::Trending)).unwrap();
    type Change = fn(&mut Value);
    let contradictions: [(&str, &str, Change); 6] = [
        ("an event id naming another window", "event_id", |v| {
            v["event_id"] = json!("trending-5m-1763800020000")
        }),
        ("a window that ends early", "window.end", |v| {
            v["window"]["end"] = json!(1_763_800_020_000_i64)
        }),
        (
            "a one-minute size for a five-minute window",
            "window.size_seconds",
            |v| v["window"]["size_seconds"] = json!(60),
        ),
        ("products out of order", "top[1].clicks", |v| {
            v["top"][1]["clicks"] = json!(6)
        }),
        ("more clicks listed than counted", "top", |v| {
            v["clicks"] = json!(7)
        }),
        ("more products listed than counted", "top", |v| {
            v["products"] = json!(1)
        }),
    ];
    for (what, field, change) in contradictions {
        let mut record = reference_trending();
        change(&mut record);
        assert!(
            validator.is_valid(&record),
            "{what}: the schema cannot tell"
        );
        let err = TrendingRecord::parse(record.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field_name(), Some(field), "{what}: {err}");
    }
}

/// A final count as edm-trending writes it.
fn reference_counts() -> Value {
    json!({"topic":"edm-trending-counts","kind":"click","name":"the-camper's-kit",
           "minute":1_763_800_020_000_i64,"count":5,"final":true})
}

#[test]
fn the_counts_schema_accepts_exactly_what_readers_accept() {
    let validator = jsonschema::validator_for(&catalog::schema(Topic::Counts)).unwrap();
    type Change = fn(&mut Value);
    let changes: [(&str, Change); 16] = [
        ("nothing changed", |_| {}),
        ("provisional", |v| v["final"] = json!(false)),
        ("an overcount below the count", |v| {
            v["overcount"] = json!(4)
        }),
        ("extra fields", |v| v["as_of"] = json!(1)),
        ("the longest name", |v| {
            v["name"] = json!("é".repeat(MAX_ID_CHARS))
        }),
        ("a name one character too long", |v| {
            v["name"] = json!("é".repeat(MAX_ID_CHARS + 1))
        }),
        ("an empty name", |v| v["name"] = json!("")),
        ("a control character in the name", |v| {
            v["name"] = json!("kit\u{1b}")
        }),
        ("another topic", |v| v["topic"] = json!("edm-trending")),
        ("an unknown kind", |v| v["kind"] = json!("scroll")),
        ("a minute that is not a minute's start", |v| {
            v["minute"] = json!(1_763_800_020_500_i64)
        }),
        ("a negative minute", |v| v["minute"] = json!(-60_000)),
        ("a zero count", |v| v["count"] = json!(0)),
        ("a fractional count", |v| v["count"] = json!(1.5)),
        ("no final flag", |v| {
            v.as_object_mut().unwrap().remove("final");
        }),
        ("no name", |v| {
            v.as_object_mut().unwrap().remove("name");
        }),
    ];
    let mut accepted = 0;
    for (name, change) in changes {
        let mut record = reference_counts();
        change(&mut record);
        let by_parser = edm_events::CountsRecord::parse(record.to_string().as_bytes()).is_ok();
        let by_schema = validator.is_valid(&record);
        assert_eq!(
            by_schema, by_parser,
            "edm-trending-counts with {name}: the schema says {by_schema}, CountsRecord::parse says {by_parser}"
        );
        accepted += usize::from(by_parser);
    }
    assert_eq!(accepted, 5, "the corpus has valid records too");
    // Trending records are not counts records, and the other way round.
    assert!(!validator.is_valid(&reference_trending()));
    let trending = jsonschema::validator_for(&catalog::schema(Topic::Trending)).unwrap();
    assert!(!trending.is_valid(&reference_counts()));
}

/// A sampled click as edm-trending writes it.
fn reference_sample() -> Value {
    json!({"topic":"edm-trending-sample","event":reference_click(),"stands_for":37,
           "source":"edm-ui-click/2","offset":1234,"second":1_763_800_041_000_i64})
}

#[test]
fn the_sample_schema_accepts_exactly_what_readers_accept() {
    let validator = jsonschema::validator_for(&catalog::schema(Topic::Sample)).unwrap();
    type Change = fn(&mut Value);
    let changes: [(&str, Change); 24] = [
        ("nothing changed", |_| {}),
        ("a page load", |v| {
            v["event"] = reference_pageload();
            v["source"] = json!("edm-ui-pageload/0");
        }),
        ("extra fields", |v| v["cycle"] = json!(1)),
        ("extra event fields", |v| {
            v["event"]["schema_version"] = json!(2)
        }),
        ("standing for itself alone", |v| v["stands_for"] = json!(1)),
        ("the highest partition", |v| {
            v["source"] = json!("edm-ui-click/999999999")
        }),
        ("offset 0", |v| v["offset"] = json!(0)),
        ("another topic", |v| {
            v["topic"] = json!("edm-trending-counts")
        }),
        ("standing for nothing", |v| v["stands_for"] = json!(0)),
        ("a fractional share", |v| v["stands_for"] = json!(1.5)),
        ("a negative offset", |v| v["offset"] = json!(-1)),
        ("a second that is not a second's start", |v| {
            v["second"] = json!(1_763_800_041_500_i64)
        }),
        ("a negative second", |v| v["second"] = json!(-1000)),
        ("a source without partition", |v| {
            v["source"] = json!("edm-ui-click")
        }),
        ("a partition with a leading zero", |v| {
            v["source"] = json!("edm-ui-click/02")
        }),
        ("a partition past the highest", |v| {
            v["source"] = json!("edm-ui-click/1000000000")
        }),
        ("a source on edm-trending", |v| {
            v["source"] = json!("edm-trending/0")
        }),
        ("an invalid event", |v| {
            v["event"]["properties"]["button_id"] = json!("")
        }),
        ("an event without uuid", |v| {
            v["event"].as_object_mut().unwrap().remove("uuid");
        }),
        ("a trending record for an event", |v| {
            v["event"] = reference_trending()
        }),
        ("an event that is text", |v| {
            v["event"] = json!(reference_click().to_string())
        }),
        ("no event", |v| {
            v.as_object_mut().unwrap().remove("event");
        }),
        ("no second", |v| {
            v.as_object_mut().unwrap().remove("second");
        }),
        ("no source", |v| {
            v.as_object_mut().unwrap().remove("source");
        }),
    ];
    let mut accepted = 0;
    for (name, change) in changes {
        let mut record = reference_sample();
        change(&mut record);
        let by_parser = edm_events::SampleRecord::parse(record.to_string().as_bytes()).is_ok();
        let by_schema = validator.is_valid(&record);
        assert_eq!(
            by_schema, by_parser,
            "edm-trending-sample with {name}: the schema says {by_schema}, SampleRecord::parse says {by_parser}"
        );
        accepted += usize::from(by_parser);
    }
    assert_eq!(accepted, 7, "the corpus has valid records too");
    // No other topic's records are sample records, nor the other way round.
    for other in [reference_click(), reference_trending(), reference_counts()] {
        assert!(!validator.is_valid(&other));
    }
    for topic in [Topic::Click, Topic::Trending, Topic::Counts] {
        let other = jsonschema::validator_for(&catalog::schema(topic)).unwrap();
        assert!(!other.is_valid(&reference_sample()), "{topic}");
    }
}

#[test]
fn reading_a_sample_record_also_checks_what_a_schema_cannot_state() {
    let validator = jsonschema::validator_for(&catalog::schema(Topic::Sample)).unwrap();
    // A click said to be read from a page-load partition.
    let mut record = reference_sample();
    record["source"] = json!("edm-ui-pageload/2");
    assert!(validator.is_valid(&record), "the schema cannot tell");
    let err = edm_events::SampleRecord::parse(record.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.field_name(), Some("event.topic"), "{err}");
    // Longer than a record may be, with a field no one defines.
    let mut record = reference_sample();
    record["padding"] = json!("x".repeat(edm_events::sample::MAX_RECORD_BYTES));
    assert!(validator.is_valid(&record), "the schema cannot tell");
    let err = edm_events::SampleRecord::parse(record.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.field_name(), Some("body"), "{err}");
}
