// Package seal lets readers count the logs table exactly without paying a
// FINAL over the whole time range.
//
// The logs table is a ReplacingMergeTree partitioned by (retention tier, UTC
// day): copies of a log share the whole ordering key and collapse when their
// parts merge; until then a reader must deduplicate (FINAL). Two facts make
// most of the table free of that cost:
//
//   - every part an INSERT makes is free of duplicates (the consumer writes
//     each key of a batch once), so a partition of exactly one active part
//     holds no duplicates: it is sealed;
//   - a day stops receiving writes once it is over (but for late or
//     replayed events), and Job merges the partitions of finished days into
//     one part each (OPTIMIZE ... FINAL).
//
// A day is sealed when every partition of it has one active part. Readers
// take a Snapshot and read sealed days without FINAL and the other days (today,
// and any day a late write reopened) with FINAL. A late write into a sealed
// day adds a part, which unseals the day for the next snapshot; a reader
// whose snapshot predates that write by less than the cache's age (at most
// Cache.MaxAge) may count a late duplicate once more — never a log less.
package seal

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

const dayMillis = 24 * 60 * 60 * 1000

// partition is one active partition of the table: its UTC day (epoch ms of
// its start), id, number of active parts and the name of one of them (the
// only one when parts is 1).
type partition struct {
	id    string
	day   int64
	parts int
	part  string
}

func readPartitions(ctx context.Context, conn driver.Conn, table string) ([]partition, error) {
	rows, err := conn.Query(ctx, "SELECT partition_id, toUInt64(count()), any(name) FROM system.parts WHERE database = currentDatabase() AND table = ? AND active GROUP BY partition_id", table)
	if err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", table, err)
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var id, part string
		var n uint64
		if err := rows.Scan(&id, &n, &part); err != nil {
			return nil, fmt.Errorf("list parts of %s: %w", table, err)
		}
		day, err := dayOf(id)
		if err != nil {
			return nil, err
		}
		out = append(out, partition{id: id, day: day, parts: int(n), part: part})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", table, err)
	}
	return out, nil
}

// dayOf parses a partition id "<tier>-<YYYYMMDD>" into the day's start (ms).
func dayOf(id string) (int64, error) {
	_, d, ok := strings.Cut(id, "-")
	t, err := time.Parse("20060102", d)
	if !ok || err != nil {
		return 0, fmt.Errorf("partition id %q: want <retention_days>-<YYYYMMDD>", id)
	}
	return t.UnixMilli(), nil
}

// Snapshot is which days were sealed when it was taken. The zero Snapshot
// seals nothing (every read deduplicates).
type Snapshot struct {
	open map[int64]bool // days with a partition of several parts
	days map[int64]bool // days with any partition
	// rolled are the days whose every partition is one part with complete
	// rollups (see Rollups), with the tags of those rollups.
	rolled map[int64][]string
}

// Ranges splits [lo, hi) (epoch ms, hi exclusive; 0 means unbounded) into the
// created_at ranges of sealed days and the complement: sealed holds
// half-open [from, to) pairs, merged where adjacent. Days with no data count
// as sealed (nothing to deduplicate); the day holding now never is.
func (s Snapshot) Ranges(lo, hi, now int64) (sealed [][2]int64) {
	if s.days == nil {
		return nil
	}
	today := now - now%dayMillis
	first := int64(-1)
	for d := range s.days {
		if first < 0 || d < first {
			first = d
		}
	}
	if first < 0 {
		return nil
	}
	start := max(lo-lo%dayMillis, first)
	end := today
	if hi > 0 && hi < end {
		end = hi
	}
	for d := start; d < end; d += dayMillis {
		if s.open[d] {
			continue
		}
		from, to := max(d, lo), min(d+dayMillis, end)
		if from >= to {
			continue
		}
		if n := len(sealed); n > 0 && sealed[n-1][1] == from {
			sealed[n-1][1] = to
		} else {
			sealed = append(sealed, [2]int64{from, to})
		}
	}
	return sealed
}

// Cache takes snapshots of one table, at most one per MaxAge.
type Cache struct {
	conn   driver.Conn
	table  string
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	snap  Snapshot
	taken time.Time
}

