-- Saved filters of the web console: a named view (its URL parameters as a
-- JSON object) visible to every key of the organisation. Every change writes
-- a new version of the row (higher version: the write time in nanoseconds);
-- readers take the latest version per id; a deletion is a version with
-- deleted = 1.
CREATE TABLE IF NOT EXISTS saved_filters
(
    organisation_id String,
    id String,
    workspace_id String,
    name String,
    filters String,
    created_by String,
    created_at UInt64,
    deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (organisation_id, id)
