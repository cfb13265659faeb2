//! [`Sampler`]: the repartition stage's sample of the store's events, for
//! the public topic `edm-trending-sample` ([`edm_events::SampleRecord`]).
//!
//! Per input partition, each cycle keeps a uniform sample of at most `k`
//! of the valid events it reads there (a reservoir, Algorithm R: the
//! `i`-th event replaces a random kept one with probability `k / i`, so
//! every event read is kept with the same probability), and at the end of
//! the cycle the `m = min(n, k)` kept of the `n` read become `m` records
//! whose `stands_for` add up to exactly `n` ([`edm_events::sample::stands_for`]).
//! `k` is `EDM_TRENDING_SAMPLE_PER_SECOND` times the commit interval,
//! rounded up ([`Sampler::per_cycle`]), so the sample's rate follows the
//! cycles, not the input.
//!
//! The per-event cost is a counter and, rarely (about `k · ln(n / k)`
//! times a cycle), a copy of a kept event's text: the reservoir holds at
//! most `k` (offset, text) per partition. An event longer than
//! [`KEPT_AS_READ_BYTES`] (fields no topic defines) is kept as the fields
//! its topic defines, which bounds the memory to about `k` times 17 KiB
//! per partition whatever other producers write.

use std::collections::BTreeMap;
use std::time::Duration;

use edm_config::Topic;
use edm_events::sample::stands_for;
use edm_events::{Event, SampleRecord, SampleSource};

use crate::progress::{source_of, InputTopic};

/// The most events kept per partition per cycle, whatever the settings
/// say (memory: see the module documentation).
pub const MAX_PER_CYCLE: usize = 1_000;

/// The longest event text kept as it was read; longer ones are kept as
/// the fields their topic defines ([`Event::to_json`]).
pub const KEPT_AS_READ_BYTES: usize = 8 * 1024;

/// One event kept.
#[derive(Debug, Clone)]
struct Kept {
    offset: i64,
    text: String,
}

/// One input partition's reservoir in the open cycle.
#[derive(Debug, Default)]
struct Reservoir {
    /// Valid events read (`n`).
    seen: u64,
    /// At most `k` of them, uniformly.
    kept: Vec<Kept>,
}

/// One `edm-trending-sample` record, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleOut {
    /// Its key: the source, e.g. `edm-ui-click/2`.
    pub key: String,
    /// Its JSON text.
    pub value: Vec<u8>,
}

/// The open cycle's reservoirs, by source id.
pub struct Sampler {
    /// `k`: the most events kept per partition per cycle.
    per_cycle: usize,
    rng: fastrand::Rng,
    reservoirs: BTreeMap<i32, Reservoir>,
}

impl Sampler {
    /// `k` for `per_second` events per partition per second and cycles of
    /// `commit_interval`: `ceil(per_second × interval in seconds)`, at most
    /// [`MAX_PER_CYCLE`]; `None` when `per_second` is 0 (no sample).
    pub fn per_cycle(per_second: u32, commit_interval: Duration) -> Option<usize> {
        if per_second == 0 {
            return None;
        }
        let k = (u128::from(per_second) * commit_interval.as_millis()).div_ceil(1000);
        Some(
            usize::try_from(k)
                .unwrap_or(usize::MAX)
                .clamp(1, MAX_PER_CYCLE),
        )
    }

    /// A sampler keeping at most `per_cycle` events per partition per
    /// cycle (at least 1, at most [`MAX_PER_CYCLE`]), seeded at random.
    pub fn new(per_cycle: usize) -> Self {
        Self::with_rng(per_cycle, fastrand::Rng::new())
    }

    /// The same, with a fixed seed (tests).
    pub fn with_seed(per_cycle: usize, seed: u64) -> Self {
        Self::with_rng(per_cycle, fastrand::Rng::with_seed(seed))
    }

    fn with_rng(per_cycle: usize, rng: fastrand::Rng) -> Self {
        Self {
            per_cycle: per_cycle.clamp(1, MAX_PER_CYCLE),
            rng,
            reservoirs: BTreeMap::new(),
        }
    }

