package main

import (
	"fmt"
	"time"

	"logpipe/consumer/pipeline"
	"logpipe/consumer/retention"
	"logpipe/lib/chconn"
	"logpipe/lib/envflag"
	"logpipe/lib/kafkaconf"
	"logpipe/lib/logevent"
)

// Config is the consumer's whole configuration, from flags and LOGPIPE_* env.
type Config struct {
	// Addr serves /healthz, /readyz and /metrics (default 127.0.0.1:8082).
	Addr string
	// Group is the Kafka consumer group (default logpipe-consumer).
	Group string
	// Migrate applies the ClickHouse migrations at start (default true).
	Migrate bool
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string
	// SessionTimeout is the consumer-group session timeout: how long a dead
	// consumer keeps its partitions (default 10s).
	SessionTimeout time.Duration
	// FetchMaxBytes bounds one fetch from one partition (default 4 MiB).
	FetchMaxBytes int
	// InsertParallelism is how many INSERTs one logs batch is split into (default 2).
	InsertParallelism int
	// LagInterval is how often the group's lag is read from Kafka (default 5s).
	LagInterval time.Duration
	// ShutdownDelay keeps /readyz at 503 before stopping (default 0).
	ShutdownDelay time.Duration
	// CPUProfile, when not empty, is a file that receives a CPU profile of
	// the whole run, written at shutdown (default empty: no profile).
	CPUProfile string

	ClickHouse chconn.Config
	Kafka      kafkaconf.Config
	Pipeline   pipeline.Options
	Retention  retention.Options
	// SealInterval is how often partitions of finished days are merged into
	// one part each so readers count them without FINAL (default 1m; 0
	// disables the job).
	SealInterval time.Duration
}

