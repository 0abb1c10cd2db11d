package main

import (
	"bytes"
	"os"
	"path/filepath"
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

// A CPU profile asked for with LOGPIPE_INGEST_CPU_PROFILE is written once
// stopped (pprof's gzipped protobuf); without it nothing is started.
func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	t.Setenv("LOGPIPE_INGEST_CPU_PROFILE", path)
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("the profile starts with % x; want gzip data", b[:min(len(b), 4)])
	}
	stop, err = startCPUProfile("")
	if err != nil || stop() != nil {
		t.Fatalf("no profile: got %v; want nothing to do", err)
	}
	if _, err := startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.prof")); err == nil {
		t.Fatal("a profile into a missing directory started; want an error")
	}
}
