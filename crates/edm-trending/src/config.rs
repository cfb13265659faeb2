//! [`TrendingConfig`]: the parameters of the windowed count (grace period,
//! how many products a result lists, the bounds on open counts, and
//! whether records read twice are recognised), checked once when built so
//! the store never sees a meaningless value.

use thiserror::Error;

/// The processor's parameters. Build one with [`TrendingConfig::new`] (or
/// take the [`Default`]); the fields are private so every config in use has
/// been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendingConfig {
    grace_ms: i64,
    top_n: usize,
    max_open_entries: usize,
    max_products_per_window: usize,
    skip_repeated_sources: bool,
}

/// A parameter [`TrendingConfig::new`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The grace period is negative.
    #[error("the grace period must be 0 ms or more, got {grace_ms} ms")]
    NegativeGrace {
        /// The refused grace period.
        grace_ms: i64,
    },
    /// A result would list no product.
    #[error("a window result must list at least 1 product (top_n is 0)")]
    ZeroTopN,
    /// No count could ever be stored.
    #[error("the store must hold at least 1 open count (max_open_entries is 0)")]
    ZeroMaxOpenEntries,
    /// A window could not hold as many products as a result lists.
    #[error("a window must hold at least as many products as a result lists ({top_n}), got {max_products_per_window}")]
    ProductsPerWindowBelowTopN {
        /// The refused bound.
        max_products_per_window: usize,
        /// Products per result.
        top_n: usize,
    },
}

impl TrendingConfig {
    /// Grace period of the [`Default`] config: one minute.
    pub const DEFAULT_GRACE_MS: i64 = 60_000;
    /// Products per result in the [`Default`] config.
    pub const DEFAULT_TOP_N: usize = 10;
    /// Bound on open counts in the [`Default`] config.
    pub const DEFAULT_MAX_OPEN_ENTRIES: usize = 100_000;
    /// Products one window holds in the [`Default`] config.
    pub const DEFAULT_MAX_PRODUCTS_PER_WINDOW: usize = 1_000;

    /// A config with these parameters:
    /// - `grace_ms`: how long after a window's end late events are still
    ///   counted in it (0 or more; a window closes when the watermark reaches
    ///   `end + grace_ms`).
    /// - `top_n`: how many products a window's result lists (1 or more).
    /// - `max_open_entries`: the most (window, product) counts the store
    ///   holds at once (1 or more); an event that would need one more is
    ///   dropped for that window if the window holds no product yet, and
    ///   counted in
    ///   [`SpecCounters::over_limit_drops`](crate::SpecCounters::over_limit_drops);
    ///   in a window that holds products, it takes the place of the
    ///   least-clicked one (see [`counts`](crate::counts)).
    ///
    /// Each window holds [`DEFAULT_MAX_PRODUCTS_PER_WINDOW`](Self::DEFAULT_MAX_PRODUCTS_PER_WINDOW)
    /// products at most (or `top_n`, if more; see
    /// [`with_max_products_per_window`](Self::with_max_products_per_window)).
    pub fn new(grace_ms: i64, top_n: usize, max_open_entries: usize) -> Result<Self, ConfigError> {
        if grace_ms < 0 {
            return Err(ConfigError::NegativeGrace { grace_ms });
        }
        if top_n == 0 {
            return Err(ConfigError::ZeroTopN);
        }
        if max_open_entries == 0 {
            return Err(ConfigError::ZeroMaxOpenEntries);
        }
        Ok(Self {
            grace_ms,
            top_n,
            max_open_entries,
            max_products_per_window: Self::DEFAULT_MAX_PRODUCTS_PER_WINDOW.max(top_n),
            skip_repeated_sources: false,
        })
    }

    /// The same config with windows of at most `max` products (at least
    /// `top_n`): past it, a new product takes the place of the
    /// least-clicked one.
    pub fn with_max_products_per_window(self, max: usize) -> Result<Self, ConfigError> {
        if max < self.top_n {
            return Err(ConfigError::ProductsPerWindowBelowTopN {
                max_products_per_window: max,
                top_n: self.top_n,
            });
        }
        Ok(Self {
            max_products_per_window: max,
            ..self
        })
    }

    /// The same config, recognising clicks read twice by their input
    /// offset (at least once processing writes a click again after a
    /// crash). Exactly-once processing never writes one twice.
    pub fn with_repeated_sources_skipped(self, skip: bool) -> Self {
        Self {
            skip_repeated_sources: skip,
            ..self
        }
    }

    /// How long after a window's end late events are still counted, in ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// How many products a window's result lists at most.
    pub fn top_n(&self) -> usize {
        self.top_n
    }

    /// The most (window, product) counts the store holds at once.
    pub fn max_open_entries(&self) -> usize {
        self.max_open_entries
    }

    /// The most products one window holds.
    pub fn max_products_per_window(&self) -> usize {
        self.max_products_per_window
    }

    /// Whether a click whose input offset was already counted is skipped.
    pub fn skips_repeated_sources(&self) -> bool {
        self.skip_repeated_sources
    }
}

impl Default for TrendingConfig {
    fn default() -> Self {
        Self {
            grace_ms: Self::DEFAULT_GRACE_MS,
            top_n: Self::DEFAULT_TOP_N,
            max_open_entries: Self::DEFAULT_MAX_OPEN_ENTRIES,
            max_products_per_window: Self::DEFAULT_MAX_PRODUCTS_PER_WINDOW,
            skip_repeated_sources: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meaningless_parameters_are_refused_with_the_reason() {
        assert_eq!(
            TrendingConfig::new(-1, 10, 100),
            Err(ConfigError::NegativeGrace { grace_ms: -1 })
        );
        assert_eq!(TrendingConfig::new(0, 0, 100), Err(ConfigError::ZeroTopN));
        assert_eq!(
            TrendingConfig::new(0, 10, 0),
            Err(ConfigError::ZeroMaxOpenEntries)
        );
        assert!(ConfigError::NegativeGrace { grace_ms: -5 }
            .to_string()
            .contains("-5 ms"));
        assert_eq!(
            TrendingConfig::new(0, 10, 100)
                .unwrap()
                .with_max_products_per_window(9),
            Err(ConfigError::ProductsPerWindowBelowTopN {
                max_products_per_window: 9,
                top_n: 10
            })
        );
    }

    #[test]
    fn the_smallest_and_largest_parameters_are_accepted_as_given() {
        let small = TrendingConfig::new(0, 1, 1).unwrap();
        assert_eq!(
            (small.grace_ms(), small.top_n(), small.max_open_entries()),
            (0, 1, 1)
        );
        let large = TrendingConfig::new(i64::MAX, usize::MAX, usize::MAX).unwrap();
        assert_eq!(large.grace_ms(), i64::MAX);
        let default = TrendingConfig::default();
        assert_eq!(
            TrendingConfig::new(
                default.grace_ms(),
                default.top_n(),
                default.max_open_entries()
            ),
            Ok(default)
        );
    }
}
