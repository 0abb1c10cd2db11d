package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
	"logpipe/query/filter"
)

func insert(t *testing.T, conn driver.Conn, evs []logevent.Event) {
	t.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, logevent.InsertSQL(logevent.LogsTable))
	if err != nil {
		t.Fatalf("prepare insert: %v", err)
	}
	for i := range evs {
		if err := b.Append(evs[i].Row()...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert %d logs: %v", len(evs), err)
	}
}

func event(ws string, at time.Time, i int) logevent.Event {
	e := logevent.New()
	e.ID = fmt.Sprintf("%s-%06d", ws, i)
	e.OrganisationID, e.WorkspaceID = "org-"+ws, ws
	e.CreatedAt = logevent.MillisOf(at)
	e.Cost = float64(i%7) + 0.25
	e.TotalUnits = uint32(i % 100)
	e.RetentionDays = 30
	return e
}

func principal(ws string, plan tenant.Plan) tenant.Principal {
	return tenant.Principal{OrganisationID: "org-" + ws, WorkspaceID: ws, Role: tenant.RoleMember, Plan: plan, RetentionDays: plan.Limits().RetentionDays}
}

func TestTenancyRetentionAndDuplicates(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	st := New(conn)
	ctx := context.Background()
	now := time.Now()
	var a, b []logevent.Event
	for i := 0; i < 60; i++ {
		a = append(a, event("wsa", now.Add(-time.Duration(i)*time.Hour), i))
		b = append(b, event("wsb", now.Add(-time.Duration(i)*time.Minute), i))
	}
	old := event("wsa", now.Add(-4*24*time.Hour), 999) // past the developer plan's 3 days
	insert(t, conn, append(append(a, b...), old))
	insert(t, conn, a[10:30]) // redelivered duplicates in another part
	insert(t, conn, a[20:25]) // and a third copy

	sc := NewScope(principal("wsa", tenant.PlanDeveloper), now)
	n, err := st.Count(ctx, sc, filter.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 60 {
		t.Errorf("count: got %d; want 60 (duplicates and the expired log excluded)", n)
	}
	var wantCost float64
	for _, e := range a {
		wantCost += e.Cost
	}
	tot, err := st.Totals(ctx, sc, filter.Filter{}, SrcLogs, []string{"sum(" + Col("cost") + ")", "count()"})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(tot[0]-wantCost) > 1e-9 || tot[1] != 60 {
		t.Errorf("sum(cost), count: got %v; want %v, 60", tot, wantCost)
	}
	logs, next, err := st.List(ctx, sc, filter.Filter{}, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 60 || next != nil {
		t.Fatalf("list: got %d logs (next %v); want 60 and no next page", len(logs), next)
	}
	for i, e := range logs {
		if e.WorkspaceID != "wsa" || e.ID != a[i].ID {
			t.Fatalf("list[%d]: got %s/%s; want wsa/%s", i, e.WorkspaceID, e.ID, a[i].ID)
		}
		if len(e.RequestBody) != 0 {
			t.Fatalf("listing read a body")
		}
	}
	if _, ok, err := st.Get(ctx, sc, b[0].ID); err != nil || ok {
		t.Errorf("get another workspace's log: ok=%v err=%v; want not found", ok, err)
	}
	if _, ok, err := st.Get(ctx, sc, old.ID); err != nil || ok {
		t.Errorf("get a log past retention: ok=%v err=%v; want not found", ok, err)
	}
	if got, ok, err := st.Get(ctx, sc, a[5].ID); err != nil || !ok || got.ID != a[5].ID {
		t.Errorf("get own log: %v %v %v", got.ID, ok, err)
	}
	// A longer retention sees the old log.
	if n, _ := st.Count(ctx, NewScope(principal("wsa", tenant.PlanProduction), now), filter.Filter{}); n != 61 {
		t.Errorf("production plan count: got %d; want 61", n)
	}
	if _, ok := SharedScope(principal("wsb", tenant.PlanDeveloper), "org-wsa", "wsa", now); ok {
		t.Error("a key of another organisation got a shared scope")
	}
	if _, err := st.Count(ctx, Scope{}, filter.Filter{}); err == nil {
		t.Error("zero scope: want an error")
	}
}

func TestListPagesStayExactUnderConcurrentInserts(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	st := New(conn)
	ctx := context.Background()
	now := time.Now()
	var base []logevent.Event
	for i := 0; i < 500; i++ {
		// several logs share a millisecond, so the id breaks ties
		base = append(base, event("ws", now.Add(-time.Duration(i/3)*37*time.Minute), i))
	}
	insert(t, conn, base)
	want := append([]logevent.Event(nil), base...)
	sort.Slice(want, func(i, j int) bool {
		if want[i].CreatedAt != want[j].CreatedAt {
			return want[i].CreatedAt > want[j].CreatedAt
		}
		return want[i].ID > want[j].ID
	})
	sc := NewScope(principal("ws", tenant.PlanProduction), now)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // newer logs and redelivered duplicates keep arriving
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			fresh := []logevent.Event{event("ws", now.Add(time.Duration(k+1)*time.Second), 10000+k)}
			insert(t, conn, append(fresh, base[(k*7)%500], base[(k*11)%500]))
		}
	}()
	var got []string
	var cur *Cursor
	for page := 0; ; page++ {
		logs, next, err := st.List(ctx, sc, filter.Filter{}, cur, 23)
		if err != nil {
			t.Fatal(err)
		}
		if page == 0 { // the first page may start with logs inserted meanwhile
			for len(logs) > 0 && logs[0].CreatedAt > logevent.MillisOf(now) {
				logs = logs[1:]
			}
		}
		for _, e := range logs {
			got = append(got, e.ID)
		}
		if next == nil {
			break
		}
		cur = next
	}
	close(stop)
	wg.Wait()
	// drop fresh logs the first page may have carried at its head
	for len(got) > 0 && got[0] >= "ws-010000" {
		got = got[1:]
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d logs; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i].ID {
			t.Fatalf("position %d: got %s; want %s", i, got[i], want[i].ID)
		}
	}
}

