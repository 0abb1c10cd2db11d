-- Cluster variant of single/0003_export_jobs.sql: a replicated local table and a Distributed one
-- in front of it, sharded by workspace so every version of a row lands on one shard.
CREATE TABLE IF NOT EXISTS export_jobs_local ON CLUSTER '{cluster}'
(
    id String,
    organisation_id String,
    workspace_id String,
    created_by String,
    description String,
    status String,
    filters String,
    requested_data Array(String),
    time_min UInt64,
    time_max UInt64,
    total_records UInt64,
    rows_done UInt64,
    bytes_done UInt64,
    file_path String,
    error String,
    created_at UInt64,
    started_at UInt64,
    finished_at UInt64,
    plan String,
    retention_days UInt16,
    compression String,
    owner String,
    resume_cursor UInt64,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/export_jobs_local', '{replica}', version)
ORDER BY (workspace_id, id);

CREATE TABLE IF NOT EXISTS export_jobs ON CLUSTER '{cluster}' AS export_jobs_local
ENGINE = Distributed('{cluster}', currentDatabase(), export_jobs_local, cityHash64(workspace_id))
