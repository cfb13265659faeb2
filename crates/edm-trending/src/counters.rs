//! [`Counters`]: what the store has dropped, refused and emitted since it
//! was built, as plain numbers the runtime exports as metrics.
//!
//! Counters are metrics, not state: they are not in the changelog and start
//! at zero in a restored store. All of them saturate instead of wrapping.

use crate::window::WindowSpec;

/// Counts kept per window spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecCounters {
    /// (event, window) pairs not counted because the window had closed:
    /// its `end + grace` was at or before the watermark. An event late for
    /// all five of its `5m` windows adds 5.
    pub late_drops: u64,
    /// (event, window) pairs not counted because the event's product was
    /// new in that window and the store already held
    /// [`max_open_entries`](crate::TrendingConfig::max_open_entries) counts.
    pub over_limit_drops: u64,
    /// Window results emitted when windows closed.
    pub windows_emitted: u64,
    /// Results written again because late clicks came for a closed window.
    pub late_updates_emitted: u64,
    /// Times a product new to a full window took the place of the
    /// least-clicked one (the window's counts became upper bounds).
    pub products_replaced: u64,
}

/// Everything the store counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// The `1m` windows' counts.
    pub one_minute: SpecCounters,
    /// The `5m` windows' counts.
    pub five_minutes: SpecCounters,
    /// Events with a valid event time and button id that were counted in no
    /// window at all (late for, or over the limit in, every window).
    pub events_in_no_window: u64,
    /// Records refused because their event time is outside
    /// [`MIN_EVENT_TIME_MS`](crate::MIN_EVENT_TIME_MS)`..=`[`MAX_EVENT_TIME_MS`](crate::MAX_EVENT_TIME_MS).
    pub invalid_event_times: u64,
    /// Records refused because their button id is longer than
    /// [`MAX_BUTTON_ID_BYTES`](crate::MAX_BUTTON_ID_BYTES).
    pub invalid_button_ids: u64,
    /// Clicks skipped because their input offset was already counted
    /// (only when [`skips_repeated_sources`](crate::TrendingConfig::skips_repeated_sources)).
    pub repeated_sources: u64,
    /// Progress records refused because they name a partition the input
    /// topic does not have.
    pub unknown_partitions: u64,
    /// Page loads not counted because their minute had closed.
    pub late_page_loads: u64,
    /// Page loads not counted because their minute would have been new
    /// while the store held `max_open_entries` counts.
    pub over_limit_page_loads: u64,
}

impl Counters {
    /// The counts of one spec.
    pub fn spec(&self, spec: WindowSpec) -> &SpecCounters {
        match spec {
            WindowSpec::OneMinute => &self.one_minute,
            WindowSpec::FiveMinutes => &self.five_minutes,
        }
    }

    pub(crate) fn spec_mut(&mut self, spec: WindowSpec) -> &mut SpecCounters {
        match spec {
            WindowSpec::OneMinute => &mut self.one_minute,
            WindowSpec::FiveMinutes => &mut self.five_minutes,
        }
    }
}

/// Adds one to `counter`, staying at `u64::MAX` once there.
pub(crate) fn increment(counter: &mut u64) {
    add(counter, 1);
}

/// Adds `n` to `counter`, saturating.
pub(crate) fn add(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spec_has_its_own_counters_and_they_saturate() {
        let mut counters = Counters::default();
        increment(&mut counters.spec_mut(WindowSpec::FiveMinutes).late_drops);
        assert_eq!(counters.five_minutes.late_drops, 1);
        assert_eq!(counters.spec(WindowSpec::OneMinute).late_drops, 0);
        counters.one_minute.windows_emitted = u64::MAX;
        increment(&mut counters.spec_mut(WindowSpec::OneMinute).windows_emitted);
        assert_eq!(counters.one_minute.windows_emitted, u64::MAX);
    }
}
