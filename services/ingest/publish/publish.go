// Package publish is ingest's Kafka producer: a kafka-go Writer configured for
// durability (acks from all in-sync replicas), small explicit batching so that
// concurrent requests share produce requests, compression, and metrics.
package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"logpipe/lib/kafkaconf"
)

// Options tune a Writer. Zero values take the documented defaults.
type Options struct {
	// BatchTimeout is how long a partial batch waits for more messages (default 5ms).
	BatchTimeout time.Duration
	// BatchBytes bounds a produce batch, in bytes (default 1 MiB, the broker's message.max.bytes).
	BatchBytes int64
	// BatchSize bounds a produce batch, in messages (default DefaultBatchSize).
	BatchSize int
	// Compression is "none", "gzip", "snappy", "lz4" or "zstd" (default lz4).
	Compression string
	// MaxAttempts bounds the writer's retries of one batch (default 20:
	// with backoff from 50 ms up to 1 s between attempts, they span the
	// seconds a replicated cluster takes to move a dead broker's partition
	// leadership to a surviving replica; the caller's produce timeout is
	// the real bound).
	MaxAttempts int
	// Writers is how many kafka-go writers share the load (default 1). A
	// kafka-go writer keeps one produce request in flight per partition;
	// several writers keep several, which helps when the broker's
	// acknowledgement latency, not CPU, is the limit (a remote cluster). On
	// one CPU-bound machine one writer's bigger batches did as well or better.
	Writers int
}

// DefaultBatchBytes is the default produce batch bound: the broker's default
// message.max.bytes (1 MiB).
const DefaultBatchBytes = 1 << 20

// DefaultBatchSize is the default produce batch bound in messages (1000).
// kafka-go allocates a batch's whole message slice up front (about 150 bytes
// a message, zeroed, scanned by the GC) for every batch, full or not; 1 MiB
// holds about 520 gateway events of 1.9 KB, so a larger bound only costs
// memory, and 2000 was a visible share of ingest's allocations.
const DefaultBatchSize = 1000

func (o *Options) defaults() {
	if o.BatchTimeout == 0 {
		o.BatchTimeout = 5 * time.Millisecond
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Compression == "" {
		o.Compression = "lz4"
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 20
	}
	if o.Writers == 0 {
		o.Writers = 1
	}
}

// ParseCompression returns the kafka-go codec named s.
func ParseCompression(s string) (kafka.Compression, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown Kafka compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// Metrics are the producer metrics, shared by the Writers of one process.
type Metrics struct {
	latency *prometheus.HistogramVec
	batch   *prometheus.HistogramVec
	errs    *prometheus.CounterVec
	stats   *statsCollector
}

// NewMetrics registers the producer metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logpipe_ingest_produce_seconds",
			Help:    "Time from handing a request's messages to the Kafka writer until all are acknowledged (or failed).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"topic"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logpipe_ingest_produce_messages",
			Help:    "Messages handed to the Kafka writer per Produce call (one request or NDJSON chunk).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}, []string{"topic"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_ingest_produce_errors_total",
			Help: "Produce calls that failed (the request was answered 503).",
		}, []string{"topic"}),
		stats: newStatsCollector(),
	}
	for _, c := range []prometheus.Collector{m.latency, m.batch, m.errs, m.stats} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register producer metrics: %w", err)
		}
	}
	return m, nil
}

// Writer produces messages to one topic. It is safe for concurrent use;
// concurrent Produce calls share produce requests.
type Writer struct {
	topic   string
	ws      []*kafka.Writer
	next    atomic.Uint32
	latency prometheus.Observer
	batch   prometheus.Observer
	errs    prometheus.Counter
}

// NewWriter returns a Writer for topic on the cluster of kc, whose metrics
// carry the label topic=kind ("logs" or "feedback").
func NewWriter(kc kafkaconf.Config, topic, kind string, o Options, m *Metrics) (*Writer, error) {
	o.defaults()
	codec, err := ParseCompression(o.Compression)
	if err != nil {
		return nil, err
	}
	w := &Writer{topic: topic, latency: m.latency.WithLabelValues(kind),
		batch: m.batch.WithLabelValues(kind), errs: m.errs.WithLabelValues(kind)}
	for i := 0; i < o.Writers; i++ {
		kw := &kafka.Writer{
			Addr:            kafka.TCP(kc.Brokers...),
			Topic:           topic,
			Balancer:        &kafka.Hash{},
			RequiredAcks:    kafka.RequireAll,
			BatchTimeout:    o.BatchTimeout,
			BatchBytes:      o.BatchBytes,
			BatchSize:       o.BatchSize,
			Compression:     codec,
			MaxAttempts:     o.MaxAttempts,
			WriteBackoffMin: 50 * time.Millisecond,
			WriteBackoffMax: time.Second,
			Transport:       kc.Transport(),
		}
		m.stats.add(kind, kw)
		w.ws = append(w.ws, kw)
	}
	return w, nil
}

