-- Hourly rollups of sealed partitions, for analytics over long ranges.
--
-- The consumer's seal job merges every partition of a finished day into one
-- part (free of duplicates) and then writes, per tenant, hour and combination
-- of the columns below, the number of logs and the sums of their measures,
-- computed from that one part and tagged with its name (src_part). When every
-- row of a part is in, it records the part in logs_hourly_parts. A reader uses
-- a partition's rollup rows only while the partition's single active part is a
-- recorded src_part: a late write adds a part and the day is read from the logs
-- again until it is sealed and rolled up anew, so no log is counted twice.
-- logs_hourly_metadata holds, the same way, per tenant, hour and metadata pair
-- the number of logs holding it (a log holds each key once).
--
-- Both tables are partitioned like logs, so the retention job drops them with
-- the logs. created_at is the earliest created_at of a row's logs (all in the
-- same UTC hour) and last_created_at the latest.
CREATE TABLE IF NOT EXISTS logs_hourly
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
ENGINE = MergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at);

CREATE TABLE IF NOT EXISTS logs_hourly_metadata
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
ENGINE = MergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, meta_key, meta_value, created_at);

CREATE TABLE IF NOT EXISTS logs_hourly_parts
(
    retention_days UInt16,
    created_at UInt64,
    partition_id String,
    src_part String,
    rolled_at DateTime
)
ENGINE = MergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (partition_id, src_part);
