-- The consumer's per-partition watermark: after a batch is in ClickHouse the
-- consumer records, for every Kafka partition in it, the last offset written.
-- When it (re)starts reading a partition it skips messages at or below that
-- offset, so a restart or rebalance between the insert and the Kafka commit
-- writes (almost) no duplicate rows. Correctness does not depend on it: logs
-- is a ReplacingMergeTree and readers deduplicate by id.
CREATE TABLE IF NOT EXISTS consumer_offsets
(
    topic String,
    partition UInt32,
    offset Int64,
    updated_at DateTime
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY (topic, partition)
