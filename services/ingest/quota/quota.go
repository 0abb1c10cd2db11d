// Package quota counts the logs each organisation sends per calendar month
// (UTC) and applies its plan (tenant.Plan.Limits): the developer plan is
// refused beyond its monthly logs, the production plan accepts and counts
// overage, enterprise is unlimited.
//
// Where the counts live: ClickHouse table ingest_usage (SummingMergeTree,
// one row per organisation, month and flush). Every replica flushes what it
// accepted since its last flush and then re-reads the totals, every
// RefreshInterval (default 5s) and once more on shutdown. A replica's view is
// the last total it read plus its own accepted-but-unflushed and in-flight
// counts, so counts survive restarts and add up across replicas; what another
// replica accepted during the last interval is not yet seen, so a developer
// organisation can overshoot its limit by at most what the other replicas
// accept for it within one interval. A replica that crashes loses at most one
// interval of its own counting (an undercount). When ClickHouse is
// unreachable ingest fails open: it keeps counting locally and flushes later.
package quota

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/tenant"
)

// Table is the ClickHouse table of usage counts.
const Table = "ingest_usage"

type key struct {
	org   string
	month uint32
}

// Month returns t's calendar month (UTC) as YYYYMM.
func Month(t time.Time) uint32 {
	t = t.UTC()
	return uint32(t.Year()*100 + int(t.Month()))
}

// Decision is the answer to a reservation.
type Decision struct {
	// Allowed is false when the plan refuses the logs (developer hard limit).
	Allowed bool
	// Used is the organisation's count this month before the reservation.
	Used int64
	// Limit is the plan's included monthly logs (0: unlimited).
	Limit int64
	// Overage is how many of the reserved logs are billable overage.
	Overage int64

	k key
	n int64
}

// Counter keeps the monthly counts. It is safe for concurrent use.
type Counter struct {
	conn     driver.Conn
	log      *slog.Logger
	now      func() time.Time
	mu       sync.Mutex
	total    map[key]int64 // read from ClickHouse at the last refresh
	pending  map[key]int64 // being flushed
	delta    map[key]int64 // accepted since the last flush
	reserved map[key]int64 // in flight, not yet accepted

	refusals prometheus.Counter
	overage  prometheus.Counter
	flushErr prometheus.Counter
}

// New returns a Counter over conn (a ClickHouse database holding Table),
// with its metrics registered on reg.
func New(conn driver.Conn, log *slog.Logger, reg prometheus.Registerer) (*Counter, error) {
	c := &Counter{conn: conn, log: log, now: time.Now,
		total: map[key]int64{}, pending: map[key]int64{}, delta: map[key]int64{}, reserved: map[key]int64{},
		refusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_quota_refusals_total",
			Help: "Requests refused because the organisation's plan limit was reached."}),
		overage: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_overage_events_total",
			Help: "Events accepted beyond a production plan's included monthly logs (billable overage)."}),
		flushErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_quota_sync_errors_total",
			Help: "Failed flushes or reads of the usage counts in ClickHouse."}),
	}
	for _, m := range []prometheus.Collector{c.refusals, c.overage, c.flushErr} {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("register quota metrics: %w", err)
		}
	}
	return c, nil
}

func (c *Counter) usedLocked(k key) int64 {
	return c.total[k] + c.pending[k] + c.delta[k] + c.reserved[k]
}

// Reserve asks for n logs of p's organisation. When allowed, the caller must
// call Commit after Kafka acknowledged them or Release if it did not.
func (c *Counter) Reserve(p tenant.Principal, n int) Decision {
	lim := p.Plan.Limits()
	k := key{p.OrganisationID, Month(c.now())}
	c.mu.Lock()
	used := c.usedLocked(k)
	d := Decision{Allowed: true, Used: used, Limit: lim.MonthlyLogs, k: k, n: int64(n)}
	if lim.MonthlyLogs > 0 && used+int64(n) > lim.MonthlyLogs {
		if lim.HardLimit {
			d.Allowed = false
		} else {
			d.Overage = min(int64(n), used+int64(n)-lim.MonthlyLogs)
		}
	}
	if d.Allowed {
		c.reserved[k] += int64(n)
	}
	c.mu.Unlock()
	if !d.Allowed {
		c.refusals.Inc()
	}
	return d
}

