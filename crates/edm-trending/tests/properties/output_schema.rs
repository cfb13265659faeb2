//! Every record the store produces for the `edm-trending` topic validates
//! against the crate's JSON Schema, and the schema describes every field
//! the records carry, so the schema can be handed to readers as the truth.

use edm_trending::output::schema;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::generators::{run, scenario};

/// Every object key in `record`, as a path, that the schema does not list
/// under `properties` at the same place.
fn undescribed_fields(record: &Value, schema: &Value, path: &str) -> Vec<String> {
    match record {
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(name, value)| {
                let field_schema = &schema["properties"][name];
                let field_path = format!("{path}/{name}");
                if field_schema.is_null() {
                    vec![field_path]
                } else {
                    undescribed_fields(value, field_schema, &field_path)
                }
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| {
                undescribed_fields(item, &schema["items"], &format!("{path}/{i}"))
            })
            .collect(),
        _ => Vec::new(),
    }
}

proptest! {
    #[test]
    fn every_output_record_validates_and_every_field_is_described(scenario in scenario()) {
        let schema = schema();
        let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
        let mut store = scenario.store();
        // A result of late clicks alone goes to the merge, never to
        // edm-trending (the merge writes only windows with clicks).
        let emitted = run(&mut store, &scenario.records).into_iter().flatten().flat_map(|p| p.emitted);
        for result in emitted.filter(|r| r.clicks > 0) {
            let record = result.to_record().expect("a result serializes");
            let value: Value = serde_json::from_slice(&record.value).expect("the value is JSON");
            let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
            prop_assert!(errors.is_empty(), "{} fails the schema: {:?}", value, errors);
            prop_assert_eq!(undescribed_fields(&value, &schema, ""), Vec::<String>::new());
            prop_assert_eq!(record.key, result.record_key().into_bytes());
            prop_assert_eq!(&value["event_id"], &json!(result.event_id()));
        }
    }
}

/// A change that breaks a valid record.
type Change = fn(&mut Value);

#[test]
fn the_schema_refuses_what_readers_could_not_use() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let good = json!({"topic":"edm-trending","event_id":"trending-5m-60000",
        "window":{"name":"5m","size_seconds":300,"advance_seconds":60,"start":60_000,"end":360_000},
        "clicks":3,"products":1,"top":[{"button_id":"kit","clicks":3}]});
    assert!(validator.is_valid(&good));
    let mut extended = good.clone();
    extended["region"] = json!("eu");
    assert!(
        validator.is_valid(&extended),
        "readers ignore unknown fields"
    );
    let broken: [(&str, Change); 7] = [
        ("an event id of another form", |v| {
            v["event_id"] = json!("5m:60000")
        }),
        ("an empty top list", |v| v["top"] = json!([])),
        ("another topic", |v| v["topic"] = json!("edm-ui-click")),
        ("no top list", |v| {
            v.as_object_mut().map(|o| o.remove("top"));
        }),
        ("an unknown window name", |v| {
            v["window"]["name"] = json!("10m")
        }),
        ("negative clicks", |v| v["top"][0]["clicks"] = json!(-1)),
        ("a window without its end", |v| {
            v["window"].as_object_mut().map(|o| o.remove("end"));
        }),
    ];
    for (what, change) in broken {
        let mut value = good.clone();
        change(&mut value);
        assert!(!validator.is_valid(&value), "{what} is refused");
    }
    // The undescribed-field check finds a field the schema lacks.
    assert_eq!(
        undescribed_fields(&extended, &schema, ""),
        vec!["/region".to_owned()]
    );
}
