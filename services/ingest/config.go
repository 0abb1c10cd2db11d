package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"logpipe/ingest/api"
	"logpipe/ingest/publish"
	"logpipe/ingest/redact"
	"logpipe/lib/chconn"
	"logpipe/lib/envflag"
	"logpipe/lib/kafkaconf"
	"logpipe/lib/logevent"
)

// Config is ingest's whole configuration, from flags and LOGPIPE_* variables.
type Config struct {
	// Addr is the HTTP listen address (default 127.0.0.1:8080).
	Addr string
	// KeysFile is the API-key registry file (default .stack/dev/keys.json).
	KeysFile string
	// QueryURL is the query service that non-POST /v1/logs requests are forwarded to (default http://127.0.0.1:8081).
	QueryURL string
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string
	// ShutdownDelay is how long /readyz answers 503 before draining (default 0).
	ShutdownDelay time.Duration
	// DrainTimeout bounds waiting for in-flight requests on shutdown (default 30s).
	DrainTimeout time.Duration
	// QuotaSync is how often usage counts are flushed to and read from ClickHouse (default 5s).
	QuotaSync time.Duration
	// MemoryLimitMB is the Go runtime's soft memory limit in MiB (default 224;
	// 0 leaves the runtime's default; GOMEMLIMIT, when set, wins). With it the
	// GC runs less often (GOGC 200 unless GOGC is set) until the heap nears it.
	MemoryLimitMB int
	// CPUProfile, when not empty, is a file that receives a CPU profile
	// (runtime/pprof) of the whole run, written at shutdown (default empty:
	// no profile). It is a file, never an HTTP endpoint.
	CPUProfile string

	Kafka      kafkaconf.Config
	ClickHouse chconn.Config
	Producer   publish.Options
	API        api.Options
}

