-- Cluster variant of single/0010_logs_hourly_latency.sql: the same tables,
-- replicated, behind Distributed tables, so both schemas have the same tables.
-- As with 0009, the cluster variant does not fill them.
CREATE TABLE IF NOT EXISTS logs_hourly_latency_local ON CLUSTER '{cluster}'
(
    organisation_id String,
    workspace_id String,
    retention_days UInt16,
    src_part String,
    created_at UInt64,
    response_time UInt32,
    n UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/logs_hourly_latency_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at, response_time);

CREATE TABLE IF NOT EXISTS logs_hourly_latency ON CLUSTER '{cluster}' AS logs_hourly_latency_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_hourly_latency_local, cityHash64(organisation_id, workspace_id));

CREATE TABLE IF NOT EXISTS logs_daily_latency_local ON CLUSTER '{cluster}'
(
    organisation_id String,
    workspace_id String,
    retention_days UInt16,
    src_part String,
    created_at UInt64,
    response_time UInt32,
    n UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/logs_daily_latency_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at, response_time);

CREATE TABLE IF NOT EXISTS logs_daily_latency ON CLUSTER '{cluster}' AS logs_daily_latency_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_daily_latency_local, cityHash64(organisation_id, workspace_id));

CREATE TABLE IF NOT EXISTS logs_hourly_rollups_local ON CLUSTER '{cluster}'
(
    retention_days UInt16,
    created_at UInt64,
    partition_id String,
    part String,
    tag String,
    rolled_at DateTime
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/logs_hourly_rollups_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (partition_id, part, tag);

CREATE TABLE IF NOT EXISTS logs_hourly_rollups ON CLUSTER '{cluster}' AS logs_hourly_rollups_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_hourly_rollups_local, 0)
