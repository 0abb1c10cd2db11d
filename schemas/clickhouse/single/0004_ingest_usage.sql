-- Logs accepted per organisation and calendar month (UTC), for plan quotas.
-- Every ingest replica periodically inserts the count it accepted since its
-- last flush; SummingMergeTree adds the rows up, readers take sum(logs).
CREATE TABLE IF NOT EXISTS ingest_usage
(
    organisation_id String,
    month UInt32,
    logs UInt64
)
ENGINE = SummingMergeTree(logs)
ORDER BY (organisation_id, month)