    /// `k`.
    pub fn capacity(&self) -> usize {
        self.per_cycle
    }

    /// One valid event read from source `source` at `offset`; `text` gives
    /// its JSON text, asked for only when the event is kept.
    pub fn offer(&mut self, source: i32, offset: i64, text: impl FnOnce() -> String) {
        let reservoir = self.reservoirs.entry(source).or_default();
        reservoir.seen += 1;
        if reservoir.kept.len() < self.per_cycle {
            reservoir.kept.push(Kept {
                offset,
                text: text(),
            });
            return;
        }
        let slot = self.rng.u64(0..reservoir.seen);
        if let Some(kept) = usize::try_from(slot)
            .ok()
            .and_then(|i| reservoir.kept.get_mut(i))
        {
            *kept = Kept {
                offset,
                text: text(),
            };
        }
    }

    /// The open cycle's records, written in the processing-time second
    /// `second` (epoch ms, a multiple of 1,000), and a fresh cycle: for
    /// each partition that read events, its kept ones in offset order,
    /// their `stands_for` adding up to the events read.
    pub fn take(&mut self, second: i64) -> Vec<SampleOut> {
        let mut out = Vec::new();
        for (source, mut reservoir) in std::mem::take(&mut self.reservoirs) {
            let Some(source) = sample_source(source) else {
                continue;
            };
            reservoir.kept.sort_by_key(|k| k.offset);
            let shares = stands_for(reservoir.seen, reservoir.kept.len());
            for (kept, share) in reservoir.kept.iter().zip(shares) {
                match SampleRecord::json_text(&kept.text, share, source, kept.offset, second) {
                    Ok(value) => out.push(SampleOut {
                        key: source.to_string(),
                        value,
                    }),
                    // The text is an event's that parsed: not reached.
                    Err(e) => {
                        tracing::error!(%source, offset = kept.offset, "a sampled event's text: {e}")
                    }
                }
            }
        }
        out
    }

    /// The open cycle aborted: nothing of it is kept.
    pub fn clear(&mut self) {
        self.reservoirs.clear();
    }
}

/// The text a sampled event is kept as: `payload` as it was read, or, when
/// longer than [`KEPT_AS_READ_BYTES`] (or not UTF-8, which a parsed event
/// never is), `event`'s known fields.
pub fn kept_text(payload: &[u8], event: &Event) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) if text.len() <= KEPT_AS_READ_BYTES => text.to_owned(),
        _ => event.to_json(),
    }
}

