package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChaosBounded is the bounded run of the chaos audit that `make test`
// includes: one round of every fault (the consumer SIGKILLed three times) at
// short random gaps under a steady load, then the audit. Its clients give up
// sooner than a gateway would (4 attempts), so some batches end unacknowledged
// and the "at most once" side of the audit is exercised too. `make chaos` runs
// longer with more rounds.
func TestChaosBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos audit takes a few minutes")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	off, _ := strconv.Atoi(os.Getenv("LOGPIPE_TEST_PORT_OFFSET"))
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LOGPIPE_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	cfg := Config{
		Repo: repo, StackDir: filepath.Join(repo, ".stack/chaos-test"), PortBase: 19500 + off,
		Rate: 100, Batch: 10, Attempts: 4, Rounds: 1, Gap: 2 * time.Second, Pause: 8 * time.Second, Tail: 3 * time.Second, Seed: seed,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := Run(ctx, cfg, &out)
	res.Print(&out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("chaos run (seed %d): %v", seed, err)
	}
	if !res.OK() {
		t.Fatalf("chaos audit failed (seed %d; LOGPIPE_CHAOS_SEED=%d reruns the same schedule)", seed, seed)
	}
	if res.Acked < 1000 || len(res.Faults) < 9 {
		t.Fatalf("the run proved too little: %d events acknowledged, %d kinds of fault", res.Acked, len(res.Faults))
	}
}
