-- Cluster variant of single/0009_logs_hourly.sql: the same tables, replicated,
-- behind Distributed tables, so both schemas have the same tables. The cluster
-- variant does not fill them: the seal job works on the parts of a local logs
-- table, and on a cluster the query service deduplicates every read with FINAL.
CREATE TABLE IF NOT EXISTS logs_hourly_local ON CLUSTER '{cluster}'
(
    organisation_id String,
    workspace_id String,
    retention_days UInt16,
    src_part String,
    created_at UInt64,
    last_created_at UInt64,
    ai_org String,
    ai_model String,
    response_status_code UInt16,
    is_success UInt8,
    cache_status String,
    retry_success_count UInt16,
    fallback_option UInt16,
    n UInt64,
    cost_sum Float64,
    req_units_sum UInt64,
    res_units_sum UInt64,
    total_units_sum UInt64,
    reasoning_units_sum UInt64,
    response_time_sum UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/logs_hourly_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at);

CREATE TABLE IF NOT EXISTS logs_hourly ON CLUSTER '{cluster}' AS logs_hourly_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_hourly_local, cityHash64(organisation_id, workspace_id));

CREATE TABLE IF NOT EXISTS logs_hourly_metadata_local ON CLUSTER '{cluster}'
(
    organisation_id String,
    workspace_id String,
    retention_days UInt16,
    src_part String,
    created_at UInt64,
    meta_key String,
    meta_value String,
    n UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/logs_hourly_metadata_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, meta_key, meta_value, created_at);

CREATE TABLE IF NOT EXISTS logs_hourly_metadata ON CLUSTER '{cluster}' AS logs_hourly_metadata_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_hourly_metadata_local, cityHash64(organisation_id, workspace_id));

CREATE TABLE IF NOT EXISTS logs_hourly_parts_local ON CLUSTER '{cluster}'
(
    retention_days UInt16,
    created_at UInt64,
    partition_id String,
    src_part String,
    rolled_at DateTime
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/logs_hourly_parts_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (partition_id, src_part);

CREATE TABLE IF NOT EXISTS logs_hourly_parts ON CLUSTER '{cluster}' AS logs_hourly_parts_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_hourly_parts_local, 0)
