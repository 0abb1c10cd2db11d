// Package store runs the query service's parameterised ClickHouse queries
// over the logs and feedback tables. Every function takes a Scope (tenancy by
// construction: the workspace and the retention cut-off are added to every
// WHERE by this package) and a filter.Filter (the shared filters, all bound
// arguments).
//
// Exactly-once visibility: logs is a ReplacingMergeTree whose rows of one id
// may be duplicated until merges. Every read deduplicates by id:
//   - aggregates (totals, analytics, groups, exports) read through From,
//     which selects FROM logs FINAL — measured on ClickHouse 18.16 about twice
//     as fast as LIMIT 1 BY id or GROUP BY id subqueries (2M rows: count+sum
//     0.35 s FINAL vs 0.7 s LIMIT 1 BY vs 0.75 s GROUP BY);
//   - keyset reads in key order (List) read without FINAL and drop adjacent
//     repeats of (created_at, id): duplicates share the whole sorting key, so
//     in (created_at, id) order they are adjacent, and the keyset bound is
//     strict, so a page boundary never splits them;
//   - Get reads one row (LIMIT 1) of an id: duplicates are identical.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/logevent"
	"logpipe/lib/seal"
	"logpipe/lib/tenant"
	"logpipe/query/filter"
)

var (
	colCreatedAt = quoted("created_at")
	colID        = quoted("id")
)

func quoted(name string) string { return mustColumn(name).Quoted() }

func mustColumn(name string) logevent.Column {
	c, ok := logevent.Lookup(name)
	if !ok {
		panic("logevent has no column " + name)
	}
	return c
}

// ErrNoScope is returned for a query without a valid Scope (a wiring bug).
var ErrNoScope = tenant.ErrNoScope

// ErrUnavailable wraps errors of reaching ClickHouse (connection refused,
// timeouts), which handlers answer with 503.
var ErrUnavailable = errors.New("clickhouse unavailable")

// Store runs queries on one ClickHouse connection (pool).
type Store struct {
	conn driver.Conn
	seal *seal.Cache // nil: every aggregate reads with FINAL
}

// New returns a Store over conn. Aggregates read sealed days without FINAL
// (see from) when the logs table is a local one (single-node schema); through
// a Distributed table (cluster schema) every read deduplicates with FINAL.
func New(conn driver.Conn) *Store {
	return &Store{conn: conn, seal: seal.NewCache(conn, logevent.LogsTable)}
}

// NewAlwaysFinal returns a Store that deduplicates every aggregate with FINAL
// (the cluster schema, and the benchmarks' baseline).
func NewAlwaysFinal(conn driver.Conn) *Store { return &Store{conn: conn} }

// Conn returns the underlying connection (for readiness pings).
func (s *Store) Conn() driver.Conn { return s.conn }

// wrap classifies a ClickHouse error: network failures become ErrUnavailable.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && overBudget[ex.Code] {
		return fmt.Errorf("%s: %w: %w", what, ErrOverBudget, err)
	}
	if errors.As(err, &ex) || errors.Is(err, context.Canceled) || errors.Is(err, ErrNoScope) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
}

// ErrOverBudget wraps a query ClickHouse stopped because it exceeded its
// bounds (Bounded: memory, time, rows read); handlers answer it with 503.
var ErrOverBudget = errors.New("the query exceeded its budget")

// overBudget are the ClickHouse error codes of exceeded query limits:
// TOO_MANY_ROWS, TOO_MANY_BYTES, TIMEOUT_EXCEEDED, TOO_SLOW,
// MEMORY_LIMIT_EXCEEDED.
var overBudget = map[int32]bool{158: true, 307: true, 159: true, 160: true, 241: true}

// Bounds limit every query a request runs, so that no request can exhaust
// the server, whatever its filters or its tenant's size.
type Bounds struct {
	// MaxMemoryBytes is ClickHouse's max_memory_usage per query (0: server default).
	MaxMemoryBytes int64
	// MaxExecution is ClickHouse's max_execution_time per query (0: none).
	MaxExecution time.Duration
}

// Bounded returns ctx carrying the bounds as per-query settings, plus
// readonly=2: the query service's reads can never write or alter, whatever
// SQL a bug might build.
func Bounded(ctx context.Context, b Bounds) context.Context {
	set := clickhouse.Settings{"readonly": 2}
	if b.MaxMemoryBytes > 0 {
		// int: clickhouse-go sends settings to 18.16 as numbers, of Go type int or bool only
		set["max_memory_usage"] = int(b.MaxMemoryBytes)
	}
	if b.MaxExecution > 0 {
		set["max_execution_time"] = int(max(b.MaxExecution/time.Second, 1))
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(set))
}

