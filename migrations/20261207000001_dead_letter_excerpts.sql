-- Dead letters keep an excerpt of a record (EDM_STATS_DEAD_LETTER_EXCERPT_BYTES,
-- default 1,024 bytes) and the payload's full size; the whole record stays
-- in Kafka at topic/partition/offset. Rows stored whole before this are cut
-- here to the default excerpt, so no page of them stays large: payloads to
-- 1,024 bytes, long reasons to 1,021 characters and "…" (1,024 bytes when
-- ASCII; the API cuts what it serves to the setting in bytes anyway).
ALTER TABLE dead_letters ADD COLUMN payload_bytes BIGINT CHECK (payload_bytes >= 0);

UPDATE dead_letters
SET payload_bytes = octet_length(payload),
    payload = substring(payload FROM 1 FOR 1024)
WHERE payload IS NOT NULL;

UPDATE dead_letters
SET error = left(error, 1021) || '…'
WHERE octet_length(error) > 1024;
