-- Cluster variant of single/0002_feedback.sql: a replicated local table and a Distributed one
-- in front of it, sharded by workspace so every version of a row lands on one shard.
CREATE TABLE IF NOT EXISTS feedback_local ON CLUSTER '{cluster}'
(
    id String,
    organisation_id String,
    workspace_id String,
    trace_id String,
    value Int8,
    weight Float64,
    created_at UInt64,
    updated_at UInt64,
    retention_days UInt16,
    metadata Nested(key String, value String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/feedback_local', '{replica}', updated_at)
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (workspace_id, id);

CREATE TABLE IF NOT EXISTS feedback ON CLUSTER '{cluster}' AS feedback_local
ENGINE = Distributed('{cluster}', currentDatabase(), feedback_local, cityHash64(workspace_id))