// Commit turns the allowed reservation d into accepted logs (counted and flushed).
func (c *Counter) Commit(d Decision) {
	c.mu.Lock()
	c.release(d)
	c.delta[d.k] += d.n
	c.mu.Unlock()
	if d.Overage > 0 {
		c.overage.Add(float64(d.Overage))
	}
}

// Release drops the allowed reservation d whose logs Kafka did not take.
func (c *Counter) Release(d Decision) {
	c.mu.Lock()
	c.release(d)
	c.mu.Unlock()
}

func (c *Counter) release(d Decision) {
	if c.reserved[d.k] -= d.n; c.reserved[d.k] <= 0 {
		delete(c.reserved, d.k)
	}
}

// Used returns the organisation's count of the current month as this replica sees it.
func (c *Counter) Used(org string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usedLocked(key{org, Month(c.now())})
}

// Sync flushes the locally accepted counts to ClickHouse and re-reads the
// totals of the current month.
func (c *Counter) Sync(ctx context.Context) error {
	c.mu.Lock()
	for k, v := range c.delta {
		c.pending[k] += v
	}
	c.delta = map[key]int64{}
	flush := make(map[key]int64, len(c.pending))
	for k, v := range c.pending {
		flush[k] = v
	}
	c.mu.Unlock()

	if len(flush) > 0 {
		if err := c.insert(ctx, flush); err != nil {
			c.flushErr.Inc()
			return err // pending stays, flushed next time
		}
	}
	month := Month(c.now())
	totals, err := c.read(ctx, month)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range flush {
		if c.pending[k] -= v; c.pending[k] <= 0 {
			delete(c.pending, k)
		}
	}
	if err != nil {
		// The flushed counts are in ClickHouse but not in total yet: keep them visible.
		for k, v := range flush {
			c.total[k] += v
		}
		c.flushErr.Inc()
		return err
	}
	c.total = totals
	return nil
}

func (c *Counter) insert(ctx context.Context, counts map[key]int64) error {
	b, err := c.conn.PrepareBatch(ctx, "INSERT INTO "+Table+" (organisation_id, month, logs)")
	if err != nil {
		return fmt.Errorf("prepare usage insert: %w", err)
	}
	for k, v := range counts {
		if err := b.Append(k.org, k.month, uint64(v)); err != nil {
			_ = b.Abort()
			return fmt.Errorf("append usage row: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d usage rows into %s: %w", len(counts), Table, err)
	}
	return nil
}

func (c *Counter) read(ctx context.Context, month uint32) (map[key]int64, error) {
	rows, err := c.conn.Query(ctx, "SELECT organisation_id, sum(logs) FROM "+Table+" WHERE month = ? GROUP BY organisation_id", month)
	if err != nil {
		return nil, fmt.Errorf("read usage of month %d: %w", month, err)
	}
	defer rows.Close()
	out := map[key]int64{}
	for rows.Next() {
		var org string
		var n uint64
		if err := rows.Scan(&org, &n); err != nil {
			return nil, fmt.Errorf("scan usage row: %w", err)
		}
		out[key{org, month}] = int64(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage of month %d: %w", month, err)
	}
	return out, nil
}

// Run syncs every interval until ctx ends, then flushes once more.
func (c *Counter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := c.Sync(fctx); err != nil {
				c.log.Error("final usage flush failed", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, interval)
		if err := c.Sync(sctx); err != nil {
			c.log.Warn("usage sync failed; counting locally", "err", err)
		}
		cancel()
	}
}