// Cursor is a keyset position in newest-first order: the last log returned.
type Cursor struct {
	CreatedAt logevent.Millis
	ID        string
}

// Window spans of List: it reads the newest hour first, then windows at
// least eight times wider each (wide enough for the rest of the page at the
// density of the window before, twice over), so a first page touches only
// recent granules however many logs the workspace has and a sparse one
// takes few steps; after an empty window it jumps to the newest match below
// it instead.
const (
	firstWindow  = time.Hour
	windowGrowth = 8
)

// List returns up to limit logs of sc matching f, newest first, after the
// cursor (nil: from the newest), with the listing columns (bodies are never
// read); next is the cursor of the following page, nil on the last page.
func (s *Store) List(ctx context.Context, sc Scope, f filter.Filter, after *Cursor, limit int) (logs []logevent.Event, next *Cursor, err error) {
	if !sc.Valid() {
		return nil, nil, ErrNoScope
	}
	if limit <= 0 {
		return nil, nil, fmt.Errorf("list logs: limit %d must be positive", limit)
	}
	cols := logevent.ListingColumns()
	sw, sargs := sc.Where()
	fw, fargs := f.Where(sc.Tenant())
	where := sw + " AND " + fw
	base := "SELECT " + logevent.SelectList(cols) + " FROM " + logevent.LogsTable + " WHERE " + where
	baseArgs := append(sargs, fargs...)

	lowest := sc.RetentionCutoff()
	if f.Min > lowest {
		lowest = f.Min
	}
	// top is the newest created_at a window may hold (inclusive).
	top := logevent.Millis(-1)
	if f.Max > 0 {
		top = f.Max
	}
	if after != nil && (top < 0 || after.CreatedAt < top) {
		top = after.CreatedAt
	}
	anchor := top
	if anchor < 0 {
		anchor = logevent.MillisOf(time.Now())
	}
	pos := after
	want := limit + 1
	span := logevent.Millis(firstWindow.Milliseconds())
	lo := anchor - span
	hi := logevent.Millis(-1) // exclusive upper bound of the window; -1 for the first (open) window
	for {
		if lo < lowest {
			lo = lowest
		}
		q := base + " AND " + colCreatedAt + " >= ?"
		args := append(append([]any{}, baseArgs...), uint64(lo))
		if hi >= 0 {
			q += " AND " + colCreatedAt + " < ?"
			args = append(args, uint64(hi))
		}
		if pos != nil {
			q += " AND " + colCreatedAt + " <= ? AND (" + colCreatedAt + " < ? OR " + colID + " < ?)"
			args = append(args, uint64(pos.CreatedAt), uint64(pos.CreatedAt), pos.ID)
		}
		n := want - len(logs)
		q += " ORDER BY " + colCreatedAt + " DESC, " + colID + " DESC LIMIT " + fmt.Sprint(n)
		got, err := s.scanEvents(ctx, q, args, cols)
		if err != nil {
			return nil, nil, wrap("list logs", err)
		}
		for i := range got {
			e := got[i]
			if len(logs) > 0 && logs[len(logs)-1].ID == e.ID && logs[len(logs)-1].CreatedAt == e.CreatedAt {
				continue // a not yet merged duplicate
			}
			logs = append(logs, e)
		}
		if len(got) > 0 {
			last := got[len(got)-1]
			pos = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if len(logs) >= want {
			break
		}
		if len(got) == n {
			continue // the window holds more (duplicates took places): go on inside it
		}
		if lo <= lowest {
			break
		}
		if len(got) == 0 {
			// An empty window: go straight to the newest match below it, if
			// any, rather than widening step by step over empty time (an
			// empty workspace would otherwise read every window down to
			// the retention cutoff).
			newest, ok, err := s.newestBelow(ctx, where, baseArgs, lowest, lo)
			if err != nil {
				return nil, nil, wrap("list logs", err)
			}
			if !ok {
				break
			}
			hi = newest + 1
			lo = hi - span
			continue
		}
		// A window with fewer logs than the page needs: the next one is
		// wider by windowGrowth, or, where logs are sparse, by twice what
		// this window's density says the rest of the page takes.
		hi = lo
		span *= max(windowGrowth, logevent.Millis(2*(want-len(logs))/len(got)+1))
		lo = hi - span
	}
	if len(logs) > limit {
		logs = logs[:limit]
		last := logs[limit-1]
		next = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return logs, next, nil
}

// newestBelow returns the created_at of the newest log matching where (a
// condition over the logs table) in [lowest, below); ok is false when there
// is none.
func (s *Store) newestBelow(ctx context.Context, where string, args []any, lowest, below logevent.Millis) (logevent.Millis, bool, error) {
	q := "SELECT " + colCreatedAt + " FROM " + logevent.LogsTable + " WHERE " + where + " AND " + colCreatedAt + " >= ? AND " + colCreatedAt + " < ? ORDER BY " + colCreatedAt + " DESC LIMIT 1"
	rows, err := s.conn.Query(ctx, q, append(append([]any{}, args...), uint64(lowest), uint64(below))...)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, false, rows.Err()
	}
	var t uint64
	if err := rows.Scan(&t); err != nil {
		return 0, false, fmt.Errorf("scan created_at: %w", err)
	}
	return logevent.Millis(t), true, rows.Err()
}

func (s *Store) scanEvents(ctx context.Context, q string, args []any, cols []logevent.Column) ([]logevent.Event, error) {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []logevent.Event
	for rows.Next() {
		var e logevent.Event
		if err := rows.Scan(e.Dests(cols)...); err != nil {
			return nil, fmt.Errorf("scan log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Count returns the exact number of distinct logs of sc matching f.
func (s *Store) Count(ctx context.Context, sc Scope, f filter.Filter) (uint64, error) {
	from, args, ok, err := s.metadataCountSource(ctx, sc, f)
	if err != nil {
		return 0, err
	}
	expr := []string{"sum(n)"}
	if !ok {
		if from, args, expr, err = s.aggSource(ctx, sc, f, SrcLogs, "", []string{"count()"}); err != nil {
			return 0, err
		}
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT toUInt64("+expr[0]+") FROM "+from, args...).Scan(&n); err != nil {
		return 0, wrap("count logs", err)
	}
	return n, nil
}

// Get returns the whole log id of sc (every column, bodies included); ok is
// false when sc has no such log (another workspace's log, or past retention).
func (s *Store) Get(ctx context.Context, sc Scope, id string) (e logevent.Event, ok bool, err error) {
	if !sc.Valid() {
		return e, false, ErrNoScope
	}
	w, args := sc.Where()
	q := "SELECT " + logevent.SelectList(logevent.Columns) + " FROM " + logevent.LogsTable + " WHERE " + w + " AND " + colID + " = ?"
	args = append(args, id)
	// A UUIDv7 id carries its time, which ingest uses as created_at: try the
	// primary key first, then fall back to scanning the workspace.
	if t, isV7 := logevent.IDTime(id); isV7 {
		got, err := s.scanEvents(ctx, q+" AND "+colCreatedAt+" = ? LIMIT 1", append(append([]any{}, args...), uint64(t)), logevent.Columns)
		if err != nil {
			return e, false, wrap("get log", err)
		}
		if len(got) == 1 {
			return got[0], true, nil
		}
	}
	got, err := s.scanEvents(ctx, q+" LIMIT 1", args, logevent.Columns)
	if err != nil {
		return e, false, wrap("get log", err)
	}
	if len(got) == 0 {
		return e, false, nil
	}
	return got[0], true, nil
}

// Each streams the distinct logs of sc matching f in (created_at, id) order
// with the columns cols, calling fn for each; fn's error stops the stream.
// The Event passed to fn is reused between calls.
func (s *Store) Each(ctx context.Context, sc Scope, f filter.Filter, cols []logevent.Column, fn func(*logevent.Event) error) error {
	from, args, err := s.from(ctx, sc, f, cols)
	if err != nil {
		return err
	}
	q := "SELECT * FROM " + from + " ORDER BY " + colCreatedAt + ", " + colID
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return wrap("stream logs", err)
	}
	defer rows.Close()
	var e logevent.Event
	dests := e.Dests(cols)
	for rows.Next() {
		e = logevent.Event{}
		if err := rows.Scan(dests...); err != nil {
			return fmt.Errorf("scan log: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return wrap("stream logs", rows.Err())
}
