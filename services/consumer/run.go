package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"logpipe/consumer/pipeline"
	"logpipe/consumer/retention"
	"logpipe/consumer/sink"
	"logpipe/lib/chconn"
	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/migrate"
	"logpipe/lib/seal"
	"logpipe/lib/server"
)

// run wires the consumer and blocks until ctx ends and everything in hand is
// written and committed (or the source fails for good).
func run(ctx context.Context, cfg Config) error {
	log := server.NewLogger(cfg.LogLevel)
	reg := server.NewRegistry()

	conn, err := chconn.OpenWait(ctx, cfg.ClickHouse, cfg.Migrate, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	if cfg.Migrate {
		if err := migrate.Apply(ctx, conn, cfg.ClickHouse.Variant, log); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	snk := sink.New(conn, cfg.InsertParallelism)

	topics := []string{cfg.Kafka.LogsTopic}
	if cfg.Kafka.FeedbackTopic != "" {
		topics = append(topics, cfg.Kafka.FeedbackTopic)
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Kafka.Brokers,
		GroupID:           cfg.Group,
		GroupTopics:       topics,
		Dialer:            cfg.Kafka.Dialer(),
		MinBytes:          1,
		MaxBytes:          cfg.FetchMaxBytes,
		MaxWait:           250 * time.Millisecond,
		QueueCapacity:     1000,
		CommitInterval:    0, // synchronous commits, only after ClickHouse has the rows
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout,
		HeartbeatInterval: min(cfg.SessionTimeout/5, time.Second), // a joining consumer waits for the others' next heartbeat
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka reader", "err", fmt.Sprintf(msg, args...))
		}),
	})
	dlq := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Kafka.Brokers...),
		Topic:        cfg.Kafka.DeadLetterTopic,
		Transport:    cfg.Kafka.Transport(),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
	}

	panics := server.NewPanics(reg, "consumer", log)
	popts := cfg.Pipeline
	popts.Panics = panics
	metrics := pipeline.NewMetrics(reg)
	p := pipeline.New(popts, reader, snk, dlq, log, metrics)
	ready := func(ctx context.Context) error {
		if err := p.Err(); err != nil {
			return fmt.Errorf("sink failing: %w", err)
		}
		return snk.Ping(ctx)
	}
	engine, health := newEngine(log, reg, ready, panics)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		reader.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() {
		serveErr = server.Serve(ctx, log, ln, engine, health, server.ServeOptions{ShutdownDelay: cfg.ShutdownDelay})
		cancel()
	})
	lagm := &groupLag{client: &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: cfg.Kafka.Transport(), Timeout: 5 * time.Second},
		group: cfg.Group, topics: topics}
	lagEvery := cfg.LagInterval
	if lagEvery <= 0 {
		lagEvery = 5 * time.Second
	}
	wg.Go(func() { watchLag(ctx, lagm, metrics, lagEvery, log) })
	if cfg.Retention.Interval > 0 {
		opts := cfg.Retention
		opts.Tables = []string{logevent.LogsTable, feedback.Table, logevent.LogIDsTable}
		opts.Cluster = cfg.ClickHouse.Cluster()
		if !opts.Cluster { // the rollups of sealed partitions (single-node schema only)
			opts.Tables = append(opts.Tables, seal.HourlyTables(logevent.LogsTable)...)
		}
		job := retention.New(conn, opts, log, reg)
		wg.Go(func() { job.Run(ctx) })
	}
	if cfg.SealInterval > 0 {
		job := seal.NewJob(conn, logevent.LogsTable, cfg.SealInterval, log, reg)
		wg.Go(func() { job.Run(ctx) })
	}
	log.Info("consuming", "topics", topics, "group", cfg.Group, "brokers", cfg.Kafka.Brokers)

	perr := p.Run(ctx) // returns once what was in hand is written and committed
	cancel()
	start := time.Now()
	cerr := reader.Close() // leaves the group
	derr := dlq.Close()
	wg.Wait()
	log.Info("stopped", "dur", time.Since(start).String())
	if cerr != nil {
		cerr = fmt.Errorf("close kafka reader: %w", cerr)
	}
	if derr != nil {
		derr = fmt.Errorf("close dead-letter writer: %w", derr)
	}
	return errors.Join(perr, serveErr, cerr, derr)
}

// newEngine is the consumer's HTTP surface: only /healthz, /readyz and
// /metrics (the OpenAPI document assigns it no operations).
func newEngine(log *slog.Logger, reg *prometheus.Registry, ready server.ReadyFunc, panics *server.Panics) (*gin.Engine, *server.Health) {
	return server.NewEngine(log, reg, ready, server.WithPanics(panics))
}
