-- Cluster variant of single/0004_ingest_usage.sql: a replicated local table and
-- a Distributed one in front of it, sharded by organisation.
CREATE TABLE IF NOT EXISTS ingest_usage_local ON CLUSTER '{cluster}'
(
    organisation_id String,
    month UInt32,
    logs UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/ingest_usage_local', '{replica}', logs)
ORDER BY (organisation_id, month);

CREATE TABLE IF NOT EXISTS ingest_usage ON CLUSTER '{cluster}' AS ingest_usage_local
ENGINE = Distributed('{cluster}', currentDatabase(), ingest_usage_local, cityHash64(organisation_id))
