package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"logpipe/consumer/pipeline"
	"logpipe/lib/chconn"
	"logpipe/lib/kafkaconf"
	"logpipe/lib/logevent"
)

// makeEvents returns n valid events of about 1.5 KB, each with a new id.
func makeEvents(n int) []logevent.Event {
	now := time.Now()
	prompt := strings.Repeat("Summarise the quarterly report in three bullet points. ", 10)
	answer := strings.Repeat("Revenue grew, costs fell, and the outlook is steady. ", 11)
	out := make([]logevent.Event, n)
	for i := range out {
		e := logevent.New()
		e.ID = logevent.NewID()
		e.OrganisationID, e.WorkspaceID = "org-test", "ws-test"
		e.CreatedAt = logevent.MillisOf(now.Add(-time.Duration(i) * time.Millisecond))
		e.RequestBody = logevent.RawJSON(`{"model":"gpt-4o","messages":[{"role":"user","content":"` + prompt + `"}]}`)
		e.ResponseBody = logevent.RawJSON(`{"choices":[{"message":{"role":"assistant","content":"` + answer + `"}}]}`)
		e.AIOrg, e.AIModel = "openai", "gpt-4o"
		e.ReqUnits, e.ResUnits, e.TotalUnits = 120, 80, 200
		e.Cost = 0.42
		e.RequestURL = "https://api.openai.com/v1/chat/completions"
		e.ResponseTime = uint32(100 + i%900)
		e.TraceID = fmt.Sprintf("trace-%d", i)
		e.RetentionDays = 30
		e.MetadataKey, e.MetadataValue = []string{"_user", "env"}, []string{"alice", "prod"}
		out[i] = e
	}
	return out
}

// produce writes events to topic, keyed by id, acknowledged by all replicas.
func produce(t testing.TB, brokers []string, topic string, events []logevent.Event) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	for chunk := range slices.Chunk(events, 1000) {
		msgs := make([]kafka.Message, len(chunk))
		for i := range chunk {
			b, err := logevent.Encode(&chunk[i])
			if err != nil {
				t.Error(err)
				return
			}
			msgs[i] = kafka.Message{Key: chunk[i].Key(), Value: b}
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Errorf("produce to %s: %v", topic, err)
			return
		}
	}
}

// testConfig is a consumer configuration for the test servers.
func testConfig(ch chconn.Config, brokers []string, topic, dlq, group string) Config {
	level := "error"
	if os.Getenv("LOGPIPE_TEST_LOG") == "1" {
		level = "debug"
	}
	return Config{
		Addr: "127.0.0.1:0", Group: group, Migrate: true, LogLevel: level,
		SessionTimeout: 6 * time.Second, FetchMaxBytes: 4 << 20, InsertParallelism: 2, LagInterval: 300 * time.Millisecond,
		ClickHouse: ch,
		Kafka:      kafkaconf.Config{Brokers: brokers, LogsTopic: topic, DeadLetterTopic: dlq},
		Pipeline: pipeline.Options{LogsTopic: topic, MaxRows: 2000, MaxBytes: 8 << 20, MaxAge: 200 * time.Millisecond,
			RetryMin: 50 * time.Millisecond, RetryMax: time.Second, DrainTimeout: 20 * time.Second},
	}
}

// startConsumer runs the consumer in-process until the returned stop is
// called; stop waits for it and returns run's error.
func startConsumer(t testing.TB, cfg Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		err = run(ctx, cfg)
		if err != nil && ctx.Err() == nil {
			t.Errorf("consumer stopped by itself: %v", err) // not only at stop(): a test waiting for rows says why
		}
	})
	var once sync.Once
	stop = func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// counts returns the rows of logs as readers see them (FINAL), the distinct
// ids, and the rows physically stored (duplicates included).
func counts(t testing.TB, conn driver.Conn) (final, uniq, raw uint64) {
	t.Helper()
	ctx := context.Background()
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM logs FINAL").Scan(&final, &uniq); err != nil {
		t.Fatalf("count logs: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM logs").Scan(&raw); err != nil {
		t.Fatalf("count logs: %v", err)
	}
	return final, uniq, raw
}

// waitRows waits until logs holds at least n rows (duplicates included).
func waitRows(t testing.TB, conn driver.Conn, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var raw uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM logs").Scan(&raw); err == nil && raw >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs has %d rows after %s; want at least %d", raw, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExactlyOnce waits until every id of events is in logs, then checks each
// is there exactly once as readers see it (count, uniq and the ids themselves).
func waitExactlyOnce(t testing.TB, conn driver.Conn, events []logevent.Event, timeout time.Duration) {
	t.Helper()
	n := uint64(len(events))
	deadline := time.Now().Add(timeout)
	var final, uniq, raw uint64
	for {
		final, uniq, raw = counts(t, conn)
		if uniq >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if final != n || uniq != n {
		t.Fatalf("logs FINAL has %d rows, %d distinct ids; want %d and %d", final, uniq, n, n)
	}
	rows, err := conn.Query(context.Background(), "SELECT id FROM logs FINAL")
	if err != nil {
		t.Fatalf("read ids: %v", err)
	}
	defer rows.Close()
	want := make(map[string]bool, n)
	for i := range events {
		want[events[i].ID] = true
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !want[id] {
			t.Fatalf("logs holds id %s, which was never produced (or twice)", id)
		}
		delete(want, id)
	}
	if len(want) > 0 {
		t.Fatalf("%d produced ids are missing from logs", len(want))
	}
	t.Logf("%d events visible exactly once; %d rows stored (%d duplicates written, collapsed for readers)", n, raw, raw-n)
}

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// consumerBinary builds the consumer once per test run.
func consumerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "consumer")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}
