-- Tenancy in the keys: a tenant is (organisation_id, workspace_id), since two
-- organisations may name a workspace alike, so every tenant table is ordered
-- by both, organisation first. This rebuilds logs, feedback and export_jobs
-- with the new ordering keys and copies their rows, in place:
--   1. create the new table beside the old one (same columns, AS old), and
--      an empty <table>_v5 shell unless a crashed earlier run left the old
--      table under that name;
--   2. copy every row of the table and of <table>_v5 into the new one, then
--      drop <table>_v5;
--   3. swap the names in one RENAME (the old table becomes <table>_v5);
--   4. copy again from <table>_v5, which catches rows a running writer put
--      there between steps 2 and 3 (rows copied twice share their whole
--      ordering key and collapse, as every duplicate does);
--   5. drop <table>_v5.
-- A crash at any step is repaired by running the whole file again: no row is
-- dropped before it has been copied into the table that ends up named
-- <table>, and copies collapse. The copy reads the whole table once or twice: on a large
-- installation, run `logpipectl migrate` in a quiet hour.
--
-- log_ids is new: the first created_at the consumer wrote for each log id
-- that carries no time of its own (any id but a UUIDv7), so a retried or
-- replayed event without created_at, which ingest stamps with its arrival
-- time, is written with the first copy's created_at and retention tier, i.e.
-- the same ordering key, and collapses with it. Partitioned like logs, so
-- retention drops its rows with theirs.
--
-- feedback also changes what it keeps: its ordering key ends with
-- updated_at, so every version of a feedback is kept (only exact repeats of
-- one version collapse) and readers take the latest value and the latest
-- non-empty trace id per feedback id. Before, merges kept only the newest
-- version, so an update without a trace id could lose the link to its trace.

CREATE TABLE IF NOT EXISTS logs_v6 AS logs
ENGINE = ReplacingMergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at, id)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS logs_v5 AS logs;

INSERT INTO logs_v6 SELECT * FROM logs;

INSERT INTO logs_v6 SELECT * FROM logs_v5;

DROP TABLE logs_v5;

RENAME TABLE logs TO logs_v5, logs_v6 TO logs;

INSERT INTO logs SELECT * FROM logs_v5;

DROP TABLE IF EXISTS logs_v5;

CREATE TABLE IF NOT EXISTS feedback_v6 AS feedback
ENGINE = ReplacingMergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, id, updated_at);

CREATE TABLE IF NOT EXISTS feedback_v5 AS feedback;

INSERT INTO feedback_v6 SELECT * FROM feedback;

INSERT INTO feedback_v6 SELECT * FROM feedback_v5;

DROP TABLE feedback_v5;

RENAME TABLE feedback TO feedback_v5, feedback_v6 TO feedback;

INSERT INTO feedback SELECT * FROM feedback_v5;

DROP TABLE IF EXISTS feedback_v5;

CREATE TABLE IF NOT EXISTS export_jobs_v6 AS export_jobs
ENGINE = ReplacingMergeTree(version)
ORDER BY (organisation_id, workspace_id, id);

CREATE TABLE IF NOT EXISTS export_jobs_v5 AS export_jobs;

INSERT INTO export_jobs_v6 SELECT * FROM export_jobs;

INSERT INTO export_jobs_v6 SELECT * FROM export_jobs_v5;

DROP TABLE export_jobs_v5;

RENAME TABLE export_jobs TO export_jobs_v5, export_jobs_v6 TO export_jobs;

INSERT INTO export_jobs SELECT * FROM export_jobs_v5;

DROP TABLE IF EXISTS export_jobs_v5;

CREATE TABLE IF NOT EXISTS log_ids
(
    organisation_id String,
    workspace_id String,
    id String,
    created_at UInt64,
    retention_days UInt16
)
ENGINE = ReplacingMergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, id);
