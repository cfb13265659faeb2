-- Aggregates per source partition: each row is written only by the instance
-- that owns its partition, so instances never wait on each other's row
-- locks. Every reader already sums rows (minutes into hours and days), and
-- now partitions too. Rows counted before this migration keep partition 0:
-- the sums are unchanged.
ALTER TABLE click_counts ADD COLUMN source_partition INTEGER NOT NULL DEFAULT 0;
ALTER TABLE click_counts ALTER COLUMN source_partition DROP DEFAULT;
ALTER TABLE click_counts DROP CONSTRAINT click_counts_pkey;
ALTER TABLE click_counts ADD PRIMARY KEY (button_id, bucket, source_partition);

ALTER TABLE pageload_counts ADD COLUMN source_partition INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pageload_counts ALTER COLUMN source_partition DROP DEFAULT;
ALTER TABLE pageload_counts DROP CONSTRAINT pageload_counts_pkey;
ALTER TABLE pageload_counts ADD PRIMARY KEY (bucket, device_type, source_partition);
