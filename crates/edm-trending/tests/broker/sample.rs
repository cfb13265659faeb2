//! The sample of the store's events (`edm-trending-sample`), read as a
//! `read_committed` reader reads it, while clicks and page loads arrive
//! live at two instances, one of them SIGKILLed mid-stream: per input
//! partition, the records' `stands_for` add up to exactly the valid events
//! the partition holds (records another app wrote that are not valid
//! events are not counted); no event is sampled twice; each sampled event
//! is the one at its offset; and each partition's records per second stay
//! within the cycles' bound while its input runs several times faster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use edm_config::Topic;
use edm_events::{Event, SampleRecord, SampleSource};
use rdkafka::producer::{BaseRecord, Producer};

use crate::common::{
    now_ms, produce_raw, read_committed, read_committed_by_partition, shared_broker, wait_for,
    Instance, Topics,
};

/// Input partitions of each store topic.
const PARTITIONS: i32 = 3;
/// Clicks in this test.
const CLICKS: usize = 5_000;
/// Page loads in this test.
const PAGE_LOADS: usize = 1_000;
/// `k` with the default settings: 20 a second over cycles of 100 ms.
const K: usize = 2;
/// The most cycles whose records carry one processing second, per
/// partition: ten of at least 100 ms each, and one more where the
/// partition changed hands in that second.
const CYCLES_PER_SECOND: usize = 11;

