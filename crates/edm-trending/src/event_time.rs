//! A click's event time: when it happened, in epoch milliseconds, as the
//! windows see it; the range of event times the core accepts; and the cap
//! the processor's clock puts on them, so that no single record (from a
//! browser whose clock runs ahead, or from another producer writing straight
//! to the topic) moves time.

/// Earliest accepted event time: the epoch, 1970-01-01T00:00:00Z.
pub const MIN_EVENT_TIME_MS: i64 = 0;
/// Latest accepted event time: 9999-12-31T23:59:59.999Z in epoch ms.
pub const MAX_EVENT_TIME_MS: i64 = 253_402_300_799_999;

/// The processor's clock and how far ahead of it an event time may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Now, in epoch ms.
    pub now_ms: i64,
    /// `EDM_TRENDING_MAX_CLOCK_SKEW_SECS` in ms: how far the clocks that
    /// stamp records may run ahead of this one.
    pub max_skew_ms: i64,
}

impl Clock {
    /// The latest event time this clock accepts as it is: now plus the
    /// allowed skew.
    pub fn latest(&self) -> i64 {
        self.now_ms.saturating_add(self.max_skew_ms)
    }

    /// `time`, or [`latest`](Self::latest) if it is later; and whether it
    /// was capped.
    pub fn cap(&self, time: i64) -> (i64, bool) {
        let latest = self.latest();
        if time > latest {
            (latest, true)
        } else {
            (time, false)
        }
    }
}

/// Why a click's event time is not simply its browser's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Adjustment {
    /// The Kafka record had no usable timestamp (none, -1 or before the
    /// epoch): the time the processor read it stood in for it.
    NoRecordTime,
    /// The time was later than the processor's clock plus the allowed skew
    /// and was capped there.
    AheadOfClock,
}

impl Adjustment {
    /// The metric label: `no_record_time` or `ahead_of_clock`.
    pub fn label(self) -> &'static str {
        match self {
            Adjustment::NoRecordTime => "no_record_time",
            Adjustment::AheadOfClock => "ahead_of_clock",
        }
    }
}

/// A click's event time and how it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// The event time, epoch ms.
    pub ms: i64,
    /// What was done to it, if anything (the most telling one).
    pub adjustment: Option<Adjustment>,
}

/// The event time of a click: its `event_timestamp` (the browser's clock),
/// but never later than the Kafka record's timestamp, nor than `clock`
/// allows.
///
/// A click cannot happen after edm-relay wrote it to Kafka, and a browser
/// whose clock runs ahead would otherwise move time into the future. A
/// record timestamp that is missing, -1 or before the epoch (any producer
/// can write one) is replaced by `clock.now_ms`, the time the click was
/// read; a time past `clock`'s latest is capped there.
pub fn event_time(event_timestamp: i64, record_timestamp: Option<i64>, clock: Clock) -> EventTime {
    let (record, mut adjustment) = match record_timestamp.filter(|t| is_valid_event_time(*t)) {
        Some(record) => (record, None),
        None => (clock.now_ms, Some(Adjustment::NoRecordTime)),
    };
    let (ms, capped) = clock.cap(event_timestamp.min(record));
    if capped {
        adjustment = Some(Adjustment::AheadOfClock);
    }
    EventTime { ms, adjustment }
}

/// Whether `ms` is an event time the core accepts
/// ([`MIN_EVENT_TIME_MS`]`..=`[`MAX_EVENT_TIME_MS`]).
pub fn is_valid_event_time(ms: i64) -> bool {
    (MIN_EVENT_TIME_MS..=MAX_EVENT_TIME_MS).contains(&ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const CLOCK: Clock = Clock {
        now_ms: NOW,
        max_skew_ms: 5_000,
    };

    #[test]
    fn a_click_is_never_later_than_its_kafka_record() {
        // The browser's clock is a minute ahead: the record's time wins.
        assert_eq!(
            event_time(NOW + 60_000, Some(NOW - 1_000), CLOCK),
            EventTime {
                ms: NOW - 1_000,
                adjustment: None
            }
        );
        // The usual case: the click happened shortly before the relay wrote it.
        assert_eq!(
            event_time(NOW - 2_000, Some(NOW - 1_000), CLOCK),
            EventTime {
                ms: NOW - 2_000,
                adjustment: None
            }
        );
    }

    #[test]
    fn no_record_moves_time_past_the_clock() {
        // Written by another producer 40 minutes and 10 years ahead.
        for ahead in [40 * 60_000, 10 * 365 * 86_400_000] {
            assert_eq!(
                event_time(NOW + ahead, Some(NOW + ahead), CLOCK),
                EventTime {
                    ms: NOW + 5_000,
                    adjustment: Some(Adjustment::AheadOfClock)
                }
            );
        }
        // Within the allowed skew: taken as it is.
        assert_eq!(
            event_time(NOW + 4_000, Some(NOW + 5_000), CLOCK).adjustment,
            None
        );
    }

    #[test]
    fn a_record_without_a_usable_timestamp_is_read_at_arrival() {
        for record in [None, Some(-1), Some(i64::MIN), Some(MAX_EVENT_TIME_MS + 1)] {
            assert_eq!(
                event_time(NOW + 3_600_000, record, CLOCK),
                EventTime {
                    ms: NOW,
                    adjustment: Some(Adjustment::NoRecordTime)
                },
                "{record:?}"
            );
        }
        // The browser's earlier time still counts.
        assert_eq!(event_time(NOW - 9_000, Some(-1), CLOCK).ms, NOW - 9_000);
    }

    #[test]
    fn the_accepted_range_runs_from_the_epoch_to_the_end_of_year_9999() {
        assert!(is_valid_event_time(0));
        assert!(is_valid_event_time(1_700_000_000_000));
        assert!(is_valid_event_time(MAX_EVENT_TIME_MS));
        assert!(!is_valid_event_time(-1));
        assert!(!is_valid_event_time(MAX_EVENT_TIME_MS + 1));
        assert!(!is_valid_event_time(i64::MIN));
        assert!(!is_valid_event_time(i64::MAX));
        // 10000-01-01T00:00:00Z is one millisecond after the last accepted time.
        assert_eq!(MAX_EVENT_TIME_MS + 1, 253_402_300_800_000);
    }
}
