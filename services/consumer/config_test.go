package main

import (
	"fmt"
	"testing"
	"time"

	"logpipe/lib/logevent"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	for _, env := range []string{"LOGPIPE_CONSUMER_BATCH_AGE", "LOGPIPE_CONSUMER_ADDR", "LOGPIPE_CONSUMER_GROUP", "LOGPIPE_MIGRATE",
		"LOGPIPE_LOGS_TOPIC", "LOGPIPE_FEEDBACK_TOPIC", "LOGPIPE_DLQ_TOPIC", "LOGPIPE_CONSUMER_WATERMARK"} {
		t.Setenv(env, "") // empty counts as unset
	}
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Addr != "127.0.0.1:8082" || cfg.Group != "logpipe-consumer" || !cfg.Migrate || cfg.Pipeline.MaxAge != time.Second ||
		cfg.Kafka.LogsTopic != "logpipe.logs" || cfg.Kafka.FeedbackTopic != "logpipe.feedback" || cfg.Kafka.DeadLetterTopic != "logpipe.logs.dlq" ||
		cfg.Pipeline.LogsTopic != cfg.Kafka.LogsTopic || cfg.Pipeline.NoWatermark {
		t.Errorf("defaults = %+v", cfg)
	}
	t.Setenv("LOGPIPE_CONSUMER_BATCH_AGE", "2s")
	if cfg, err := parseConfig([]string{"-watermark=false", "-feedback-topic="}); err != nil || cfg.Pipeline.MaxAge != 2*time.Second || !cfg.Pipeline.NoWatermark || cfg.Pipeline.FeedbackTopic != "" {
		t.Errorf("env and flags: %+v, %v", cfg.Pipeline, err)
	}
	for _, args := range [][]string{{"-batch-rows=0"}, {"-session-timeout=1s"}, {"-group="}, {"-retry-min=5s", "-retry-max=1s"}, {"-insert-parallelism=0"}} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("parseConfig(%v) accepted it; want an error", args)
		}
	}
}

// The consumer validates with the limits ingest is configured with (the same
// variables), so an event ingest accepted under a raised limit is written,
// not dead-lettered.
func TestConfigSharesIngestLimits(t *testing.T) {
	t.Setenv("LOGPIPE_MAX_METADATA_KEYS", "100")
	t.Setenv("LOGPIPE_MAX_PAYLOAD_BYTES", "3000000")
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := logevent.ServiceLimits
	want.MaxMetadataKeys, want.MaxPayloadBytes = 100, 3_000_000
	if cfg.Pipeline.Limits != want {
		t.Fatalf("limits = %+v; want %+v", cfg.Pipeline.Limits, want)
	}
	e := logevent.New()
	e.ID, e.WorkspaceID, e.CreatedAt = "id-1", "ws", 1763805845123
	for i := range 80 {
		e.MetadataKey = append(e.MetadataKey, fmt.Sprintf("k%d", i))
		e.MetadataValue = append(e.MetadataValue, "v")
	}
	if errs := e.Validate(cfg.Pipeline.Limits); len(errs) > 0 {
		t.Fatalf("an event within the raised limit is invalid: %v", errs)
	}
	if errs := e.Validate(logevent.ServiceLimits); len(errs) == 0 {
		t.Fatal("the event is within the default limits too; the test proves nothing")
	}
}
