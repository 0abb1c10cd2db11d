package main

import (
	"testing"

	"logpipe/lib/logevent"
)

// Ingest reads its validation limits from the variables the consumer reads
// (logevent.RegisterLimitFlags), so both apply the same ones.
func TestConfigLimitsAreTheSharedOnes(t *testing.T) {
	for _, env := range []string{"LOGPIPE_MAX_PAYLOAD_BYTES", "LOGPIPE_MAX_STRING_BYTES", "LOGPIPE_MAX_METADATA_KEYS", "LOGPIPE_MAX_METADATA_VALUE_CHARS"} {
		t.Setenv(env, "")
	}
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Limits != logevent.ServiceLimits {
		t.Fatalf("default limits = %+v; want the shared %+v", cfg.API.Limits, logevent.ServiceLimits)
	}
	t.Setenv("LOGPIPE_MAX_METADATA_KEYS", "100")
	t.Setenv("LOGPIPE_MAX_PAYLOAD_BYTES", "3000000")
	if cfg, err = parseConfig([]string{"-max-event-bytes=4000000", "-kafka-batch-bytes=8000000"}); err != nil {
		t.Fatal(err)
	}
	want := logevent.ServiceLimits
	want.MaxMetadataKeys, want.MaxPayloadBytes = 100, 3_000_000
	if cfg.API.Limits != want {
		t.Fatalf("limits = %+v; want %+v", cfg.API.Limits, want)
	}
}

// LOGPIPE_INGEST_CPU_PROFILE names the CPU profile's file.
func TestCPUProfileFile(t *testing.T) {
	t.Setenv("LOGPIPE_INGEST_CPU_PROFILE", "/tmp/ingest.prof")
	cfg, err := parseConfig(nil)
	if err != nil || cfg.CPUProfile != "/tmp/ingest.prof" {
		t.Fatalf("CPUProfile %q, %v; want /tmp/ingest.prof", cfg.CPUProfile, err)
	}
}
