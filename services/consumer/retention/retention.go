// Package retention drops expired partitions of the logs and feedback tables.
// Both are partitioned by (retention_days, toYYYYMMDD(created_at)), so every
// partition holds one retention tier (developer 3 days, production 30,
// enterprise configurable per organisation) and one UTC day, and expires as
// a whole: the job drops a partition once its whole day lies further back
// than its tier. Queries enforce retention at read time as well, so nothing
// expired is returned between two runs.
//
// On a cluster (the cluster schema variant) the data lives in the <table>_local
// tables of every shard: the job lists their partitions on one replica of each
// shard (cluster() over system.parts) and drops expired ones with ON CLUSTER
// DDL, which replication carries to the other replica of each shard.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// Options tune the job.
type Options struct {
	// Tables to prune (default logs, feedback and log_ids).
	Tables []string
	// Interval between runs (default 1h); the first run is at start.
	Interval time.Duration
	// DefaultDays is the retention of partitions whose tier is 0, i.e. events
	// that carried no retention (default 365, the enterprise default).
	DefaultDays int
	// Cluster prunes the <table>_local tables on every shard of the cluster
	// named by the servers' {cluster} macro (the cluster schema variant).
	Cluster bool
}

// Job is the retention job.
type Job struct {
	conn    driver.Conn
	opts    Options
	log     *slog.Logger
	dropped *prometheus.CounterVec
	runs    *prometheus.CounterVec
	now     func() time.Time
}

// New returns a job; Run runs it. Its metrics are registered on reg.
func New(conn driver.Conn, opts Options, log *slog.Logger, reg prometheus.Registerer) *Job {
	if opts.Interval <= 0 {
		opts.Interval = time.Hour
	}
	if opts.DefaultDays <= 0 {
		opts.DefaultDays = 365
	}
	j := &Job{conn: conn, opts: opts, log: log, now: time.Now,
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_consumer_partitions_dropped_total", Help: "Expired partitions dropped by the retention job, by table."}, []string{"table"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_consumer_retention_runs_total", Help: "Retention job runs, by result (ok, error)."}, []string{"result"}),
	}
	reg.MustRegister(j.dropped, j.runs)
	return j
}

// Run prunes at start and then every Interval until ctx ends.
func (j *Job) Run(ctx context.Context) {
	t := time.NewTicker(j.opts.Interval)
	defer t.Stop()
	for {
		if n, err := j.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			j.runs.WithLabelValues("error").Inc()
			j.log.Warn("retention run failed", "err", err)
		} else {
			j.runs.WithLabelValues("ok").Inc()
			if n > 0 {
				j.log.Info("retention dropped partitions", "partitions", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Partition is one (tier, day) partition.
type Partition struct {
	Days int // retention tier in days
	Day  time.Time
}

// ParsePartition parses system.parts' partition text, e.g. "(30,20261122)".
func ParsePartition(s string) (Partition, error) {
	inner, ok := strings.CutPrefix(s, "(")
	inner, ok2 := strings.CutSuffix(inner, ")")
	tier, day, ok3 := strings.Cut(inner, ",")
	if !ok || !ok2 || !ok3 {
		return Partition{}, fmt.Errorf("partition %q: want (retention_days,YYYYMMDD)", s)
	}
	days, err := strconv.Atoi(strings.TrimSpace(tier))
	if err != nil || days < 0 {
		return Partition{}, fmt.Errorf("partition %q: bad retention tier", s)
	}
	d, err := time.Parse("20060102", strings.TrimSpace(day))
	if err != nil {
		return Partition{}, fmt.Errorf("partition %q: bad day: %w", s, err)
	}
	return Partition{Days: days, Day: d}, nil
}

// Expired reports whether every row of p is older than its tier at now;
// tier 0 takes defaultDays.
func (p Partition) Expired(now time.Time, defaultDays int) bool {
	days := p.Days
	if days == 0 {
		days = defaultDays
	}
	end := p.Day.AddDate(0, 0, 1) // the day's rows end here
	return !end.After(now.AddDate(0, 0, -days))
}

// Once runs one pass and returns the number of partitions dropped.
func (j *Job) Once(ctx context.Context) (int, error) {
	tables := j.opts.Tables
	if len(tables) == 0 {
		tables = []string{"logs", "feedback", "log_ids"}
	}
	t, err := j.target(ctx)
	if err != nil {
		return 0, err
	}
	dropped := 0
	for _, table := range tables {
		expired, err := j.expired(ctx, t, table)
		if err != nil {
			return dropped, err
		}
		for _, p := range expired {
			// Built from parsed integers only, never from text read back.
			q := fmt.Sprintf("ALTER TABLE %s%s DROP PARTITION (%d, %s)", t.table(table), t.onCluster, p.Days, p.Day.Format("20060102"))
			if err := j.conn.Exec(ctx, q); err != nil {
				return dropped, fmt.Errorf("drop partition (%d, %s) of %s: %w", p.Days, p.Day.Format("20060102"), table, err)
			}
			j.dropped.WithLabelValues(table).Inc()
			dropped++
		}
	}
	return dropped, nil
}

// target is where one pass looks: the connection's database on one server,
// or the local tables of every shard of a cluster.
type target struct {
	parts     string // the system.parts to list (a table function on a cluster)
	database  string // quoted database of the tables ("" for the current one)
	suffix    string // "_local" on a cluster
	onCluster string // " ON CLUSTER '<name>'" on a cluster
}

func (t target) table(name string) string { return t.database + "`" + name + t.suffix + "`" }

func (j *Job) target(ctx context.Context) (target, error) {
	if !j.opts.Cluster {
		return target{parts: "system.parts"}, nil
	}
	var db, cluster string
	if err := j.conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		return target{}, fmt.Errorf("read the current database: %w", err)
	}
	if err := j.conn.QueryRow(ctx, "SELECT substitution FROM system.macros WHERE macro = 'cluster'").Scan(&cluster); err != nil {
		return target{}, fmt.Errorf("read the {cluster} macro: %w", err)
	}
	if !safeName(db) || !safeName(cluster) {
		return target{}, fmt.Errorf("database %q or cluster %q: unexpected characters", db, cluster)
	}
	return target{
		parts:     "cluster('" + cluster + "', system, parts)",
		database:  "`" + db + "`.",
		suffix:    "_local",
		onCluster: " ON CLUSTER '" + cluster + "'",
	}, nil
}

// safeName reports whether s can be spliced into SQL as a name.
func safeName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return s != ""
}

// expired lists the expired partitions of table at t.
func (j *Job) expired(ctx context.Context, t target, table string) ([]Partition, error) {
	db := "currentDatabase()"
	var args []any
	if t.database != "" {
		// Evaluated on each shard: name the database, not currentDatabase().
		db = "?"
		args = append(args, strings.Trim(strings.TrimSuffix(t.database, "."), "`"))
	}
	args = append(args, table+t.suffix)
	rows, err := j.conn.Query(ctx, "SELECT DISTINCT partition FROM "+t.parts+" WHERE database = "+db+" AND table = ? AND active", args...)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var expired []Partition
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		p, err := ParsePartition(s)
		if err != nil {
			j.log.Warn("unexpected partition", "err", err, "table", table)
			continue
		}
		if p.Expired(j.now(), j.opts.DefaultDays) {
			expired = append(expired, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	return expired, nil
}
