//! [`Throttled`]: a warning that another producer's records could repeat
//! thousands of times a second is logged at most once per interval, with
//! how many were not logged in between (the metrics count every one); and
//! [`cap_to_clock`], the one such warning two stages share.

use std::time::{Duration, Instant};

use crate::event_time::{Adjustment, Clock};
use crate::metrics::Metrics;

/// How often a throttled warning is logged at most.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One kind of warning's throttle.
#[derive(Debug, Default)]
pub struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    /// `Some(n)` when the warning may be logged now, `n` being how many
    /// were held back since the last one; `None` to hold this one back.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < LOG_INTERVAL) {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Caps `time`, read at `offset` from an internal topic (`topic`, as the
/// warning names it), at the clock plus the allowed skew: no record moves
/// time past it, whoever wrote it. A capped time is counted and logged
/// (through `capped`).
pub fn cap_to_clock(
    time: &mut i64,
    clock: Clock,
    capped: &mut Throttled,
    metrics: &Metrics,
    offset: i64,
    topic: &str,
) {
    let (at, was_capped) = clock.cap(*time);
    if !was_capped {
        return;
    }
    *time = at;
    metrics.note_adjusted_time(Adjustment::AheadOfClock);
    if let Some(held_back) = capped.allow() {
        tracing::warn!(
            offset,
            held_back,
            capped_at = at,
            "a {topic} record is dated after this processor's clock plus \
             EDM_TRENDING_MAX_CLOCK_SKEW_SECS (another producer wrote it?); capped there"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_warning_is_logged_and_the_next_ones_are_counted() {
        let mut throttled = Throttled::default();
        assert_eq!(throttled.allow(), Some(0));
        assert_eq!(throttled.allow(), None);
        assert_eq!(throttled.allow(), None);
        throttled.last = Some(Instant::now() - LOG_INTERVAL);
        assert_eq!(throttled.allow(), Some(2));
    }
}
