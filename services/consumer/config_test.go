package main

import (
	"testing"
	"time"
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
