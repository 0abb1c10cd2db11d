// Command ingest is the write side of the log pipeline: it authenticates
// gateway requests, validates and normalises log events and feedback, applies
// DO NOT TRACK and plan quotas, and publishes to Kafka, answering 2xx only
// after Kafka acknowledged the events from all in-sync replicas.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"logpipe/ingest/api"
	"logpipe/ingest/fbindex"
	"logpipe/ingest/publish"
	"logpipe/ingest/quota"
	"logpipe/lib/chconn"
	"logpipe/lib/server"
	"logpipe/lib/tenant"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest: configuration:", err)
		os.Exit(2)
	}
	log := server.NewLogger(cfg.LogLevel)
	if cfg.MemoryLimitMB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMB) << 20)
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(200)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Addr, "err", err)
		os.Exit(1)
	}
	stopProfile, err := server.StartCPUProfile(cfg.CPUProfile)
	if err != nil {
		log.Error("cannot start the CPU profile", "file", cfg.CPUProfile, "err", err)
		os.Exit(1)
	}
	err = run(ctx, cfg, log, ln, server.NewRegistry())
	if perr := stopProfile(); perr != nil {
		log.Error("cannot write the CPU profile", "file", cfg.CPUProfile, "err", perr)
	}
	if err != nil {
		log.Error("ingest failed", "err", err)
		os.Exit(1)
	}
}

// run serves ingest on ln until ctx ends, then drains: readiness turns 503,
// in-flight requests finish, the Kafka writers flush, usage counts are flushed.
func run(ctx context.Context, cfg Config, log *slog.Logger, ln net.Listener, reg *prometheus.Registry) error {
	keys, err := tenant.Open(cfg.KeysFile)
	if err != nil {
		return fmt.Errorf("open key registry: %w", err)
	}
	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	go keys.Watch(bg, 2*time.Second, log)

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ch, err := chconn.Open(cctx, cfg.ClickHouse, false)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to ClickHouse for usage counts: %w", err)
	}
	defer ch.Close()
	counter, err := quota.New(ch, log, reg)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := counter.Sync(sctx); err != nil {
		log.Warn("initial usage read failed; counting locally until ClickHouse answers", "err", err)
	}
	cancel()
	quotaDone := make(chan struct{})
	quotaCtx, stopQuota := context.WithCancel(context.Background())
	go func() { counter.Run(quotaCtx, cfg.QuotaSync); close(quotaDone) }()
	defer func() { stopQuota(); <-quotaDone }()

	pm, err := publish.NewMetrics(reg)
	if err != nil {
		return err
	}
	logs, err := publish.NewWriter(cfg.Kafka, cfg.Kafka.LogsTopic, "logs", cfg.Producer, pm)
	if err != nil {
		return err
	}
	defer closeWriter(log, logs)
	fb, err := publish.NewWriter(cfg.Kafka, cfg.Kafka.FeedbackTopic, "feedback", cfg.Producer, pm)
	if err != nil {
		return err
	}
	defer closeWriter(log, fb)

	queryURL, err := url.Parse(cfg.QueryURL)
	if err != nil {
		return fmt.Errorf("query URL: %w", err)
	}
	h, err := api.New(api.Deps{Log: log, Keys: keys, Logs: logs, Feedback: fb, Quota: counter,
		Feedbacks: fbindex.New(ch), QueryURL: queryURL, Registry: reg, Options: cfg.API})
	if err != nil {
		return err
	}
	// Readiness does not follow Kafka: while Kafka is down ingest stays in
	// rotation and answers 503 with Retry-After itself.
	engine, health := server.NewEngine(log, reg, nil, server.WithPanics(server.NewPanics(reg, "ingest", log)))
	h.Register(engine)
	return server.Serve(ctx, log, ln, engine, health, server.ServeOptions{ShutdownDelay: cfg.ShutdownDelay, DrainTimeout: cfg.DrainTimeout})
}

func closeWriter(log *slog.Logger, w *publish.Writer) {
	if err := w.Close(); err != nil {
		log.Error("kafka writer close failed", "topic", w.Topic(), "err", err)
	}
}
