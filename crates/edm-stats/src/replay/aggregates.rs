//! The aggregates a replay rebuilds, counted in memory the way the live
//! consumer counts them (see `consumer::store::write_batch`): valid events
//! add to their button's or device type's minute, an event id counts only
//! the first time it is seen (when deduplication is on), and malformed
//! events are skipped (the live consumer already keeps them as dead letters).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use edm_events::event::Properties;
use sqlx::{Postgres, Transaction};

use crate::consumer::record::{Consumed, Record};
use crate::consumer::store::minute_bucket;
use crate::device::device_type;

/// Rows written per statement.
const ROWS_PER_STATEMENT: usize = 10_000;

/// Counts per minute, plus what was read.
#[derive(Debug, Default)]
pub struct Aggregates {
    /// Whether event ids are deduplicated (as `EDM_STATS_DEDUP_WINDOW_SECS`
    /// > 0 makes the live consumer do).
    dedup: bool,
    /// Event ids counted so far in this replay.
    seen: HashSet<String>,
    /// Clicks per (button, minute) not yet written.
    clicks: HashMap<(String, DateTime<Utc>), i64>,
    /// Page loads per (minute, device type) not yet written.
    loads: HashMap<(DateTime<Utc>, &'static str), i64>,
    /// Messages read.
    pub read: u64,
    /// Events counted.
    pub counted: u64,
    /// Events skipped because their id was counted before.
    pub duplicates: u64,
    /// Messages that are not valid events.
    pub malformed: u64,
}

impl Aggregates {
    /// Empty aggregates; `dedup` as the live consumer is configured.
    pub fn new(dedup: bool) -> Self {
        Self {
            dedup,
            ..Self::default()
        }
    }

    /// Counts one message.
    pub fn add(&mut self, consumed: &Consumed) {
        self.read += 1;
        match &consumed.record {
            Record::Malformed { .. } => self.malformed += 1,
            Record::Event { event_id, event } => {
                if let (true, Some(id)) = (self.dedup, event_id) {
                    if !self.seen.insert(id.clone()) {
                        self.duplicates += 1;
                        return;
                    }
                }
                let bucket = minute_bucket(event.event_timestamp);
                match &event.properties {
                    Properties::Click(p) => {
                        *self
                            .clicks
                            .entry((p.button_id.clone(), bucket))
                            .or_default() += 1;
                    }
                    Properties::PageLoad(p) => {
                        *self
                            .loads
                            .entry((bucket, device_type(&p.user_agent)))
                            .or_default() += 1;
                    }
                }
                self.counted += 1;
            }
        }
    }

    /// Adds the counts held so far to the staging tables `click_table` and
    /// `load_table` (same columns as `click_counts` and `pageload_counts`)
    /// and forgets them; the ids seen and the tallies are kept.
    pub async fn flush_into(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        click_table: &str,
        load_table: &str,
    ) -> Result<(), sqlx::Error> {
        let clicks: Vec<_> = std::mem::take(&mut self.clicks).into_iter().collect();
        for chunk in clicks.chunks(ROWS_PER_STATEMENT) {
            let (mut buttons, mut buckets, mut counts) = (Vec::new(), Vec::new(), Vec::new());
            for ((button, bucket), n) in chunk {
                buttons.push(button.as_str());
                buckets.push(*bucket);
                counts.push(*n);
            }
            sqlx::query(&format!(
                "INSERT INTO {click_table} (button_id, bucket, clicks)
                 SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::bigint[])
                 ON CONFLICT (button_id, bucket) DO UPDATE SET clicks = {click_table}.clicks + EXCLUDED.clicks"
            ))
            .bind(&buttons)
            .bind(&buckets)
            .bind(&counts)
            .execute(&mut **tx)
            .await?;
        }
        let loads: Vec<_> = std::mem::take(&mut self.loads).into_iter().collect();
        for chunk in loads.chunks(ROWS_PER_STATEMENT) {
            let (mut buckets, mut devices, mut counts) = (Vec::new(), Vec::new(), Vec::new());
            for ((bucket, device), n) in chunk {
                buckets.push(*bucket);
                devices.push(*device);
                counts.push(*n);
            }
            sqlx::query(&format!(
                "INSERT INTO {load_table} (bucket, device_type, loads)
                 SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::bigint[])
                 ON CONFLICT (bucket, device_type) DO UPDATE SET loads = {load_table}.loads + EXCLUDED.loads"
            ))
            .bind(&buckets)
            .bind(&devices)
            .bind(&counts)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}
