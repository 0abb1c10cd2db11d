-- Feedback on logs, joined to logs by trace_id. A PUT of an existing feedback
-- id writes a new version (higher updated_at); readers take the latest version
-- per id (argMax by updated_at), and ReplacingMergeTree keeps only it after merges.
CREATE TABLE IF NOT EXISTS feedback
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
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (workspace_id, id)
