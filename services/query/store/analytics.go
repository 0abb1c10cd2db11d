package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"logpipe/lib/logevent"
	"logpipe/query/filter"
)

// Unit is the bucket size of an analytics graph.
type Unit string

// Bucket units, chosen from the requested range by UnitFor.
const (
	Minute Unit = "minute"
	Hour   Unit = "hour"
	Day    Unit = "day"
	Week   Unit = "week"
)

// MaxRange bounds an analytics time range (a year and a bit; week buckets).
const MaxRange = 400 * 24 * time.Hour

// UnitFor picks the bucket size for a range: minutes up to 2 h, hours up to
// 7 days, days up to 90 days, weeks beyond — at most a few hundred points.
func UnitFor(r time.Duration) Unit {
	switch {
	case r <= 2*time.Hour:
		return Minute
	case r <= 7*24*time.Hour:
		return Hour
	case r <= 90*24*time.Hour:
		return Day
	default:
		return Week
	}
}

// Start truncates t (UTC) to the start of its bucket; weeks start on Monday,
// as ClickHouse's toMonday does.
func (u Unit) Start(t time.Time) time.Time {
	t = t.UTC()
	switch u {
	case Minute:
		return t.Truncate(time.Minute)
	case Hour:
		return t.Truncate(time.Hour)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	default:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	}
}

// Next returns the start of the bucket after the one starting at t.
func (u Unit) Next(t time.Time) time.Time {
	switch u {
	case Minute:
		return t.Add(time.Minute)
	case Hour:
		return t.Add(time.Hour)
	case Day:
		return t.AddDate(0, 0, 1)
	default:
		return t.AddDate(0, 0, 7)
	}
}

// bucketSQL is the bucket start, as epoch seconds, of an epoch-ms column.
func (u Unit) bucketSQL(col string) string {
	fn := map[Unit]string{Minute: "toStartOfMinute", Hour: "toStartOfHour", Day: "toStartOfDay", Week: "toMonday"}[u]
	dt := "toDateTime(intDiv(" + col + ", 1000), 'UTC')"
	if u == Week {
		return "toUInt32(toDateTime(toMonday(" + dt + "), 'UTC'))"
	}
	return "toUInt32(" + fn + "(" + dt + "))"
}

// Source is what an analytics query aggregates over.
type Source int

// Sources. Column names available to expressions are given with each.
const (
	// SrcLogs: the distinct logs of the scope matching the filter; every
	// listing column (bodies excluded) by its documented name.
	SrcLogs Source = iota
	// SrcLogsFeedback: Logs plus, per log, wf (the average weighted feedback of
	// its trace, 0 without any) and has_fb (1 when its trace has feedback).
	SrcLogsFeedback
	// SrcFeedback: the latest version of every feedback of the scope created in
	// the filter's time range, on logs matching the rest of the filter:
	// fid, t (trace id), v (value), w (weight), c (created_at), u (updated_at).
	SrcFeedback
	// SrcFeedbackModels: Feedback joined with its trace's ai_model.
	SrcFeedbackModels
)

// timeCol is the column a source's buckets are taken from.
func (src Source) timeCol() string {
	if src == SrcFeedback || src == SrcFeedbackModels {
		return "c"
	}
	return colCreatedAt
}