func parseConfig(args []string) (Config, error) {
	var c Config
	fs := envflag.New("consumer")
	fs.String(&c.Addr, "addr", "LOGPIPE_CONSUMER_ADDR", "127.0.0.1:8082", "address of /healthz, /readyz and /metrics")
	fs.String(&c.Group, "group", "LOGPIPE_CONSUMER_GROUP", "logpipe-consumer", "Kafka consumer group")
	fs.Bool(&c.Migrate, "migrate", "LOGPIPE_MIGRATE", true, "apply ClickHouse migrations at start")
	fs.String(&c.LogLevel, "log-level", "LOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.Duration(&c.SessionTimeout, "session-timeout", "LOGPIPE_CONSUMER_SESSION_TIMEOUT", 10*time.Second, "consumer-group session timeout")
	fs.Int(&c.FetchMaxBytes, "fetch-max-bytes", "LOGPIPE_CONSUMER_FETCH_MAX_BYTES", 4<<20, "maximum bytes of one fetch from one partition")
	fs.Int(&c.InsertParallelism, "insert-parallelism", "LOGPIPE_CONSUMER_INSERT_PARALLELISM", 2, "concurrent INSERTs per logs batch")
	fs.Duration(&c.LagInterval, "lag-interval", "LOGPIPE_CONSUMER_LAG_INTERVAL", 5*time.Second, "how often the consumer group's lag is read from Kafka")
	fs.Duration(&c.ShutdownDelay, "shutdown-delay", "LOGPIPE_SHUTDOWN_DELAY", 0, "how long /readyz answers 503 before shutdown")
	fs.String(&c.CPUProfile, "cpu-profile", "LOGPIPE_CONSUMER_CPU_PROFILE", "", "file to write a CPU profile of the run to at shutdown (empty: none)")
	fs.Int(&c.Pipeline.MaxRows, "batch-rows", "LOGPIPE_CONSUMER_BATCH_ROWS", 50000, "flush a batch at this many messages")
	fs.Int(&c.Pipeline.MaxBytes, "batch-bytes", "LOGPIPE_CONSUMER_BATCH_BYTES", 16<<20, "flush a batch at this many message bytes")
	fs.Duration(&c.Pipeline.MaxAge, "batch-age", "LOGPIPE_CONSUMER_BATCH_AGE", time.Second, "flush a batch this long after its first message")
	fs.Duration(&c.Pipeline.InsertTimeout, "insert-timeout", "LOGPIPE_CONSUMER_INSERT_TIMEOUT", time.Minute, "bound on one attempt of a ClickHouse insert (a server that stopped answering is retried)")
	fs.Duration(&c.Pipeline.RetryMin, "retry-min", "LOGPIPE_CONSUMER_RETRY_MIN", 100*time.Millisecond, "first backoff after a failed write")
	fs.Duration(&c.Pipeline.RetryMax, "retry-max", "LOGPIPE_CONSUMER_RETRY_MAX", 10*time.Second, "longest backoff between write attempts")
	fs.Duration(&c.Pipeline.DrainTimeout, "drain-timeout", "LOGPIPE_CONSUMER_DRAIN_TIMEOUT", 30*time.Second, "how long shutdown may spend writing and committing what is in hand")
	var watermark bool
	fs.Bool(&watermark, "watermark", "LOGPIPE_CONSUMER_WATERMARK", true, "skip messages the ClickHouse offset watermark shows as written")
	fs.Duration(&c.Pipeline.FenceDelay, "rebalance-fence", "LOGPIPE_CONSUMER_REBALANCE_FENCE", 3*time.Second, "how long the first batch of a partition taken over from an active writer waits for that writer's in-flight batches")
	fs.Duration(&c.Pipeline.ClockSkew, "clock-skew", "LOGPIPE_CONSUMER_CLOCK_SKEW", 5*time.Second, "most the clocks of ingest and consumers disagree by (a watermark recorded before a message it would skip was produced, by more than this, is from an earlier life of the partition)")
	fs.Duration(&c.Retention.Interval, "retention-interval", "LOGPIPE_CONSUMER_RETENTION_INTERVAL", time.Hour, "how often expired partitions are dropped (0 disables the job)")
	fs.Duration(&c.SealInterval, "seal-interval", "LOGPIPE_CONSUMER_SEAL_INTERVAL", time.Minute, "how often partitions of finished days are merged into one part (0 disables the job)")
	fs.Int(&c.Retention.DefaultDays, "retention-default-days", "LOGPIPE_CONSUMER_RETENTION_DEFAULT_DAYS", 365, "retention of partitions whose events carry no tier (enterprise default)")
	// ingest reads the same limits, so what it accepted is valid here too
	logevent.RegisterLimitFlags(fs, &c.Pipeline.Limits)
	chconn.RegisterFlags(fs, &c.ClickHouse)
	finishKafka := kafkaconf.RegisterFlags(fs, &c.Kafka)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	finishKafka()
	c.Pipeline.NoWatermark = !watermark
	c.Pipeline.LogsTopic, c.Pipeline.FeedbackTopic = c.Kafka.LogsTopic, c.Kafka.FeedbackTopic
	return c, c.validate()
}

func (c Config) validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case c.Group == "":
		return fmt.Errorf("the consumer group is empty")
	case c.Kafka.DeadLetterTopic == "":
		return fmt.Errorf("the dead-letter topic is empty")
	case c.Pipeline.MaxRows <= 0 || c.Pipeline.MaxBytes <= 0 || c.Pipeline.MaxAge <= 0:
		return fmt.Errorf("batch limits must be positive (rows %d, bytes %d, age %s)", c.Pipeline.MaxRows, c.Pipeline.MaxBytes, c.Pipeline.MaxAge)
	case c.Pipeline.RetryMin <= 0 || c.Pipeline.RetryMax < c.Pipeline.RetryMin:
		return fmt.Errorf("retry backoff must satisfy 0 < min (%s) <= max (%s)", c.Pipeline.RetryMin, c.Pipeline.RetryMax)
	case c.SessionTimeout < 6*time.Second:
		return fmt.Errorf("session timeout %s: Kafka brokers refuse less than 6s", c.SessionTimeout)
	case c.FetchMaxBytes < 1<<20:
		return fmt.Errorf("fetch max bytes %d: want at least 1 MiB (one large event)", c.FetchMaxBytes)
	case c.LagInterval <= 0:
		return fmt.Errorf("lag interval %s: must be positive", c.LagInterval)
	case c.InsertParallelism < 1:
		return fmt.Errorf("insert parallelism %d: want at least 1", c.InsertParallelism)
	case c.Retention.Interval < 0 || c.Retention.DefaultDays <= 0 || c.SealInterval < 0:
		return fmt.Errorf("retention interval must be ≥ 0 and default days > 0")
	}
	return nil
}
