package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
	"logpipe/query/filter"
)

// Regression tests for SQL that ClickHouse 18.16 and current releases read
// differently; scripts/test.sh runs them on both engines.

func insertFeedback(t *testing.T, conn driver.Conn, fs []feedback.Feedback) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), feedback.InsertSQL())
	if err != nil {
		t.Fatalf("prepare feedback insert: %v", err)
	}
	for i := range fs {
		if err := b.Append(fs[i].Row()...); err != nil {
			t.Fatalf("append feedback: %v", err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert feedback: %v", err)
	}
}

// feedbackOn returns one single-version feedback with id on e's trace.
func feedbackOn(e logevent.Event, id string, value int8, weight float64) feedback.Feedback {
	return feedback.Feedback{ID: id, OrganisationID: e.OrganisationID, WorkspaceID: e.WorkspaceID, TraceID: e.TraceID,
		Value: value, Weight: weight, CreatedAt: e.CreatedAt + 1000, UpdatedAt: e.CreatedAt + 1000,
		RetentionDays: 30, MetadataKey: []string{}, MetadataValue: []string{}}
}

// seedTraces inserts three logs of workspace wsa on two traces (two logs of
// model-a on trace-1, one of model-b on trace-2), with metadata env=prod on the
// first two and env=dev on the third; it returns them.
func seedTraces(t *testing.T, conn driver.Conn, now time.Time) []logevent.Event {
	t.Helper()
	var evs []logevent.Event
	for i, spec := range []struct{ trace, model, env string }{
		{"trace-1", "model-a", "prod"}, {"trace-1", "model-a", "prod"}, {"trace-2", "model-b", "dev"},
	} {
		e := event("wsa", now.Add(-time.Duration(i+1)*time.Minute), i)
		e.TraceID, e.AIModel = spec.trace, spec.model
		e.MetadataKey, e.MetadataValue = []string{"env"}, []string{spec.env}
		evs = append(evs, e)
	}
	insert(t, conn, evs)
	return evs
}

// ANY INNER JOIN keeps one row per key of the left side on current
// ClickHouse: three feedbacks on one trace counted once. Every feedback must
// count, on every engine.
func TestFeedbackModelsCountsEveryFeedbackOfATrace(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	st := New(conn)
	ctx := context.Background()
	now := time.Now()
	evs := seedTraces(t, conn, now)
	insertFeedback(t, conn, []feedback.Feedback{
		feedbackOn(evs[0], "fb-1", 4, 1), feedbackOn(evs[0], "fb-2", 2, 0.5), feedbackOn(evs[1], "fb-3", -6, 1),
		feedbackOn(evs[2], "fb-4", 10, 1),
	})
	sc := NewScope(principal("wsa", tenant.PlanProduction), now)

	tot, err := st.Totals(ctx, sc, filter.Filter{}, SrcFeedbackModels, []string{"count()", "sum(v * w)"})
	if err != nil {
		t.Fatalf("feedback models totals: %v", err)
	}
	if tot[0] != 4 || tot[1] != 4+1-6+10 {
		t.Errorf("feedback models: count %v, sum %v; want 4 and 9", tot[0], tot[1])
	}
	groups, total, err := st.Groups(ctx, sc, filter.Filter{}, SrcFeedbackModels, Col("ai_model"), nil, "", []string{"count()"}, 0, false, 10, 0)
	if err != nil {
		t.Fatalf("feedback models groups: %v", err)
	}
	got := fmt.Sprint(groups)
	if want := "[{model-a [3]} {model-b [1]}]"; total != 2 || got != want {
		t.Errorf("feedback per model: %d groups %s; want 2 groups %s", total, got, want)
	}
	bd, err := st.Breakdown(ctx, sc, filter.Filter{}, SrcFeedbackModels, Hour, Col("ai_model"), "", "count()")
	if err != nil {
		t.Fatalf("feedback models breakdown: %v", err)
	}
	sum := map[string]float64{}
	for _, per := range bd {
		for k, v := range per {
			sum[k] += v
		}
	}
	if sum["model-a"] != 3 || sum["model-b"] != 1 || len(sum) != 2 {
		t.Errorf("feedback breakdown per model: %v; want model-a 3, model-b 1", sum)
	}
}

// A JOIN of two subqueries without aliases fails on current ClickHouse (code
// 206): the logs-with-feedback source (metadata groups, weighted feedback
// groups) must run, and give the per-trace average on every log of the trace.
func TestLogsFeedbackSourceJoinsOnEveryEngine(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	st := New(conn)
	ctx := context.Background()
	now := time.Now()
	evs := seedTraces(t, conn, now)
	insertFeedback(t, conn, []feedback.Feedback{feedbackOn(evs[0], "fb-1", 4, 1), feedbackOn(evs[0], "fb-2", 2, 0.5)})
	sc := NewScope(principal("wsa", tenant.PlanProduction), now)

	key := Col("metadata.value") + "[indexOf(" + Col("metadata.key") + ", ?)]"
	groups, total, err := st.Groups(ctx, sc, filter.Filter{}, SrcLogsFeedback, key, []any{"env"}, "has("+Col("metadata.key")+", ?)",
		[]string{"count()", "sum(has_fb)", "sum(wf)"}, 0, false, 10, 0)
	if err != nil {
		t.Fatalf("metadata groups over logs with feedback: %v", err)
	}
	// trace-1's average weighted feedback is (4 + 1) / 2 = 2.5, on both its logs.
	if got, want := fmt.Sprint(groups), "[{prod [2 2 5]} {dev [1 0 0]}]"; total != 2 || got != want {
		t.Errorf("metadata groups: %d groups %s; want 2 groups %s", total, got, want)
	}
	tot, err := st.Totals(ctx, sc, filter.Filter{}, SrcLogsFeedback, []string{"count()", "sum(has_fb)"})
	if err != nil {
		t.Fatalf("logs with feedback totals: %v", err)
	}
	if tot[0] != 3 || tot[1] != 2 {
		t.Errorf("logs with feedback: %v logs, %v with feedback; want 3 and 2", tot[0], tot[1])
	}
}

// Bounded's settings reach 18.16 as numbers, which clickhouse-go encodes for
// Go int and bool only (an int64 failed every bounded query on 18.16).
func TestBoundedQueriesRunOnEveryEngine(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	st := New(conn)
	now := time.Now()
	seedTraces(t, conn, now)
	ctx := Bounded(context.Background(), Bounds{MaxMemoryBytes: 1 << 30, MaxExecution: 10 * time.Second})
	n, err := st.Count(ctx, NewScope(principal("wsa", tenant.PlanProduction), now), filter.Filter{})
	if err != nil {
		t.Fatalf("bounded count: %v", err)
	}
	if n != 3 {
		t.Errorf("bounded count: %d; want 3", n)
	}
}