// source returns the FROM clause (a subquery) of src and its arguments.
//
// uses are the texts of the outer query (expressions, keys, conditions):
// the subquery reads only the listing columns they name (plus created_at, and
// trace_id for the feedback join), so a graph of cost reads cost, not every
// column; none given means every listing column.
func (s *Store) source(ctx context.Context, sc Scope, f filter.Filter, src Source, uses ...string) (string, []any, error) {
	if !sc.Valid() {
		return "", nil, ErrNoScope
	}
	switch src {
	case SrcLogs, SrcLogsFeedback:
		if src == SrcLogsFeedback && len(uses) > 0 {
			uses = append(uses, quoted("trace_id")) // the feedback join
		}
		q, args, err := s.from(ctx, sc, f, usedColumns(uses))
		if err != nil {
			return "", nil, err
		}
		if src == SrcLogs {
			return q, args, nil
		}
		// Subqueries joined carry aliases (current ClickHouse refuses them
		// without, code 206); the right side has one row per trace.
		fb, fargs := filter.LatestFeedbackSQL(sc.Tenant())
		q += " AS l ANY LEFT JOIN (SELECT t AS " + quoted("trace_id") + ", avg(v * w) AS wf, toUInt8(1) AS has_fb FROM (" + fb +
			") WHERE t != '' GROUP BY t) AS r USING " + quoted("trace_id")
		return q, append(args, fargs...), nil
	default:
		fb, args := filter.LatestFeedbackSQL(sc.Tenant())
		q := "SELECT fid, t, v, w, c, u FROM (" + fb + ") WHERE c >= ?"
		args = append(args, uint64(sc.RetentionCutoff()))
		if f.Min > 0 {
			q += " AND c >= ?"
			args = append(args, uint64(f.Min))
		}
		if f.Max > 0 {
			q += " AND c <= ?"
			args = append(args, uint64(f.Max))
		}
		rest := f
		rest.Min, rest.Max = 0, 0
		if !rest.Empty() {
			from, largs, err := s.from(ctx, sc, rest, []logevent.Column{mustColumn("trace_id")})
			if err != nil {
				return "", nil, err
			}
			q += " AND t GLOBAL IN (SELECT " + quoted("trace_id") + " FROM " + from + ")" // GLOBAL: see filter.Where
			args = append(args, largs...)
		}
		q = "(" + q + ")"
		if src == SrcFeedbackModels {
			from, largs, err := s.from(ctx, sc, filter.Filter{}, []logevent.Column{mustColumn("trace_id"), mustColumn("ai_model")})
			if err != nil {
				return "", nil, err
			}
			// ALL, not ANY: current ClickHouse's ANY INNER JOIN keeps one row per
			// key of the left side too (one feedback per trace). The right side
			// has one row per trace, so ALL gives every feedback once on both.
			q += " AS f ALL INNER JOIN (SELECT " + quoted("trace_id") + " AS t, any(" + quoted("ai_model") + ") AS " + quoted("ai_model") +
				" FROM " + from + " GROUP BY t) AS m USING t"
			args = append(args, largs...)
		}
		return q, args, nil
	}
}

// Point is one bucket of a series: its start (epoch seconds) and the value
// of each expression.
type Point struct {
	Bucket int64
	Values []float64
}

// Series aggregates exprs (ClickHouse aggregate expressions over the columns
// of src) per bucket of unit, and over the whole of src (totals, the summary
// of a graph) in the same scan (GROUP BY ... WITH TOTALS). Buckets without
// rows are absent (callers fill them with zeros). NaN results (avg of
// nothing) become 0.
func (s *Store) Series(ctx context.Context, sc Scope, f filter.Filter, src Source, unit Unit, exprs []string) ([]Point, []float64, error) {
	from, args, exprs, err := s.aggSource(ctx, sc, f, src, unit, exprs)
	if err != nil {
		return nil, nil, err
	}
	q := "SELECT " + unit.bucketSQL(src.timeCol()) + " AS bucket, " + floats(exprs) + " FROM " + from + " GROUP BY bucket WITH TOTALS ORDER BY bucket"
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, wrap("analytics series", err)
	}
	defer rows.Close()
	var out []Point
	scanInto := func(vals []float64) []any {
		var b uint32
		dests := []any{&b}
		for i := range vals {
			dests = append(dests, &vals[i])
		}
		return dests
	}
	for rows.Next() {
		vals := make([]float64, len(exprs))
		dests := scanInto(vals)
		if err := rows.Scan(dests...); err != nil {
			return nil, nil, fmt.Errorf("scan analytics series: %w", err)
		}
		out = append(out, Point{Bucket: int64(*dests[0].(*uint32)), Values: finite(vals)})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrap("analytics series", err)
	}
	totals := make([]float64, len(exprs))
	if len(out) > 0 { // without rows there is no totals block: all zeros
		if err := rows.Totals(scanInto(totals)...); err != nil {
			return nil, nil, fmt.Errorf("scan analytics totals: %w", err)
		}
	}
	return out, finite(totals), nil
}

// Totals aggregates exprs over the whole of src (the summary of a graph).
func (s *Store) Totals(ctx context.Context, sc Scope, f filter.Filter, src Source, exprs []string) ([]float64, error) {
	from, args, exprs, err := s.aggSource(ctx, sc, f, src, "", exprs)
	if err != nil {
		return nil, err
	}
	vals := make([]float64, len(exprs))
	dests := make([]any, len(vals))
	for i := range vals {
		dests[i] = &vals[i]
	}
	if err := s.conn.QueryRow(ctx, "SELECT "+floats(exprs)+" FROM "+from, args...).Scan(dests...); err != nil {
		return nil, wrap("analytics totals", err)
	}
	return finite(vals), nil
}