// parseConfig reads the configuration from args and the environment.
func parseConfig(args []string) (Config, error) {
	var c Config
	fs := envflag.New("ingest")
	fs.String(&c.Addr, "addr", "LOGPIPE_INGEST_ADDR", "127.0.0.1:8080", "HTTP listen address")
	fs.String(&c.KeysFile, "keys-file", "LOGPIPE_KEYS_FILE", ".stack/dev/keys.json", "API-key registry file")
	fs.String(&c.QueryURL, "query-url", "LOGPIPE_QUERY_URL", "http://127.0.0.1:8081", "query service URL (non-POST /v1/logs is forwarded there)")
	fs.String(&c.LogLevel, "log-level", "LOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.Duration(&c.ShutdownDelay, "shutdown-delay", "LOGPIPE_SHUTDOWN_DELAY", 0, "how long /readyz answers 503 before draining")
	fs.Duration(&c.DrainTimeout, "drain-timeout", "LOGPIPE_DRAIN_TIMEOUT", 30*time.Second, "bound on waiting for in-flight requests at shutdown")
	fs.Duration(&c.QuotaSync, "quota-sync", "LOGPIPE_QUOTA_SYNC", 5*time.Second, "how often usage counts are flushed to and read from ClickHouse")
	fs.Int(&c.MemoryLimitMB, "memory-limit-mb", "LOGPIPE_INGEST_MEMORY_LIMIT_MB", 224, "Go soft memory limit in MiB (0: runtime default)")
	fs.String(&c.CPUProfile, "cpu-profile", "LOGPIPE_INGEST_CPU_PROFILE", "", "file to write a CPU profile of the run to at shutdown (empty: none)")
	finishKafka := kafkaconf.RegisterFlags(fs, &c.Kafka)
	chconn.RegisterFlags(fs, &c.ClickHouse)

	fs.Duration(&c.Producer.BatchTimeout, "kafka-batch-timeout", "LOGPIPE_KAFKA_BATCH_TIMEOUT", 5*time.Millisecond, "how long a partial Kafka batch waits for more messages")
	var batchBytes int
	fs.Int(&batchBytes, "kafka-batch-bytes", "LOGPIPE_KAFKA_BATCH_BYTES", publish.DefaultBatchBytes, "Kafka produce batch bound in bytes (keep ≤ the broker's message.max.bytes)")
	fs.Int(&c.Producer.BatchSize, "kafka-batch-size", "LOGPIPE_KAFKA_BATCH_SIZE", publish.DefaultBatchSize, "Kafka produce batch bound in messages")
	fs.Int(&c.Producer.Writers, "kafka-writers", "LOGPIPE_KAFKA_WRITERS", 1, "kafka-go writers per topic (each keeps one produce request in flight per partition)")
	fs.String(&c.Producer.Compression, "kafka-compression", "LOGPIPE_KAFKA_COMPRESSION", "lz4", "Kafka compression: none, gzip, snappy, lz4, zstd")

	var maxBody, maxInflightBytes, maxInflight int
	fs.Int(&maxBody, "max-body-bytes", "LOGPIPE_INGEST_MAX_BODY_BYTES", api.DefaultMaxBodyBytes, "bound on a JSON request body after decompression, bytes")
	fs.Int(&c.API.MaxBatchEvents, "max-batch-events", "LOGPIPE_INGEST_MAX_BATCH_EVENTS", api.DefaultMaxBatchEvents, "bound on the events of one JSON array")
	fs.Int(&c.API.MaxEventBytes, "max-event-bytes", "LOGPIPE_INGEST_MAX_EVENT_BYTES", api.DefaultMaxEventBytes, "bound on one encoded event (bodies included), bytes")
	fs.Int(&c.API.StreamChunkEvents, "stream-chunk-events", "LOGPIPE_INGEST_STREAM_CHUNK_EVENTS", api.DefaultStreamChunkEvents, "NDJSON events produced to Kafka together")
	fs.Int(&maxInflightBytes, "max-inflight-bytes", "LOGPIPE_INGEST_MAX_INFLIGHT_BYTES", api.DefaultMaxInflightBytes, "request bytes held at once before shedding with 503")
	fs.Int(&maxInflight, "max-inflight-requests", "LOGPIPE_INGEST_MAX_INFLIGHT_REQUESTS", api.DefaultMaxInflightRequests, "concurrent requests before shedding with 503")
	fs.Duration(&c.API.ProduceTimeout, "produce-timeout", "LOGPIPE_INGEST_PRODUCE_TIMEOUT", api.DefaultProduceTimeout, "bound on waiting for Kafka's acknowledgement before answering 503")
	fs.Duration(&c.API.RetryAfter, "retry-after", "LOGPIPE_INGEST_RETRY_AFTER", api.DefaultRetryAfter, "Retry-After of 503 answers")
	// the consumer reads the same limits (one definition, one set of variables)
	logevent.RegisterLimitFlags(fs, &c.API.Limits)
	var redactHeaders, redactParams string
	fs.String(&redactHeaders, "redact-headers", "LOGPIPE_INGEST_REDACT_HEADERS", "", "comma-separated header names redacted on top of the built-in credential headers")
	fs.String(&redactParams, "redact-query-params", "LOGPIPE_INGEST_REDACT_QUERY_PARAMS", "", "comma-separated request_url query parameters redacted on top of the built-in ones")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	finishKafka()
	c.Producer.BatchBytes = int64(batchBytes)
	c.API.MaxBodyBytes = int64(maxBody)
	c.API.MaxInflightBytes = int64(maxInflightBytes)
	c.API.MaxInflightRequests = int64(maxInflight)
	c.API.Redactor = redact.New(strings.Split(redactHeaders, ","), strings.Split(redactParams, ","))
	return c, c.validate()
}

func (c Config) validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.Kafka.FeedbackTopic == "" {
		return fmt.Errorf("kafka: the feedback topic is empty")
	}
	if _, err := publish.ParseCompression(c.Producer.Compression); err != nil {
		return err
	}
	if u, err := url.Parse(c.QueryURL); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("query URL %q: want http://host:port", c.QueryURL)
	}
	if c.API.MaxEventBytes+publish.MessageOverhead > int(c.Producer.BatchBytes) {
		return fmt.Errorf("max event bytes %d + %d overhead exceed the Kafka batch bytes %d: Kafka would refuse such events",
			c.API.MaxEventBytes, publish.MessageOverhead, c.Producer.BatchBytes)
	}
	for name, v := range map[string]int{"max-body-bytes": int(c.API.MaxBodyBytes), "max-batch-events": c.API.MaxBatchEvents,
		"max-event-bytes": c.API.MaxEventBytes, "stream-chunk-events": c.API.StreamChunkEvents,
		"max-inflight-bytes": int(c.API.MaxInflightBytes), "max-inflight-requests": int(c.API.MaxInflightRequests),
		"kafka-batch-size": c.Producer.BatchSize, "kafka-writers": c.Producer.Writers, "max-payload-bytes": c.API.Limits.MaxPayloadBytes,
		"max-string-bytes": c.API.Limits.MaxStringLen, "max-metadata-keys": c.API.Limits.MaxMetadataKeys,
		"max-metadata-value-chars": c.API.Limits.MaxMetadataValueLen} {
		if v <= 0 {
			return fmt.Errorf("%s must be positive, got %d", name, v)
		}
	}
	if c.MemoryLimitMB < 0 {
		return fmt.Errorf("memory-limit-mb must be ≥ 0, got %d", c.MemoryLimitMB)
	}
	if c.API.ProduceTimeout <= 0 || c.Producer.BatchTimeout <= 0 || c.QuotaSync <= 0 {
		return fmt.Errorf("produce-timeout, kafka-batch-timeout and quota-sync must be positive")
	}
	return nil
}
