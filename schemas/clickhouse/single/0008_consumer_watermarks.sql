-- The consumer's per-partition watermark, by generation. A watermark belongs to
-- one life of a Kafka partition: when the topic is deleted and created again, or
-- its offsets start over, an old watermark would make the consumer skip (and
-- commit) messages it never wrote. The consumer recognises such a watermark (it
-- lies beyond the partition's high-water mark, or a message it would skip was
-- produced after the watermark was recorded) and starts a new generation; readers
-- take the highest generation, then its highest offset. Replaces consumer_offsets
-- (0005), whose rows are carried over as generation 0.
CREATE TABLE IF NOT EXISTS consumer_watermarks
(
    topic String,
    partition UInt32,
    generation UInt32,
    offset Int64,
    updated_at DateTime
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY (topic, partition, generation);

INSERT INTO consumer_watermarks (topic, partition, generation, offset, updated_at)
SELECT topic, partition, 0, offset, updated_at FROM consumer_offsets