// Group is one group of a grouped aggregate: its key and expression values.
type Group struct {
	Key    string
	Values []float64
}

// Groups aggregates exprs per value of key (a String expression over src's
// columns), ordered by exprs[orderBy] descending then key, paged by limit and
// offset; total is the number of groups. keyArgs bind ?s inside key.
func (s *Store) Groups(ctx context.Context, sc Scope, f filter.Filter, src Source, key string, keyArgs []any, where string, exprs []string, orderBy int, asc bool, limit, offset int) (groups []Group, total uint64, err error) {
	from, args, rw, err := s.aggSource(ctx, sc, f, src, "", append([]string{key, where}, exprs...))
	if err != nil {
		return nil, 0, err
	}
	key, where, exprs = rw[0], rw[1], rw[2:]
	if orderBy < 0 || orderBy >= len(exprs) {
		return nil, 0, fmt.Errorf("groups: order index %d out of range", orderBy)
	}
	cond := ""
	if where != "" {
		cond = " WHERE " + where
	}
	aliased := make([]string, len(exprs))
	for i, e := range exprs {
		aliased[i] = "toFloat64(" + e + ") AS v" + fmt.Sprint(i)
	}
	inner := "SELECT " + key + " AS g, " + strings.Join(aliased, ", ") + " FROM " + from + cond + " GROUP BY g"
	// key's ?s come first in the text, then the source's, then where's (which reuses keyArgs).
	all := append(append(append([]any{}, keyArgs...), args...), keyArgs...)
	if where == "" {
		all = append(append([]any{}, keyArgs...), args...)
	}
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM ("+inner+")", all...).Scan(&total); err != nil {
		return nil, 0, wrap("analytics groups", err)
	}
	dir := "DESC"
	if asc {
		dir = "ASC"
	}
	// by alias: ClickHouse 18.16 reads ORDER BY 2 as a constant, not a position
	q := inner + fmt.Sprintf(" ORDER BY v%d %s, g LIMIT %d OFFSET %d", orderBy, dir, limit, offset)
	rows, err := s.conn.Query(ctx, q, all...)
	if err != nil {
		return nil, 0, wrap("analytics groups", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g Group
		vals := make([]float64, len(exprs))
		dests := []any{&g.Key}
		for i := range vals {
			dests = append(dests, &vals[i])
		}
		if err := rows.Scan(dests...); err != nil {
			return nil, 0, fmt.Errorf("scan analytics group: %w", err)
		}
		g.Values = finite(vals)
		groups = append(groups, g)
	}
	return groups, total, wrap("analytics groups", rows.Err())
}

func floats(exprs []string) string {
	out := make([]string, len(exprs))
	for i, e := range exprs {
		out[i] = "toFloat64(" + e + ")"
	}
	return strings.Join(out, ", ")
}

func finite(v []float64) []float64 {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			v[i] = 0
		}
	}
	return v
}

// Col returns the quoted name of a logs column for analytics expressions; it
// panics on a name logevent does not define (a programming error).
func Col(name string) string { return quoted(name) }

// Breakdown aggregates value (an aggregate expression) per bucket of unit and
// per value of key (an expression over src's columns, converted to String),
// over the rows of src matching cond (SQL over src's columns without
// arguments; "" for all): bucket → key → value.
func (s *Store) Breakdown(ctx context.Context, sc Scope, f filter.Filter, src Source, unit Unit, key, cond, value string) (map[int64]map[string]float64, error) {
	from, args, rw, err := s.aggSource(ctx, sc, f, src, unit, []string{key, cond, value})
	if err != nil {
		return nil, err
	}
	key, cond, value = rw[0], rw[1], rw[2]
	if cond != "" {
		cond = " WHERE " + cond
	}
	q := "SELECT " + unit.bucketSQL(src.timeCol()) + " AS bucket, toString(" + key + ") AS k, toFloat64(" + value + ") FROM " + from + cond + " GROUP BY bucket, k"
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("analytics breakdown", err)
	}
	defer rows.Close()
	out := map[int64]map[string]float64{}
	for rows.Next() {
		var b uint32
		var k string
		var v float64
		if err := rows.Scan(&b, &k, &v); err != nil {
			return nil, fmt.Errorf("scan analytics breakdown: %w", err)
		}
		if out[int64(b)] == nil {
			out[int64(b)] = map[string]float64{}
		}
		out[int64(b)][k] = finite([]float64{v})[0]
	}
	return out, wrap("analytics breakdown", rows.Err())
}
