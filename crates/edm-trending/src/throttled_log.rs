//! [`Throttled`]: a warning that another producer's records could repeat
//! thousands of times a second is logged at most once per interval, with
//! how many were not logged in between (the metrics count every one).

use std::time::{Duration, Instant};

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
