package store

import (
	"context"
	"math/rand"
	"testing"
	"time"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
	"logpipe/query/filter"
)

// Paging through logs of which many have several unmerged copies, in parts
// of their own, returns every log exactly once, and the total agrees.
func TestListingWithManyUnmergedCopies(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	st := New(conn)
	now := time.Now().UTC()
	r := rand.New(rand.NewSource(3))
	var evs []logevent.Event
	for i := 0; i < 3000; i++ {
		e := event("wsa", now.Add(-time.Duration(r.Int63n(int64(50*time.Minute)))), i)
		e.ID = logevent.NewID()
		evs = append(evs, e)
	}
	insert(t, conn, evs)
	for copy := 0; copy < 3; copy++ {
		var again []logevent.Event
		for i := range evs {
			if r.Intn(10) < 4 {
				again = append(again, evs[i])
			}
		}
		insert(t, conn, again)
	}
	sc := NewScope(principal("wsa", tenant.PlanProduction), now)
	seen := map[string]int{}
	var after *Cursor
	for pages := 0; pages < 1000; pages++ {
		logs, next, err := st.List(ctx, sc, filter.Filter{}, after, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			seen[l.ID]++
		}
		if next == nil {
			break
		}
		after = next
	}
	for _, e := range evs {
		if seen[e.ID] != 1 {
			t.Errorf("log %s listed %d times; want 1", e.ID, seen[e.ID])
		}
	}
	n, err := st.Count(ctx, sc, filter.Filter{})
	if err != nil || n != uint64(len(evs)) {
		t.Errorf("total %d (%v); want %d", n, err, len(evs))
	}
}
