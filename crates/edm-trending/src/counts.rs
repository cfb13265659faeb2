//! [`WindowCounts`]: the clicks of each product in one open window, at
//! most a fixed number of products, with the Space-Saving rule for the
//! rest (Metwally, Agrawal and El Abbadi, 2005).
//!
//! While the window holds fewer products than its capacity every count is
//! exact. A new product arriving when it is full takes the place of the
//! product with the fewest clicks (the smallest button id among equals),
//! starting from that count plus one and remembering the inherited count as
//! its `overcount`. So, with `n` clicks in the window and capacity `k`:
//! - the counts still add up to `n`;
//! - a listed product's true count lies in `[count - overcount, count]`,
//!   and `overcount <= n / k`;
//! - every product with more than `n / k` clicks is listed.
//!
//! One client inventing a new product per click therefore cannot push a
//! real product with more than `n / k` clicks out of the window, and the
//! memory of a window stays within `k` products. The rule depends only on
//! the counts and the order of the clicks, so a window restored from the
//! changelog goes on exactly as the original.

use std::collections::{BTreeMap, BTreeSet};

/// One product's count in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Clicks counted for the product (at least 1).
    pub clicks: u64,
    /// How many of `clicks` it inherited from the product whose place it
    /// took (0 when exact). Always less than `clicks`.
    pub overcount: u64,
}

/// What counting one click did to the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// The product's count is now this.
    Updated(Count),
    /// The product took the place of `evicted`, with this count.
    Replaced {
        /// The product that left the window.
        evicted: String,
        /// The new product's count.
        count: Count,
    },
}

/// The counts of one open window.
#[derive(Debug, Clone, Default)]
pub struct WindowCounts {
    counts: BTreeMap<String, Count>,
    /// The counts ordered by (clicks, button id), built at the window's
    /// first replacement: the least-clicked product is its first entry.
    by_clicks: Option<BTreeSet<(u64, String)>>,
    /// Clicks counted, all products together.
    clicks: u64,
}

impl WindowCounts {
    /// A window with these counts (from a restore).
    pub(crate) fn from_counts(counts: BTreeMap<String, Count>) -> Self {
        let clicks = counts
            .values()
            .fold(0u64, |sum, c| sum.saturating_add(c.clicks));
        Self {
            counts,
            by_clicks: None,
            clicks,
        }
    }

    /// How many products the window holds.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether the window holds no product.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Clicks counted, all products together.
    pub fn clicks(&self) -> u64 {
        self.clicks
    }

    /// The products and their counts, by button id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Count)> {
        self.counts.iter()
    }

    /// Adds `clicks` (at least 1) of a product the window holds; `None` if
    /// it holds none.
    pub(crate) fn increment(&mut self, button_id: &str, clicks: u64) -> Option<Count> {
        let count = self.counts.get_mut(button_id)?;
        if let Some(index) = self.by_clicks.as_mut() {
            index.remove(&(count.clicks, button_id.to_owned()));
            index.insert((count.clicks.saturating_add(clicks), button_id.to_owned()));
        }
        count.clicks = count.clicks.saturating_add(clicks);
        self.clicks = self.clicks.saturating_add(clicks);
        Some(*count)
    }

    /// Adds a product new to the window with `clicks` (at least 1).
    pub(crate) fn insert(&mut self, button_id: &str, clicks: u64) -> Count {
        let count = Count {
            clicks,
            overcount: 0,
        };
        self.counts.insert(button_id.to_owned(), count);
        if let Some(index) = self.by_clicks.as_mut() {
            index.insert((clicks, button_id.to_owned()));
        }
        self.clicks = self.clicks.saturating_add(clicks);
        count
    }

    /// Puts a product new to the window, with `clicks` (at least 1), in the
    /// place of the least-clicked one (the window must hold at least one
    /// product): its count starts from that one's.
    pub(crate) fn replace_least(&mut self, button_id: &str, clicks: u64) -> Option<Counted> {
        let counts = &self.counts;
        let index = self.by_clicks.get_or_insert_with(|| {
            counts
                .iter()
                .map(|(id, c)| (c.clicks, id.clone()))
                .collect()
        });
        let (least, evicted) = index.pop_first()?;
        self.counts.remove(&evicted);
        let count = Count {
            clicks: least.saturating_add(clicks),
            overcount: least,
        };
        index.insert((count.clicks, button_id.to_owned()));
        self.counts.insert(button_id.to_owned(), count);
        self.clicks = self.clicks.saturating_add(clicks);
        Some(Counted::Replaced { evicted, count })
    }

    /// The products and counts, leaving the window empty.
    pub(crate) fn into_counts(self) -> BTreeMap<String, Count> {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Counts `clicks` into a window of capacity `k`, as the store does.
    fn count_all(k: usize, clicks: &[&str]) -> WindowCounts {
        let mut window = WindowCounts::default();
        for id in clicks {
            if window.increment(id, 1).is_none() {
                if window.len() < k {
                    window.insert(id, 1);
                } else {
                    window.replace_least(id, 1);
                }
            }
        }
        window
    }

    #[test]
    fn below_capacity_every_count_is_exact() {
        let window = count_all(3, &["a", "b", "a", "c", "a", "b"]);
        let counts: Vec<(&str, u64, u64)> = window
            .iter()
            .map(|(id, c)| (id.as_str(), c.clicks, c.overcount))
            .collect();
        assert_eq!(counts, vec![("a", 3, 0), ("b", 2, 0), ("c", 1, 0)]);
        assert_eq!(window.clicks(), 6);
    }

    #[test]
    fn a_new_product_takes_the_least_clicked_place_and_inherits_its_count() {
        // a:3, b:1, c:1 (full); d replaces b (fewest clicks, smallest id).
        let mut window = count_all(3, &["a", "a", "a", "b", "c"]);
        assert_eq!(
            window.replace_least("d", 1),
            Some(Counted::Replaced {
                evicted: "b".into(),
                count: Count {
                    clicks: 2,
                    overcount: 1
                }
            })
        );
        assert_eq!(window.clicks(), 6, "the counts still add up to the clicks");
        // The index follows increments: c (1) is now the least.
        window.increment("d", 1);
        assert!(matches!(
            window.replace_least("e", 1),
            Some(Counted::Replaced { evicted, .. }) if evicted == "c"
        ));
    }

    proptest! {
        /// The Space-Saving guarantees, against exact counts.
        #[test]
        fn counts_are_bounded_above_and_frequent_products_are_kept(
            k in 1usize..=6,
            clicks in prop::collection::vec(0usize..12, 0..200),
        ) {
            let ids: Vec<String> = clicks.iter().map(|n| format!("p{n}")).collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let window = count_all(k, &refs);
            let mut exact: BTreeMap<&str, u64> = BTreeMap::new();
            for id in &refs {
                *exact.entry(id).or_default() += 1;
            }
            let n = refs.len() as u64;
            prop_assert_eq!(window.clicks(), n);
            prop_assert_eq!(window.iter().map(|(_, c)| c.clicks).sum::<u64>(), n);
            prop_assert!(window.len() <= k);
            for (id, count) in window.iter() {
                let truth = exact[id.as_str()];
                prop_assert!(count.clicks - count.overcount <= truth && truth <= count.clicks);
                prop_assert!(count.overcount * k as u64 <= n);
            }
            for (id, truth) in &exact {
                if truth * k as u64 > n {
                    prop_assert!(window.iter().any(|(listed, _)| listed == id), "{id} kept");
                }
            }
        }
    }
}
