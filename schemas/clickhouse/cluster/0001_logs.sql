-- Cluster variant of single/0001_logs.sql, for users who outgrow one node:
-- a ReplicatedReplacingMergeTree local table on every replica and a Distributed
-- table named logs in front of it, so services read and write `logs` unchanged.
-- Sharded by workspace: every row of one id lands on one shard, where
-- ReplacingMergeTree can collapse its duplicates. Uses the {cluster}, {shard}
-- and {replica} macros of the server configuration.
CREATE TABLE IF NOT EXISTS logs_local ON CLUSTER '{cluster}'
(
    id String,
    organisation_id String,
    workspace_id String,
    created_at UInt64,
    `request.body` String,
    `response.body` String,
    `request.headers` String,
    `response.headers` String,
    is_success UInt8,
    ai_org String,
    ai_model String,
    req_units UInt32,
    res_units UInt32,
    total_units UInt32,
    reasoning_units UInt32,
    cost Float64,
    cost_currency String,
    request_url String,
    request_method String,
    response_status_code UInt16,
    response_time UInt32,
    cache_status String,
    cache_type String,
    stream_mode String,
    retry_success_count UInt16,
    retry_attempts UInt16,
    retry_failed UInt8,
    trace_id String,
    span_id String,
    parent_span_id String,
    span_name String,
    mode String,
    fallback_option UInt16,
    loadbalance_active UInt8,
    virtual_key String,
    api_key_id String,
    runtime String,
    runtime_version String,
    sdk_version String,
    config String,
    prompt_slug String,
    prompt_version_id String,
    prompt_in_config UInt8,
    endpoint_type String,
    user String,
    is_tracked UInt8,
    retention_days UInt16,
    metadata Nested(key String, value String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/logs_local', '{replica}')
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (workspace_id, created_at, id)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS logs ON CLUSTER '{cluster}' AS logs_local
ENGINE = Distributed('{cluster}', currentDatabase(), logs_local, cityHash64(workspace_id))
