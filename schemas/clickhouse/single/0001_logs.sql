-- The logs table: one row per gateway request.
-- Ordered for "one workspace, a time range, newest first"; partitioned by the
-- retention tier (days) and the UTC day so retention drops whole partitions.
-- ReplacingMergeTree collapses rows with the same (workspace_id, created_at, id):
-- a log delivered twice by Kafka or retried by a gateway with the same id is
-- stored once after merges, and readers deduplicate by id until then.
-- Runs on ClickHouse 18.16 and current releases: no TTL, Map, JSON, DateTime64, codecs.
CREATE TABLE IF NOT EXISTS logs
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
ENGINE = ReplacingMergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (workspace_id, created_at, id)
SETTINGS index_granularity = 8192
