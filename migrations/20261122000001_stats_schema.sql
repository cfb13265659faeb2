-- edm-stats: aggregates, the Kafka offsets they account for, recently seen
-- event ids (to count a retried event once), and malformed events.

-- Clicks per button per minute; hours and days are sums of minutes.
CREATE TABLE click_counts (
    button_id TEXT        NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    clicks    BIGINT      NOT NULL CHECK (clicks >= 0),
    PRIMARY KEY (button_id, bucket)
);
CREATE INDEX click_counts_bucket ON click_counts (bucket);

-- Page loads per minute per device type (derived from the user agent).
CREATE TABLE pageload_counts (
    bucket      TIMESTAMPTZ NOT NULL,
    device_type TEXT        NOT NULL,
    loads       BIGINT      NOT NULL CHECK (loads >= 0),
    PRIMARY KEY (bucket, device_type)
);

-- The next offset to read per partition, written in the same transaction
-- as the aggregates it accounts for: the source of truth on assignment.
CREATE TABLE consumer_offsets (
    consumer_group TEXT        NOT NULL,
    topic          TEXT        NOT NULL,
    partition      INTEGER     NOT NULL,
    next_offset    BIGINT      NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Event ids counted within the deduplication window.
CREATE TABLE seen_events (
    event_id TEXT        PRIMARY KEY,
    seen_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX seen_events_seen_at ON seen_events (seen_at);

-- Events that could not be counted, newest kept, oldest trimmed.
CREATE TABLE dead_letters (
    id          BIGSERIAL   PRIMARY KEY,
    topic       TEXT        NOT NULL,
    partition   INTEGER     NOT NULL,
    "offset"    BIGINT      NOT NULL,
    payload     BYTEA,
    error       TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