// MaxAge is how old a snapshot a reader may use (the window in which a late
// duplicate can be counted twice).
const MaxAge = 500 * time.Millisecond

// NewCache returns a snapshot cache of table on conn.
func NewCache(conn driver.Conn, table string) *Cache {
	return &Cache{conn: conn, table: table, maxAge: MaxAge, now: time.Now}
}

// Snapshot returns a snapshot at most MaxAge old.
func (c *Cache) Snapshot(ctx context.Context) (Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap.days != nil && c.now().Sub(c.taken) < c.maxAge {
		return c.snap, nil
	}
	ps, err := readPartitions(ctx, c.conn, c.table)
	if err != nil {
		return Snapshot{}, err
	}
	done, err := rolledParts(ctx, c.conn, c.table)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{open: map[int64]bool{}, days: map[int64]bool{}, rolled: map[int64][]string{}}
	partial := map[int64]bool{}
	for _, p := range ps {
		s.days[p.day] = true
		if p.parts > 1 {
			s.open[p.day] = true
		}
		if tag, ok := done[p.part]; ok && p.parts == 1 {
			s.rolled[p.day] = append(s.rolled[p.day], tag)
		} else {
			partial[p.day] = true
		}
	}
	for d := range partial {
		delete(s.rolled, d)
	}
	c.snap, c.taken = s, c.now()
	return s, nil
}

// Job merges the partitions of finished days that have more than one part
// into one (OPTIMIZE TABLE ... PARTITION ID ... FINAL), sealing them.
type Job struct {
	conn     driver.Conn
	table    string
	interval time.Duration
	// grace is how long after a day ends its partitions are left to the
	// writers before they are sealed.
	grace  time.Duration
	log    *slog.Logger
	sealed prometheus.Counter
	rolled prometheus.Counter
	now    func() time.Time
}

// NewJob returns a job sealing and rolling up table every interval (default
// 1m); its metrics logpipe_consumer_partitions_sealed_total and
// logpipe_consumer_partitions_rolled_up_total are registered on reg.
func NewJob(conn driver.Conn, table string, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *Job {
	if interval <= 0 {
		interval = time.Minute
	}
	j := &Job{conn: conn, table: table, interval: interval, grace: 10 * time.Minute, log: log, now: time.Now,
		sealed: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_consumer_partitions_sealed_total",
			Help: "Partitions of finished days merged into one part, so readers count them without FINAL."}),
		rolled: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_consumer_partitions_rolled_up_total",
			Help: "Sealed partitions whose hourly rollups were written, so analytics read them from the rollup."})}
	reg.MustRegister(j.sealed, j.rolled)
	return j
}

// Run seals at start and every interval until ctx ends.
func (j *Job) Run(ctx context.Context) {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		if n, err := j.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			j.log.Warn("sealing partitions failed", "err", err, "table", j.table)
		} else if n > 0 {
			j.log.Info("partitions sealed", "partitions", n, "table", j.table)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once seals every partition of a finished day with several parts, then
// writes the hourly rollups of every sealed partition without one (see
// Rollups), and returns how many partitions it sealed.
func (j *Job) Once(ctx context.Context) (int, error) {
	ps, err := readPartitions(ctx, j.conn, j.table)
	if err != nil {
		return 0, err
	}
	cut := j.now().Add(-j.grace).UnixMilli()
	n := 0
	for _, p := range ps {
		if p.parts < 2 || p.day+dayMillis > cut {
			continue
		}
		// The id was parsed as <digits>-<YYYYMMDD> by dayOf: safe to quote.
		q := fmt.Sprintf("OPTIMIZE TABLE %s PARTITION ID '%s' FINAL", j.table, p.id)
		if err := j.conn.Exec(ctx, q); err != nil {
			return n, fmt.Errorf("seal partition %s of %s: %w", p.id, j.table, err)
		}
		j.sealed.Inc()
		n++
	}
	r, err := j.rollUp(ctx)
	if err != nil {
		return n, err
	}
	if r > 0 {
		j.log.Info("partitions rolled up", "partitions", r, "table", j.table)
	}
	return n, nil
}
