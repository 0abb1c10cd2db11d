-- Export jobs. Every state change writes a new version of the job row
-- (higher version: the update time in nanoseconds); readers take the latest
-- version per id. owner names the process running an in_progress job; a job
-- whose owner stopped writing versions is taken over (resume_cursor: the
-- created_at, in ms, up to which the file is complete).
CREATE TABLE IF NOT EXISTS export_jobs
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
ENGINE = ReplacingMergeTree(version)
ORDER BY (workspace_id, id)
