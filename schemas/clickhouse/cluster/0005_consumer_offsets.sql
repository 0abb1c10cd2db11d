-- Cluster variant of single/0005_consumer_offsets.sql: a replicated local table
-- and a Distributed table in front of it, all rows on one shard (the table is
-- tiny). The consumer inserts with insert_distributed_sync=1, so a watermark is
-- only written after its logs are.
CREATE TABLE IF NOT EXISTS consumer_offsets_local ON CLUSTER '{cluster}'
(
    topic String,
    partition UInt32,
    offset Int64,
    updated_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/consumer_offsets_local', '{replica}', offset)
ORDER BY (topic, partition);

CREATE TABLE IF NOT EXISTS consumer_offsets ON CLUSTER '{cluster}' AS consumer_offsets_local
ENGINE = Distributed('{cluster}', currentDatabase(), consumer_offsets_local, 0)
