package pipeline

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus metrics, all logpipe_consumer_*.
type Metrics struct {
	rowsInserted    *prometheus.CounterVec
	bytesInserted   *prometheus.CounterVec
	batchRows       prometheus.Histogram
	insertDuration  *prometheus.HistogramVec
	commitDuration  prometheus.Histogram
	commitErrors    prometheus.Counter
	lag             *prometheus.GaugeVec
	deadLetters     *prometheus.CounterVec
	retries         *prometheus.CounterVec
	skipped         prometheus.Counter
	staleWatermarks prometheus.Counter
	sinkUp          prometheus.Gauge
}

// SetLag records the messages of topic/partition not yet written and
// committed by the group.
func (m *Metrics) SetLag(topic string, partition int, lag int64) {
	m.lag.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(lag))
}

// NewMetrics registers the pipeline's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rowsInserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_consumer_rows_inserted_total", Help: "Rows inserted into ClickHouse, by table."}, []string{"table"}),
		bytesInserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_consumer_bytes_inserted_total", Help: "Kafka message bytes of the rows inserted into ClickHouse, by table."}, []string{"table"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "logpipe_consumer_batch_rows", Help: "Messages per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		insertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logpipe_consumer_insert_duration_seconds", Help: "Duration of successful ClickHouse batch inserts, by table.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}, []string{"table"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "logpipe_consumer_commit_duration_seconds", Help: "Duration of Kafka offset commits.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_consumer_commit_errors_total", Help: "Kafka offset commits that failed (the rows are in ClickHouse; the messages will be read again and skipped or collapsed)."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logpipe_consumer_lag_messages", Help: "Messages of the partition not yet written and committed by the consumer group (high-water mark minus committed offset, read from Kafka every few seconds), by topic and partition."}, []string{"topic", "partition"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_consumer_dead_letters_total", Help: "Messages sent to the dead-letter topic, by reason (decode, invalid, refused by ClickHouse)."}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_consumer_retries_total", Help: "Failed attempts that were retried, by operation."}, []string{"op"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_consumer_duplicates_skipped_total", Help: "Messages skipped because the ClickHouse watermark shows them already written."}),
		staleWatermarks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_consumer_stale_watermarks_total", Help: "Watermarks ignored because they belong to an earlier life of their partition (topic recreated, offsets reset)."}),
		sinkUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logpipe_consumer_sink_up", Help: "1 when the last write to ClickHouse and Kafka succeeded, 0 while retrying."}),
	}
	reg.MustRegister(m.rowsInserted, m.bytesInserted, m.batchRows, m.insertDuration, m.commitDuration,
		m.commitErrors, m.lag, m.deadLetters, m.retries, m.skipped, m.staleWatermarks, m.sinkUp)
	m.sinkUp.Set(1)
	return m
}