/// The sample's name for source id `source`.
fn sample_source(source: i32) -> Option<SampleSource> {
    let (topic, partition) = source_of(source);
    let topic = match topic {
        InputTopic::Clicks => Topic::Click,
        InputTopic::PageLoads => Topic::PageLoad,
    };
    SampleSource::new(topic, partition).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{source_id, PAGE_LOAD_SOURCES};

    fn click(n: i64) -> String {
        format!(
            r#"{{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{{"button_id":"p-{n}"}}}}"#
        )
    }

    fn page_load(n: i64) -> String {
        format!(
            r#"{{"topic":"edm-ui-pageload","uuid":"v-{n}","event_timestamp":1763800000000,"properties":{{"user_agent":"curl","url":""}}}}"#
        )
    }

    #[test]
    fn k_is_the_rate_over_a_cycle_rounded_up_and_bounded() {
        let ms = Duration::from_millis;
        assert_eq!(Sampler::per_cycle(20, ms(100)), Some(2));
        assert_eq!(Sampler::per_cycle(25, ms(100)), Some(3));
        assert_eq!(Sampler::per_cycle(1, ms(10)), Some(1));
        assert_eq!(Sampler::per_cycle(10_000, ms(100)), Some(1_000));
        assert_eq!(Sampler::per_cycle(10_000, ms(60_000)), Some(MAX_PER_CYCLE));
        assert_eq!(Sampler::per_cycle(0, ms(100)), None);
    }

    #[test]
    fn every_event_read_is_equally_likely_to_be_kept() {
        // 20,000 cycles of 50 events, k = 5: each is kept with p = 0.1,
        // 2,000 times expected (sd 42); 6% is over five sd.
        const CYCLES: u64 = 20_000;
        const N: i64 = 50;
        const K: usize = 5;
        let mut sampler = Sampler::with_seed(K, 7);
        let mut times = [0u64; N as usize];
        for cycle in 0..CYCLES {
            for offset in 0..N {
                sampler.offer(0, offset, || click(offset));
            }
            let out = sampler.take(1_763_800_000_000 + cycle as i64 * 1000);
            assert_eq!(out.len(), K);
            for record in out {
                let record = SampleRecord::parse(&record.value).unwrap();
                times[record.offset as usize] += 1;
            }
        }
        let expected = CYCLES as f64 * K as f64 / N as f64;
        for (offset, &n) in times.iter().enumerate() {
            let off = (n as f64 - expected).abs() / expected;
            assert!(
                off < 0.06,
                "offset {offset}: kept {n} times, {expected} expected"
            );
        }
        // The first and the last events are not favoured.
        let first: u64 = times[..10].iter().sum();
        let last: u64 = times[40..].iter().sum();
        assert!(
            (first as f64 / last as f64 - 1.0).abs() < 0.03,
            "{first} {last}"
        );
    }

    #[test]
    fn each_partition_writes_at_most_k_records_standing_for_what_it_read() {
        let mut sampler = Sampler::with_seed(7, 1);
        let pages = source_id(InputTopic::PageLoads, 3);
        for offset in 100..1_100 {
            sampler.offer(2, offset, || click(offset));
        }
        for offset in 0..4 {
            sampler.offer(pages, offset, || page_load(offset));
        }
        let out = sampler.take(1_763_800_001_000);
        let records: Vec<SampleRecord> = out
            .iter()
            .map(|o| SampleRecord::parse(&o.value).unwrap())
            .collect();
        let clicks: Vec<&SampleRecord> = records
            .iter()
            .filter(|r| r.source.topic == Topic::Click)
            .collect();
        assert_eq!(clicks.len(), 7, "k records of the busy partition");
        assert_eq!(clicks.iter().map(|r| r.stands_for).sum::<u64>(), 1_000);
        assert!(clicks.windows(2).all(|w| w[0].offset < w[1].offset));
        for (record, out) in records.iter().zip(&out) {
            assert_eq!(out.key, record.key());
            assert_eq!(record.second, 1_763_800_001_000);
            // The event is the one read at that offset.
            let expected = if record.source.topic == Topic::Click {
                click(record.offset)
            } else {
                page_load(record.offset)
            };
            assert_eq!(record.event, Event::parse(expected.as_bytes()).unwrap());
        }
        let loads: Vec<&SampleRecord> = records
            .iter()
            .filter(|r| r.source.topic == Topic::PageLoad)
            .collect();
        assert_eq!(loads.len(), 4, "fewer than k read: all kept");
        assert!(loads.iter().all(|r| r.stands_for == 1));
        assert_eq!(loads[0].key(), "edm-ui-pageload/3");
        assert_eq!(clicks[0].key(), "edm-ui-click/2");
        // The next cycle starts empty; an aborted one writes nothing.
        assert!(sampler.take(0).is_empty());
        sampler.offer(PAGE_LOAD_SOURCES, 0, || page_load(0));
        sampler.clear();
        assert!(sampler.take(0).is_empty());
    }

    #[test]
    fn a_long_event_is_kept_as_its_known_fields() {
        let padded = format!(
            r#"{{"topic":"edm-ui-click","uuid":"v","event_timestamp":1763800000000,"properties":{{"button_id":"kit"}},"padding":"{}"}}"#,
            "x".repeat(KEPT_AS_READ_BYTES)
        );
        let event = Event::parse(padded.as_bytes()).unwrap();
        let kept = kept_text(padded.as_bytes(), &event);
        assert!(!kept.contains("padding"));
        assert_eq!(Event::parse(kept.as_bytes()).unwrap(), event);
        let short = click(1);
        let event = Event::parse(short.as_bytes()).unwrap();
        assert_eq!(kept_text(short.as_bytes(), &event), short);
    }
}