// Topic returns the topic the Writer produces to.
func (w *Writer) Topic() string { return w.topic }

// MessageOverhead is a bound on what Kafka adds to a message's key and value
// size when checking BatchBytes; callers keep key+value below BatchBytes
// minus this.
const MessageOverhead = 512

// Produce writes msgs and returns nil only when Kafka acknowledged every one
// of them from all in-sync replicas. On error some messages may have been
// written; callers answer with a retryable error and rely on stable ids.
func (w *Writer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	start := time.Now()
	kw := w.ws[int(w.next.Add(1))%len(w.ws)]
	err := kw.WriteMessages(ctx, msgs...)
	w.latency.Observe(time.Since(start).Seconds())
	w.batch.Observe(float64(len(msgs)))
	if err != nil {
		w.errs.Inc()
		return fmt.Errorf("produce %d messages to %s: %w", len(msgs), w.topic, err)
	}
	return nil
}

// Close flushes pending batches and closes the writer.
func (w *Writer) Close() error {
	var errs []error
	for _, kw := range w.ws {
		if err := kw.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close kafka writer %s: %w", w.topic, err)
	}
	return nil
}

// statsCollector exposes the kafka-go writers' own statistics (which reset
// on every read) as Prometheus counters.
type statsCollector struct {
	mu      sync.Mutex
	writers []*writerStats

	dWrites, dMessages, dBytes, dErrors, dRetries, dBatchAvg *prometheus.Desc
}

type writerStats struct {
	kind                                     string
	w                                        *kafka.Writer
	writes, messages, bytes, errors, retries float64
	batchSum, batchCnt                       float64
}

func newStatsCollector() *statsCollector {
	l := []string{"topic"}
	return &statsCollector{
		dWrites:   prometheus.NewDesc("logpipe_ingest_kafka_produce_requests_total", "Produce requests (batches) sent to Kafka.", l, nil),
		dMessages: prometheus.NewDesc("logpipe_ingest_kafka_messages_total", "Messages written to Kafka.", l, nil),
		dBytes:    prometheus.NewDesc("logpipe_ingest_kafka_bytes_total", "Message bytes written to Kafka (before compression).", l, nil),
		dErrors:   prometheus.NewDesc("logpipe_ingest_kafka_errors_total", "Kafka writer errors.", l, nil),
		dRetries:  prometheus.NewDesc("logpipe_ingest_kafka_retries_total", "Kafka produce retries.", l, nil),
		dBatchAvg: prometheus.NewDesc("logpipe_ingest_kafka_batch_messages", "Average messages per produce batch since start.", l, nil),
	}
}

func (s *statsCollector) add(kind string, w *kafka.Writer) {
	s.mu.Lock()
	s.writers = append(s.writers, &writerStats{kind: kind, w: w})
	s.mu.Unlock()
}

func (s *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.dWrites, s.dMessages, s.dBytes, s.dErrors, s.dRetries, s.dBatchAvg} {
		ch <- d
	}
}

func (s *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type sums struct {
		v                  [5]float64
		batchSum, batchCnt float64
	}
	byKind := map[string]*sums{}
	var kinds []string
	for _, ws := range s.writers {
		st := ws.w.Stats()
		ws.writes += float64(st.Writes)
		ws.messages += float64(st.Messages)
		ws.bytes += float64(st.Bytes)
		ws.errors += float64(st.Errors)
		ws.retries += float64(st.Retries)
		ws.batchSum += float64(st.BatchSize.Avg * st.BatchSize.Count)
		ws.batchCnt += float64(st.BatchSize.Count)
		k := byKind[ws.kind]
		if k == nil {
			k = &sums{}
			byKind[ws.kind] = k
			kinds = append(kinds, ws.kind)
		}
		for i, v := range []float64{ws.writes, ws.messages, ws.bytes, ws.errors, ws.retries} {
			k.v[i] += v
		}
		k.batchSum += ws.batchSum
		k.batchCnt += ws.batchCnt
	}
	for _, kind := range kinds {
		k := byKind[kind]
		for i, d := range []*prometheus.Desc{s.dWrites, s.dMessages, s.dBytes, s.dErrors, s.dRetries} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, k.v[i], kind)
		}
		avg := 0.0
		if k.batchCnt > 0 {
			avg = k.batchSum / k.batchCnt
		}
		ch <- prometheus.MustNewConstMetric(s.dBatchAvg, prometheus.GaugeValue, avg, kind)
	}
}
