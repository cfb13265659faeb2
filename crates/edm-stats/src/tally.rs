//! [`Tally`]: the one counting rule, used by the live consumer
//! (`consumer::store::write_batch`) and by `edm-stats replay`: a click adds
//! one to its button's minute, a page load to its minute and device type
//! (from the user agent), each in the row of the Kafka partition it was
//! read from, and the counts are added to their tables by upserts in key
//! order. A partition is owned by one instance at a time, so instances
//! never write the same row; readers sum the partitions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use edm_events::event::{Event, Properties};
use sqlx::{Postgres, Transaction};

use edm_events::device::device_type;

/// Rows written per statement.
const ROWS_PER_STATEMENT: usize = 10_000;

/// The tables a tally is added to: the live `click_counts` and
/// `pageload_counts`, or a replay's staging copies (same columns).
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    /// Clicks per (button_id, bucket, source_partition).
    pub clicks: &'static str,
    /// Page loads per (bucket, device_type, source_partition).
    pub loads: &'static str,
}

impl Tables {
    /// The tables the API reads.
    pub const LIVE: Tables = Tables {
        clicks: "click_counts",
        loads: "pageload_counts",
    };
}

/// Counts per minute not yet written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Clicks per (button, minute, source partition).
    clicks: BTreeMap<(String, DateTime<Utc>, i32), i64>,
    /// Page loads per (minute, device type, source partition).
    loads: BTreeMap<(DateTime<Utc>, &'static str, i32), i64>,
}

impl Tally {
    /// Counts one event, read from Kafka partition `partition`.
    pub fn add(&mut self, event: &Event, partition: i32) {
        let bucket = minute_bucket(event.event_timestamp);
        match &event.properties {
            Properties::Click(p) => {
                *self
                    .clicks
                    .entry((p.button_id.clone(), bucket, partition))
                    .or_default() += 1;
            }
            Properties::PageLoad(p) => {
                *self
                    .loads
                    .entry((bucket, device_type(&p.user_agent), partition))
                    .or_default() += 1;
            }
        }
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.clicks.is_empty() && self.loads.is_empty()
    }

    /// Adds the counts to `tables` in `tx` and forgets them.
    pub async fn write(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        tables: Tables,
    ) -> Result<(), sqlx::Error> {
        let clicks: Vec<_> = std::mem::take(&mut self.clicks).into_iter().collect();
        for chunk in clicks.chunks(ROWS_PER_STATEMENT) {
            let (mut buttons, mut buckets, mut partitions, mut counts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((button, bucket, partition), n) in chunk {
                buttons.push(button.as_str());
                buckets.push(*bucket);
                partitions.push(*partition);
                counts.push(*n);
            }
            let table = tables.clicks;
            sqlx::query(&format!(
                "INSERT INTO {table} (button_id, bucket, source_partition, clicks)
                 SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::int[], $4::bigint[])
                 ON CONFLICT (button_id, bucket, source_partition)
                 DO UPDATE SET clicks = {table}.clicks + EXCLUDED.clicks"
            ))
            .bind(&buttons)
            .bind(&buckets)
            .bind(&partitions)
            .bind(&counts)
            .execute(&mut **tx)
            .await?;
        }
        let loads: Vec<_> = std::mem::take(&mut self.loads).into_iter().collect();
        for chunk in loads.chunks(ROWS_PER_STATEMENT) {
            let (mut buckets, mut devices, mut partitions, mut counts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((bucket, device, partition), n) in chunk {
                buckets.push(*bucket);
                devices.push(*device);
                partitions.push(*partition);
                counts.push(*n);
            }
            let table = tables.loads;
            sqlx::query(&format!(
                "INSERT INTO {table} (bucket, device_type, source_partition, loads)
                 SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::int[], $4::bigint[])
                 ON CONFLICT (bucket, device_type, source_partition)
                 DO UPDATE SET loads = {table}.loads + EXCLUDED.loads"
            ))
            .bind(&buckets)
            .bind(&devices)
            .bind(&partitions)
            .bind(&counts)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

/// Start of the minute an epoch-milliseconds timestamp falls in.
pub fn minute_bucket(epoch_ms: i64) -> DateTime<Utc> {
    let minute = epoch_ms - epoch_ms.rem_euclid(60_000);
    DateTime::from_timestamp_millis(minute).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_minutes() {
        let t = minute_bucket(1_763_800_012_345);
        assert_eq!(t.timestamp_millis(), 1_763_799_960_000);
        assert_eq!(
            minute_bucket(1_763_799_960_000).timestamp_millis(),
            1_763_799_960_000
        );
    }

    #[test]
    fn a_click_counts_in_its_buttons_minute_and_partition_and_a_page_load_in_its_device_types() {
        let parse = |json: &str| Event::parse(json.as_bytes()).unwrap();
        let mut tally = Tally::default();
        assert!(tally.is_empty());
        let at_partition = [
            (1_763_800_012_345_i64, 0),
            (1_763_800_019_000, 0),
            (1_763_800_072_000, 0),
            (1_763_800_019_500, 3),
        ];
        for (at, partition) in at_partition {
            tally.add(
                &parse(&format!(
                    r#"{{"topic":"edm-ui-click","uuid":"v","event_timestamp":{at},
                        "properties":{{"button_id":"kit","description":"button click"}}}}"#
                )),
                partition,
            );
        }
        tally.add(&parse(
            r#"{"topic":"edm-ui-pageload","uuid":"v","event_timestamp":1763800012345,
                "properties":{"user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile","description":"store","url":"http://localhost:3000"}}"#,
        ), 1);
        let minute = minute_bucket(1_763_800_012_345);
        let next = minute_bucket(1_763_800_072_000);
        assert_eq!(
            tally
                .clicks
                .iter()
                .map(|(k, n)| (k.clone(), *n))
                .collect::<Vec<_>>(),
            vec![
                (("kit".to_owned(), minute, 0), 2),
                (("kit".to_owned(), minute, 3), 1),
                (("kit".to_owned(), next, 0), 1)
            ]
        );
        assert_eq!(tally.loads.len(), 1);
        assert_eq!(tally.loads.values().sum::<i64>(), 1);
    }
}
