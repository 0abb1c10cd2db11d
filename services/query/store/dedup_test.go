package store

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/logevent"
	"logpipe/lib/seal"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
	"logpipe/query/filter"
)

// Sealed days are counted without FINAL and stay exact: duplicates in
// separate parts of finished days, today's unmerged duplicates, and a late
// duplicate written into a sealed day after it was sealed are each counted
// once, by the total and by a graph.
func TestSealedDaysCountExactly(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	st := New(conn)
	final := NewAlwaysFinal(conn)
	now := time.Now().UTC()
	var evs []logevent.Event
	for i := 0; i < 500; i++ { // five days, the last of them today
		evs = append(evs, event("wsa", now.Add(-time.Duration(i)*14*time.Minute), i))
	}
	insert(t, conn, evs)
	insert(t, conn, evs[:300]) // copies in a second part of every day
	want := uint64(len(evs))
	sc := NewScope(principal("wsa", tenant.PlanProduction), now)
	check := func(when string) {
		t.Helper()
		for name, s := range map[string]*Store{"sealed reads": st, "FINAL": final} {
			n, err := s.Count(ctx, sc, filter.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s: %s counts %d logs; want %d", when, name, n, want)
			}
			pts, totals, err := s.Series(ctx, sc, filter.Filter{}, SrcLogs, Hour, []string{"count()"})
			if err != nil {
				t.Fatal(err)
			}
			sum := 0.0
			for _, p := range pts {
				sum += p.Values[0]
			}
			if sum != float64(want) || totals[0] != float64(want) {
				t.Errorf("%s: %s graph sums to %v (total %v); want %d", when, name, sum, totals[0], want)
			}
		}
	}
	check("before sealing")
	job := seal.NewJob(conn, logevent.LogsTable, time.Hour, testenv.Logger(), prometheus.NewRegistry())
	n, err := job.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no partition was sealed")
	}
	snap, err := seal.NewCache(conn, logevent.LogsTable).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := snap.Ranges(int64(sc.RetentionCutoff()), 0, now.UnixMilli()); len(r) == 0 {
		t.Fatal("no sealed range after sealing")
	}
	check("after sealing")
	// A late copy of an old log lands in a sealed day: that day reopens.
	insert(t, conn, evs[len(evs)-1:])
	time.Sleep(seal.MaxAge)
	check("after a late copy")
}
