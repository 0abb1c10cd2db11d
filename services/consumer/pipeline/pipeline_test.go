package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"logpipe/consumer/sink"
	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/server"
	"logpipe/lib/testenv"
)

// fakeSource hands out msgs, then blocks until ctx ends. Each of errs is
// returned once, before the messages.
type fakeSource struct {
	mu        sync.Mutex
	errs      []error
	msgs      []kafka.Message
	committed map[int]int64 // partition → last committed offset
	log       *[]string
	failures  int // the first fetches fail (the broker is away)
}

func (s *fakeSource) FetchMessage(ctx context.Context) (kafka.Message, error) {
	s.mu.Lock()
	if s.failures > 0 {
		s.failures--
		s.mu.Unlock()
		return kafka.Message{}, errors.New("failed to dial: connection refused")
	}
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		s.mu.Unlock()
		return kafka.Message{}, err
	}
	if len(s.msgs) > 0 {
		m := s.msgs[0]
		s.msgs = s.msgs[1:]
		s.mu.Unlock()
		return m, nil
	}
	s.mu.Unlock()
	<-ctx.Done()
	return kafka.Message{}, ctx.Err()
}

func (s *fakeSource) CommitMessages(_ context.Context, msgs ...kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.committed[m.Partition] = m.Offset
		*s.log = append(*s.log, fmt.Sprintf("commit %d@%d", m.Partition, m.Offset))
	}
	return nil
}

// fakeSink records inserts and fails the first failures of them.
type fakeSink struct {
	mu       sync.Mutex
	failures int
	panics   int             // the first inserts panic instead
	refuse   map[string]bool // ids ClickHouse refuses: a batch holding one fails
	rows     []logevent.Event
	marks    map[int]int64
	gens     map[int]uint32 // partition → generation of marks (0 when absent)
	markedAt time.Time      // when the marks were recorded (an hour ago when zero)
	log      *[]string
}

func (s *fakeSink) InsertLogs(_ context.Context, events []logevent.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		return errors.New("clickhouse is down")
	}
	for _, e := range events {
		if s.refuse[e.ID] {
			return fmt.Errorf("insert %d rows: %w", len(events), &clickhouse.Exception{Code: 190, Name: "DB::Exception",
				Message: "Elements 'metadata.key' and 'metadata.value' of Nested data structure (Array columns) have different array sizes."})
		}
	}
	if s.panics > 0 {
		s.panics--
		var m map[string]int
		m["boom"]++
	}
	s.rows = append(s.rows, events...)
	*s.log = append(*s.log, fmt.Sprintf("insert %d", len(events)))
	return nil
}

func (s *fakeSink) InsertFeedback(context.Context, []feedback.Feedback) error { return nil }

func (s *fakeSink) InsertMarks(_ context.Context, marks []sink.Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gens == nil {
		s.gens = map[int]uint32{}
	}
	for _, m := range marks {
		switch g := s.gens[m.Partition]; {
		case m.Generation > g:
			s.gens[m.Partition], s.marks[m.Partition] = m.Generation, m.Offset
		case m.Generation == g:
			s.marks[m.Partition] = max(s.marks[m.Partition], m.Offset)
		}
	}
	return nil
}

func (s *fakeSink) Mark(_ context.Context, _ string, partition int) (sink.Watermark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.marks[partition]; ok {
		at := s.markedAt
		if at.IsZero() {
			at = time.Now().Add(-time.Hour)
		}
		return sink.Watermark{Generation: s.gens[partition], Offset: o, UpdatedAt: at}, nil
	}
	return sink.Watermark{Offset: -1}, nil
}

type fakeDLQ struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (d *fakeDLQ) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, msgs...)
	return nil
}

func message(t *testing.T, partition int, offset int64, id string) kafka.Message {
	t.Helper()
	e := logevent.New()
	e.ID, e.WorkspaceID, e.CreatedAt = id, "ws", 1763805845123
	b, err := logevent.Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: "logs", Partition: partition, Offset: offset, Value: b}
}

