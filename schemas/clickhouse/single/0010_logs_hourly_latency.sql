-- Latency histograms of sealed partitions, and rollups that a crash cannot
-- count twice.
--
-- logs_hourly_latency holds, per tenant, UTC hour and response_time value, the
-- number of logs with that value, and logs_daily_latency the same per UTC day:
-- the exact latency quantiles of a range are the weighted quantiles of its
-- histograms, read from some thousands of rows per hour or day instead of
-- every log (whole days of day-bucketed graphs and of totals from the daily
-- ones, the other whole hours from the hourly ones).
--
-- logs_hourly_rollups replaces logs_hourly_parts as the record of complete
-- rollups. The seal job tags every row of one rollup of a part (in logs_hourly,
-- logs_hourly_metadata, logs_hourly_latency and logs_daily_latency) with a tag
-- of its own, the part's name and a random suffix, and records the tag here
-- once all four tables hold their rows. Readers use only recorded tags, so the rows of a
-- rollup cut short (a crash between its inserts) are never read, and a rerun
-- cannot double them. Parts recorded in logs_hourly_parts only (rolled up before
-- this migration, without histograms) are rolled up again under a new tag; the
-- rows under their old tags stay unread until retention drops their partition.
--
-- All tables are partitioned like logs, so the retention job drops them with
-- the logs. created_at is the earliest created_at of a row's logs (all in the
-- same UTC hour, or day).
CREATE TABLE IF NOT EXISTS logs_hourly_latency
(
    organisation_id String,
    workspace_id String,
    retention_days UInt16,
    src_part String,
    created_at UInt64,
    response_time UInt32,
    n UInt64
)
ENGINE = MergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at, response_time);

CREATE TABLE IF NOT EXISTS logs_daily_latency
(
    organisation_id String,
    workspace_id String,
    retention_days UInt16,
    src_part String,
    created_at UInt64,
    response_time UInt32,
    n UInt64
)
ENGINE = MergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (organisation_id, workspace_id, created_at, response_time);

CREATE TABLE IF NOT EXISTS logs_hourly_rollups
(
    retention_days UInt16,
    created_at UInt64,
    partition_id String,
    part String,
    tag String,
    rolled_at DateTime
)
ENGINE = MergeTree
PARTITION BY (retention_days, toYYYYMMDD(toDateTime(intDiv(created_at, 1000), 'UTC')))
ORDER BY (partition_id, part, tag);
