-- Cluster variant of single/0007_saved_filters.sql: a replicated local table and a Distributed one
-- in front of it, sharded by organisation so every version of a row lands on one shard.
CREATE TABLE IF NOT EXISTS saved_filters_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/saved_filters_local', '{replica}', version)
ORDER BY (organisation_id, id);

CREATE TABLE IF NOT EXISTS saved_filters ON CLUSTER '{cluster}' AS saved_filters_local
ENGINE = Distributed('{cluster}', currentDatabase(), saved_filters_local, cityHash64(organisation_id))
