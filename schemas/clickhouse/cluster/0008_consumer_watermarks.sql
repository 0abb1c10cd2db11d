-- Cluster variant of single/0008_consumer_watermarks.sql: a replicated local
-- table and a Distributed table in front of it, all rows on one shard (the table
-- is tiny). The consumer inserts with insert_distributed_sync=1, so a watermark
-- is only written after its logs are.
CREATE TABLE IF NOT EXISTS consumer_watermarks_local ON CLUSTER '{cluster}'
(
    topic String,
    partition UInt32,
    generation UInt32,
    offset Int64,
    updated_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/consumer_watermarks_local', '{replica}', offset)
ORDER BY (topic, partition, generation);

CREATE TABLE IF NOT EXISTS consumer_watermarks ON CLUSTER '{cluster}' AS consumer_watermarks_local
ENGINE = Distributed('{cluster}', currentDatabase(), consumer_watermarks_local, 0);

INSERT INTO consumer_watermarks (topic, partition, generation, offset, updated_at)
SELECT topic, partition, 0, offset, updated_at FROM consumer_offsets