/// Writes the clicks and page loads, interleaved, about one a millisecond,
/// each to the partition its number picks.
fn produce_live(topics: &Topics) {
    let producer = topics.producer();
    let (clicks, page_loads) = (topics.input(), topics.page_loads());
    let every = CLICKS / PAGE_LOADS + 1;
    let (mut c, mut p) = (0, 0);
    while c < CLICKS || p < PAGE_LOADS {
        let load = p < PAGE_LOADS && (c >= CLICKS || (c + p) % every == 0);
        let n = if load { p } else { c };
        let value = if load {
            serde_json::json!({"topic":"edm-ui-pageload","uuid":format!("visitor-{n}"),
                "event_timestamp":now_ms(),
                "properties":{"user_agent":"Mozilla/5.0 (iPhone)","url":"https://example.com"}})
        } else {
            serde_json::json!({"topic":"edm-ui-click","uuid":format!("visitor-{n}"),
                "event_timestamp":now_ms(),"event_id":format!("c-{n}"),
                "properties":{"button_id":format!("product-{}", n % 40)}})
        }
        .to_string();
        let topic = if load { &page_loads } else { &clicks };
        let record = BaseRecord::<str, String>::to(topic)
            .partition((n % PARTITIONS as usize) as i32)
            .payload(&value);
        producer.send(record).expect("queued");
        producer.poll(Duration::ZERO);
        if load {
            p += 1;
        } else {
            c += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Every valid event of both inputs by (source, offset): what a sample
/// record may stand for.
fn valid_events(topics: &Topics) -> BTreeMap<(SampleSource, i64), Event> {
    let mut events = BTreeMap::new();
    for (topic, name) in [
        (Topic::Click, topics.input()),
        (Topic::PageLoad, topics.page_loads()),
    ] {
        // Offsets counted from 0: the inputs are written without transactions.
        for (partition, records) in read_committed_by_partition(&topics.bootstrap, &name) {
            let source = SampleSource::new(topic, partition).unwrap();
            for (offset, (_, value)) in records.into_iter().enumerate() {
                if let Ok(event) = Event::parse(&value.unwrap_or_default()) {
                    if event.topic == topic {
                        events.insert((source, offset as i64), event);
                    }
                }
            }
        }
    }
    events
}

/// The sample as a `read_committed` reader sees it, every record parsed
/// and its key checked.
fn sample(topics: &Topics) -> Vec<SampleRecord> {
    read_committed(&topics.bootstrap, &topics.sample())
        .into_iter()
        .map(|(key, value)| {
            let record = SampleRecord::parse(&value.expect("a value")).expect("a valid record");
            assert_eq!(
                key.as_deref(),
                Some(record.key().as_bytes()),
                "keyed by source"
            );
            record
        })
        .collect()
}

/// Each source's `stands_for`, added up.
fn stated(records: &[SampleRecord]) -> BTreeMap<SampleSource, u64> {
    let mut totals = BTreeMap::new();
    for r in records {
        *totals.entry(r.source).or_default() += r.stands_for;
    }
    totals
}

#[test]
fn the_sample_states_each_partitions_events_exactly_through_a_sigkill_and_stays_bounded() {
    let started = Instant::now();
    let topics = Topics::create(&shared_broker(), PARTITIONS);
    // Records other apps wrote: not events of their topic, never sampled
    // nor counted.
    let input = topics.input();
    produce_raw(&topics, &input, None, b"\x00 not json", None);
    produce_raw(
        &topics,
        &input,
        None,
        br#"{"topic":"edm-trending-sample","event":{},"stands_for":99}"#,
        None,
    );
    let as_page_load = br#"{"topic":"edm-ui-pageload","uuid":"v","event_timestamp":1763800000000,"properties":{"user_agent":"x","url":""}}"#;
    produce_raw(&topics, &input, None, as_page_load, None);
    let env = [("EDM_TRENDING_TRANSACTION_TIMEOUT_MS", "5000")];
    let mut a = Instance::start(&topics, "sample-a", &env);
    let b = Instance::start(&topics, "sample-b", &env);
    wait_for(
        "the two instances to share the work",
        Duration::from_secs(60),
        || {
            a.metric("edm_trending_window_tasks") > 0.0
                && b.metric("edm_trending_window_tasks") > 0.0
        },
    );
    let producing = {
        let topics = topics.clone();
        std::thread::spawn(move || produce_live(&topics))
    };
    wait_for(
        "the first instance to write samples",
        Duration::from_secs(60),
        || a.metric("edm_trending_sample_records_total") > 0.0,
    );
    a.kill(); // mid-stream, its transaction open or not
    producing.join().unwrap();

    let events = valid_events(&topics);
    assert_eq!(
        events.len(),
        CLICKS + PAGE_LOADS,
        "the invalid ones are not events"
    );
    let mut expected: BTreeMap<SampleSource, u64> = BTreeMap::new();
    for (source, _) in events.keys() {
        *expected.entry(*source).or_default() += 1;
    }
    let mut records = Vec::new();
    wait_for(
        "the sample to state every event",
        Duration::from_secs(90),
        || {
            records = sample(&topics);
            stated(&records) == expected
        },
    );
    assert_eq!(
        stated(&records),
        expected,
        "each partition's events, exactly"
    );

    let mut seen = BTreeSet::new();
    let mut per_second: BTreeMap<(SampleSource, i64), usize> = BTreeMap::new();
    for r in &records {
        assert!(
            seen.insert((r.source, r.offset)),
            "{}@{} sampled twice",
            r.source,
            r.offset
        );
        let read = events
            .get(&(r.source, r.offset))
            .unwrap_or_else(|| panic!("{}@{} is not a valid event", r.source, r.offset));
        assert_eq!(
            &r.event, read,
            "{}@{}: the event at that offset",
            r.source, r.offset
        );
        *per_second.entry((r.source, r.second)).or_default() += 1;
    }
    for ((source, second), n) in &per_second {
        assert!(
            *n <= K * CYCLES_PER_SECOND,
            "{source} in second {second}: {n} records, more than k = {K} per cycle"
        );
    }
    // Bounded: the input ran at about 170 clicks and 55 page loads a second
    // per partition, the sample at most 22 records.
    assert!(
        records.len() * 2 < events.len(),
        "{} records for {} events",
        records.len(),
        events.len()
    );
    assert!(b.metric("edm_trending_sample_records_total") > 0.0);
    let by_source: BTreeMap<String, usize> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.source.to_string()).or_default() += 1;
        m
    });
    eprintln!(
        "{} sample records for {} events ({by_source:?}), busiest second {:?}, {:?}",
        records.len(),
        events.len(),
        per_second.values().max(),
        started.elapsed()
    );
}
