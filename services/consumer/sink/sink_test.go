package sink

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"logpipe/lib/chconn"
	"logpipe/lib/logevent"
	"logpipe/lib/testenv"
)

// events returns n varied events across two retention tiers and two days.
func events(n int) []logevent.Event {
	now := time.Now()
	out := make([]logevent.Event, n)
	for i := range out {
		e := logevent.New()
		e.ID = fmt.Sprintf("id-%05d", n-i)
		e.OrganisationID, e.WorkspaceID = "org", []string{"ws-b", "ws-a"}[i%2]
		e.CreatedAt = logevent.MillisOf(now.Add(-time.Duration(i%3) * 24 * time.Hour).Add(-time.Duration(i) * time.Millisecond))
		e.RetentionDays = []uint16{3, 30}[i%2]
		e.RequestBody = logevent.RawJSON(fmt.Sprintf(`{"n":%d}`, i))
		if i%5 == 0 {
			e.DropBodies()
		}
		e.Cost, e.TotalUnits, e.ResponseStatusCode = float64(i)/7, uint32(i), uint16(200+i%300)
		if i%4 != 0 {
			e.MetadataKey, e.MetadataValue = []string{"k"}, []string{fmt.Sprint(i)}
		}
		out[i] = e
	}
	return out
}

func TestTableOrder(t *testing.T) {
	evs := events(100)
	order := tableOrder(evs)
	key := func(e *logevent.Event) string {
		return fmt.Sprintf("%05d|%010d|%s|%020d|%s", e.RetentionDays, e.CreatedAt/86400000, e.WorkspaceID, e.CreatedAt, e.ID)
	}
	for i := 1; i < len(order); i++ {
		if a, b := key(&evs[order[i-1]]), key(&evs[order[i]]); a > b {
			t.Fatalf("rows %d and %d out of table order: %s > %s", i-1, i, a, b)
		}
	}
}

// TestInsertLogsRoundTrip: what the columnar, parallel insert writes reads
// back as the same events, column for column.
func TestInsertLogsRoundTrip(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	want := events(5000)
	if err := New(conn, 3).InsertLogs(ctx, want); err != nil {
		t.Fatalf("InsertLogs: %v", err)
	}
	rows, err := conn.Query(ctx, "SELECT "+logevent.SelectList(logevent.Columns)+" FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]logevent.Event{}
	for rows.Next() {
		var e logevent.Event
		if err := rows.Scan(e.Dests(logevent.Columns)...); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got[e.ID] = e
	}
	if len(got) != len(want) {
		t.Fatalf("read %d rows back; want %d", len(got), len(want))
	}
	for _, w := range want {
		g := got[w.ID]
		// Empty arrays and payloads read back as empty, not nil.
		if len(w.MetadataKey) == 0 {
			w.MetadataKey, w.MetadataValue = g.MetadataKey, g.MetadataValue
		}
		for _, p := range []*logevent.RawJSON{&w.RequestBody, &w.ResponseBody, &w.RequestHeaders, &w.ResponseHeaders} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		for _, p := range []*logevent.RawJSON{&g.RequestBody, &g.ResponseBody, &g.RequestHeaders, &g.ResponseHeaders} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		if len(g.MetadataKey) == 0 && len(w.MetadataKey) == 0 {
			g.MetadataKey, g.MetadataValue, w.MetadataKey, w.MetadataValue = nil, nil, nil, nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("row %s read back as\n%+v\nwant\n%+v", w.ID, g, w)
		}
	}
}

func TestMarks(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s := New(conn, 1)
	if w, err := s.Mark(ctx, "logs", 0); err != nil || w.Offset != -1 {
		t.Fatalf("Mark on an empty table = %+v, %v; want offset -1", w, err)
	}
	for _, off := range []int64{10, 42, 7} {
		if err := s.InsertMarks(ctx, []Mark{{Topic: "logs", Partition: 0, Offset: off}, {Topic: "logs", Partition: 1, Offset: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.Mark(ctx, "logs", 0)
	if err != nil || w.Offset != 42 || w.Generation != 0 || time.Since(w.UpdatedAt) > time.Minute {
		t.Fatalf("Mark = %+v, %v; want the highest offset, 42, written just now", w, err)
	}
	// a new generation (the partition's offsets started over) supersedes the
	// higher offsets of the one before
	if err := s.InsertMarks(ctx, []Mark{{Topic: "logs", Partition: 0, Generation: 1, Offset: 3}}); err != nil {
		t.Fatal(err)
	}
	if w, err := s.Mark(ctx, "logs", 0); err != nil || w.Offset != 3 || w.Generation != 1 {
		t.Fatalf("Mark after a new generation = %+v, %v; want generation 1, offset 3", w, err)
	}
	if w, err := s.Mark(ctx, "logs", 1); err != nil || w.Offset != 1 || w.Generation != 0 {
		t.Fatalf("Mark of another partition = %+v, %v; want generation 0, offset 1", w, err)
	}
}

// A row ClickHouse refuses is told apart, by the server's exception code,
// from ClickHouse being away.
func TestRefusedRowsAreToldApartFromOutages(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	s := New(conn, 1)
	ctx := context.Background()
	bad := events(3)
	bad[1].MetadataKey, bad[1].MetadataValue = []string{"a", "b"}, []string{"only one"} // the server checks Nested sizes
	err := s.InsertLogs(ctx, bad)
	if err == nil || !Refused(err) {
		t.Fatalf("insert of a row with mismatched metadata arrays: %v; want an error Refused recognises", err)
	}
	if err := s.InsertLogs(ctx, events(3)); err != nil || Refused(err) {
		t.Fatalf("insert of good rows: %v", err)
	}
	// a server that does not answer is not a refusal
	cfg.Addr = testenv.FreeAddr(t)
	down, err := chconn.Open(ctx, cfg, false)
	if err == nil {
		defer down.Close()
		err = New(down, 1).InsertLogs(ctx, events(3))
	}
	if err == nil || Refused(err) {
		t.Fatalf("insert into a server that is down: %v; want an error that is not a refusal", err)
	}
}