// runUntil runs the pipeline until done reports true, then stops it.
func runUntil(t *testing.T, p *Pipeline, done func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("pipeline did not get there in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	return <-errc
}

func TestCommitsOnlyAfterInsertAndRetries(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log}
	for i := range 10 {
		src.msgs = append(src.msgs, message(t, i%2, int64(i/2), fmt.Sprintf("id-%d", i)))
	}
	src.msgs = append(src.msgs, kafka.Message{Topic: "logs", Partition: 0, Offset: 5, Value: []byte("{broken")})
	snk := &fakeSink{failures: 2, marks: map[int]int64{}, log: &log}
	dlq := &fakeDLQ{}
	p := New(Options{LogsTopic: "logs", MaxRows: 100, MaxAge: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond},
		src, snk, dlq, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.committed[0] == 5 && src.committed[1] == 4
	})
	if err != nil {
		t.Fatalf("Run returned %v; want nil after a clean stop", err)
	}
	if len(snk.rows) != 10 {
		t.Errorf("inserted %d rows; want 10", len(snk.rows))
	}
	if len(log) < 2 || log[0] != "insert 10" {
		t.Errorf("sink and commit order %v; want the insert (after two failed attempts) before any commit", log)
	}
	if len(dlq.msgs) != 1 || string(dlq.msgs[0].Value) != "{broken" {
		t.Fatalf("dead letters %v; want the broken message", dlq.msgs)
	}
	h := map[string]string{}
	for _, x := range dlq.msgs[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if h[HeaderReason] != ReasonDecode || h[HeaderTopic] != "logs" || h[HeaderPartition] != "0" || h[HeaderOffset] != "5" {
		t.Errorf("dead-letter headers %v; want reason decode, origin logs/0/5", h)
	}
}

func TestWatermarkSkipsWrittenMessages(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log}
	for i := range 6 {
		src.msgs = append(src.msgs, message(t, 0, int64(i), fmt.Sprintf("id-%d", i)))
	}
	snk := &fakeSink{marks: map[int]int64{0: 3}, log: &log} // offsets 0-3 already written
	p := New(Options{LogsTopic: "logs", MaxAge: 10 * time.Millisecond}, src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	if err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.committed[0] == 5
	}); err != nil {
		t.Fatal(err)
	}
	if len(snk.rows) != 2 || snk.rows[0].ID != "id-4" || snk.rows[1].ID != "id-5" {
		t.Errorf("inserted %d rows; want only id-4 and id-5 (the rest is below the watermark)", len(snk.rows))
	}
}

func TestShutdownGivesUpAfterDrainTimeout(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log, msgs: []kafka.Message{message(t, 0, 0, "a")}}
	snk := &fakeSink{failures: 1 << 30, marks: map[int]int64{}, log: &log}
	p := New(Options{LogsTopic: "logs", MaxAge: 5 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, DrainTimeout: 50 * time.Millisecond},
		src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	err := runUntil(t, p, func() bool { return p.Err() != nil })
	if err == nil {
		t.Fatal("Run returned nil with ClickHouse down; want the drain error")
	}
	if len(src.committed) != 0 {
		t.Errorf("committed %v with nothing written; want no commit", src.committed)
	}
}

// TestRewoundPartitionIsNotWrittenTwice: a rebalance that hands a partition
// back at its committed offset re-delivers messages the batch already holds;
// they must be written once (regression: they were written twice).
func TestRewoundPartitionIsNotWrittenTwice(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log}
	for _, off := range []int64{0, 1, 2, 3, 4, 2, 3, 4} {
		src.msgs = append(src.msgs, message(t, 0, off, fmt.Sprintf("id-%d", off)))
	}
	snk := &fakeSink{marks: map[int]int64{}, log: &log}
	p := New(Options{LogsTopic: "logs", NoWatermark: true, MaxAge: 50 * time.Millisecond}, src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	if err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return len(src.msgs) == 0 && src.committed[0] == 4
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range snk.rows {
		seen[e.ID]++
	}
	if len(snk.rows) != 5 || len(seen) != 5 {
		t.Errorf("inserted %d rows (%d distinct); want 5, each once", len(snk.rows), len(seen))
	}
}

