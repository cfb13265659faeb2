//! A click's event time: when it happened, in epoch milliseconds, as the
//! windows see it, and the range of event times the core accepts.

/// Earliest accepted event time: the epoch, 1970-01-01T00:00:00Z.
pub const MIN_EVENT_TIME_MS: i64 = 0;
/// Latest accepted event time: 9999-12-31T23:59:59.999Z in epoch ms.
pub const MAX_EVENT_TIME_MS: i64 = 253_402_300_799_999;

/// The event time of a click: its `event_timestamp` (the browser's clock),
/// but never later than the Kafka record's timestamp when that is known.
///
/// A click cannot happen after edm-relay wrote it to Kafka, and a browser
/// whose clock runs ahead would otherwise move stream time into the future
/// and close every open window at once. Pass `None` when the record has no
/// timestamp (rdkafka's `Timestamp::NotAvailable`).
pub fn event_time(event_timestamp: i64, record_timestamp: Option<i64>) -> i64 {
    match record_timestamp {
        Some(record) => event_timestamp.min(record),
        None => event_timestamp,
    }
}

/// Whether `ms` is an event time the core accepts
/// ([`MIN_EVENT_TIME_MS`]`..=`[`MAX_EVENT_TIME_MS`]).
pub fn is_valid_event_time(ms: i64) -> bool {
    (MIN_EVENT_TIME_MS..=MAX_EVENT_TIME_MS).contains(&ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_click_is_never_later_than_its_kafka_record() {
        // The browser's clock is an hour ahead: the record's time wins.
        assert_eq!(
            event_time(1_700_003_600_000, Some(1_700_000_000_000)),
            1_700_000_000_000
        );
        // The usual case: the click happened shortly before the relay wrote it.
        assert_eq!(
            event_time(1_699_999_999_000, Some(1_700_000_000_000)),
            1_699_999_999_000
        );
        // Unknown record time: the browser's time is all there is.
        assert_eq!(event_time(1_700_003_600_000, None), 1_700_003_600_000);
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