// Listing pages cross long empty stretches (logs 3, 20 and 200 days old,
// nothing between) in order and completely, and an empty workspace lists
// nothing.
func TestListCrossesEmptyTime(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	st := New(conn)
	ctx := context.Background()
	now := time.Now()
	var evs []logevent.Event
	for i, age := range []time.Duration{3 * 24 * time.Hour, 20 * 24 * time.Hour, 200 * 24 * time.Hour} {
		for j := 0; j < 7; j++ {
			evs = append(evs, event("wsa", now.Add(-age-time.Duration(j)*time.Minute), i*10+j))
		}
	}
	insert(t, conn, evs)
	sc := NewScope(principal("wsa", tenant.PlanEnterprise), now)
	var got []string
	var after *Cursor
	for page := 0; page < 10; page++ {
		logs, next, err := st.List(ctx, sc, filter.Filter{}, after, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range logs {
			got = append(got, e.ID)
		}
		if next == nil {
			break
		}
		after = next
	}
	var want []string
	for _, e := range evs { // inserted newest first
		want = append(want, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages list\n  %v\nwant\n  %v", got, want)
	}
	empty := NewScope(principal("wsz", tenant.PlanEnterprise), now)
	if logs, next, err := st.List(ctx, empty, filter.Filter{}, nil, 50); err != nil || len(logs) != 0 || next != nil {
		t.Errorf("an empty workspace lists %d logs, next %v, err %v", len(logs), next, err)
	}
}

// countingConn counts the queries run through it.
type countingConn struct {
	driver.Conn
	queries atomic.Int64
}

func (c *countingConn) Query(ctx context.Context, q string, args ...any) (driver.Rows, error) {
	c.queries.Add(1)
	return c.Conn.Query(ctx, q, args...)
}

// A workspace whose logs are sparse (one an hour for 30 days) gets its first
// page of 50 in two windows: the second is as wide as the first one's density
// says the page needs, twice over, instead of eight times wider step by step
// (1 h, 8 h, 64 h). Every page is still the newest logs in order.
func TestListWidensBySparseDensity(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	cc := &countingConn{Conn: conn}
	st := NewAlwaysFinal(cc)
	ctx := context.Background()
	now := time.Now()
	var evs []logevent.Event
	for i := 0; i < 720; i++ {
		evs = append(evs, event("wsa", now.Add(-time.Duration(i)*time.Hour-time.Minute), i))
	}
	insert(t, conn, evs)
	sc := NewScope(principal("wsa", tenant.PlanEnterprise), now)
	logs, next, err := st.List(ctx, sc, filter.Filter{}, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	if n := cc.queries.Load(); n > 2 {
		t.Errorf("first page of a sparse workspace took %d queries; want 2", n)
	}
	if len(logs) != 50 || next == nil {
		t.Fatalf("first page: %d logs, next %v; want 50 and a next page", len(logs), next)
	}
	for i, e := range logs {
		if e.ID != evs[i].ID {
			t.Fatalf("log %d is %s; want %s", i, e.ID, evs[i].ID)
		}
	}
}