// A panic in a write is counted and retried like a failed write: the batch
// lands once and the consumer goes on.
func TestPanicInWriteIsRetried(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log}
	for i := range 4 {
		src.msgs = append(src.msgs, message(t, 0, int64(i), fmt.Sprintf("id-%d", i)))
	}
	snk := &fakeSink{panics: 2, marks: map[int]int64{}, log: &log}
	reg := prometheus.NewRegistry()
	panics := server.NewPanics(reg, "consumer", testenv.Logger())
	p := New(Options{LogsTopic: "logs", MaxAge: 10 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, Panics: panics},
		src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(reg))
	if err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.committed[0] == 3
	}); err != nil {
		t.Fatal(err)
	}
	if len(snk.rows) != 4 {
		t.Errorf("inserted %d rows; want 4, once", len(snk.rows))
	}
	if n := testutil.ToFloat64(panicCounter(t, reg)); n != 2 {
		t.Errorf("logpipe_consumer_panics_total = %v; want 2", n)
	}
}

// panicCounter is the consumer's panic counter on reg.
func panicCounter(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	for _, mf := range mfs {
		if mf.GetName() == "logpipe_consumer_panics_total" {
			for _, m := range mf.GetMetric() {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

// A watermark the partition cannot hold is never trusted: one at or beyond
// the partition's high-water mark (offsets reset, the topic recreated with
// fewer messages), or one recorded before the messages it would skip were
// produced (the topic recreated and refilled). Every message is written and
// the partition's watermark starts a new generation.
func TestStaleWatermarkIsIgnored(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		mark     int64
		markedAt time.Time
		msgTime  time.Time
		hwm      int64
		skipped  int // messages the watermark rightly covers
	}{
		{name: "beyond the high-water mark", mark: 100, markedAt: now, msgTime: now.Add(-time.Minute), hwm: 6},
		{name: "recorded before the messages were produced", mark: 4, markedAt: now.Add(-time.Hour), msgTime: now, hwm: 6},
		{name: "a true watermark", mark: 3, markedAt: now, msgTime: now.Add(-time.Minute), hwm: 6, skipped: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			src := &fakeSource{committed: map[int]int64{}, log: &log}
			for i := range 6 {
				m := message(t, 0, int64(i), fmt.Sprintf("id-%d", i))
				m.Time, m.HighWaterMark = tc.msgTime, tc.hwm
				src.msgs = append(src.msgs, m)
			}
			snk := &fakeSink{marks: map[int]int64{0: tc.mark}, gens: map[int]uint32{0: 7}, markedAt: tc.markedAt, log: &log}
			p := New(Options{LogsTopic: "logs", MaxAge: 10 * time.Millisecond}, src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
			if err := runUntil(t, p, func() bool {
				src.mu.Lock()
				defer src.mu.Unlock()
				return src.committed[0] == 5
			}); err != nil {
				t.Fatal(err)
			}
			if len(snk.rows) != 6-tc.skipped {
				t.Fatalf("inserted %d rows; want %d", len(snk.rows), 6-tc.skipped)
			}
			wantGen := uint32(7)
			if tc.skipped == 0 {
				wantGen = 8
			}
			if snk.gens[0] != wantGen || snk.marks[0] != 5 {
				t.Errorf("watermark after the batch: generation %d offset %d; want generation %d offset 5", snk.gens[0], snk.marks[0], wantGen)
			}
		})
	}
}

// Rows ClickHouse refuses go to the dead-letter topic with the server's error
// after a bounded number of attempts; the rest of their batch is written once
// and the partition moves on. An outage (any other error) is waited out
// however long it lasts, and sends nothing to the dead-letter topic.
func TestRefusedRowsAreDeadLettered(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log}
	for i := range 20 {
		src.msgs = append(src.msgs, message(t, i%2, int64(i/2), fmt.Sprintf("id-%d", i)))
	}
	snk := &fakeSink{failures: 8, refuse: map[string]bool{"id-3": true, "id-11": true}, marks: map[int]int64{}, log: &log}
	dlq := &fakeDLQ{}
	p := New(Options{LogsTopic: "logs", MaxRows: 100, MaxAge: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond},
		src, snk, dlq, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	if err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.committed[0] == 9 && src.committed[1] == 9
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range snk.rows {
		seen[e.ID]++
	}
	if len(snk.rows) != 18 || len(seen) != 18 || seen["id-3"] != 0 || seen["id-11"] != 0 {
		t.Fatalf("inserted %d rows (%d distinct, id-3 %d, id-11 %d); want the 18 good ones once each", len(snk.rows), len(seen), seen["id-3"], seen["id-11"])
	}
	if len(dlq.msgs) != 2 {
		t.Fatalf("%d dead letters; want the 2 refused rows", len(dlq.msgs))
	}
	for _, m := range dlq.msgs {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		e, err := logevent.Decode(m.Value)
		if err != nil || !snk.refuse[e.ID] {
			t.Errorf("dead letter %q (%v); want a refused row", m.Value, err)
		}
		if h[HeaderReason] != ReasonRefused || !strings.Contains(h[HeaderError], "different array sizes") || h[HeaderTopic] != "logs" || h[HeaderPartition] != "1" {
			t.Errorf("dead-letter headers %v; want reason refused, the server's error, origin logs/1", h)
		}
	}
}

// A broker that is away makes fetches fail for a while; the pipeline retries
// them rather than stopping the consumer, and goes on once the broker is back.
func TestFetchErrorsAreRetried(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log, failures: 5}
	for i := range 3 {
		src.msgs = append(src.msgs, message(t, 0, int64(i), fmt.Sprintf("id-%d", i)))
	}
	snk := &fakeSink{marks: map[int]int64{}, log: &log}
	p := New(Options{LogsTopic: "logs", MaxAge: 10 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond},
		src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	if err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.committed[0] == 2
	}); err != nil {
		t.Fatalf("Run returned %v; want nil after a clean stop", err)
	}
	if len(snk.rows) != 3 {
		t.Errorf("inserted %d rows; want 3", len(snk.rows))
	}
}

// A fetch error (a broker died under the consumer-group reader) is retried,
// not the end of the consumer: the messages after it are still written.
func TestFetchErrorsOfAnyKindAreRetried(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log,
		errs: []error{errors.New("failed to dial: connection refused"), errors.New("unexpected EOF")}}
	for i := range 4 {
		src.msgs = append(src.msgs, message(t, 0, int64(i), fmt.Sprintf("id-%d", i)))
	}
	snk := &fakeSink{marks: map[int]int64{}, log: &log}
	p := New(Options{LogsTopic: "logs", MaxRows: 100, MaxAge: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond},
		src, snk, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	err := runUntil(t, p, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.committed[0] == 3
	})
	if err != nil {
		t.Fatalf("Run returned %v; want nil after a clean stop", err)
	}
	if len(snk.rows) != 4 {
		t.Errorf("inserted %d rows; want 4", len(snk.rows))
	}
}

// A closed reader (io.EOF) ends the pipeline with an error.
func TestClosedSourceStops(t *testing.T) {
	var log []string
	src := &fakeSource{committed: map[int]int64{}, log: &log, errs: []error{io.EOF}}
	p := New(Options{LogsTopic: "logs", RetryMin: time.Millisecond},
		src, &fakeSink{marks: map[int]int64{}, log: &log}, &fakeDLQ{}, testenv.Logger(), NewMetrics(prometheus.NewRegistry()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Run returned %v; want the reader's io.EOF", err)
	}
}
