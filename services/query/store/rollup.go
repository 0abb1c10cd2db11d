package store

import (
	"context"
	"regexp"
	"strings"
	"time"

	"logpipe/lib/logevent"
	"logpipe/lib/seal"
	"logpipe/query/filter"
)

// Analytics from the hourly rollups of sealed partitions (package seal). An
// aggregate over logs, unfiltered or filtered on the rollup's dimensions only,
// whose expressions the rollup can answer
// (counts, sums, averages and conditions over seal.RollupDims, first and last
// created_at) reads the whole hours of rolled-up days from the rollup table,
// and the rest of its range — today, hours cut by the range's ends, days not
// rolled up — from the logs as one-log rows of the same shape. Expressions are
// rewritten for that shape by toRollup: count() becomes sum(n), sum(x) the sum
// of x's hourly sums, avg(x) their quotient, and so on. Anything else (a
// quantile, distinct users, a filter) is read from the logs as before.

var (
	rollupDims = set(seal.RollupDims)
	rollupSums = set(seal.RollupSums)
)

func set(names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// rollupSource returns the FROM of an aggregate over the logs of sc matching
// f from the rollups, with its arguments and texts rewritten for it; ok is
// false when the rollups cannot answer (then use source).
func (s *Store) rollupSource(ctx context.Context, sc Scope, f filter.Filter, texts []string) (from string, args []any, rewritten []string, ok bool, err error) {
	if s.seal == nil || !sc.Valid() {
		return "", nil, nil, false, nil
	}
	// Filters on the rollup's dimensions (model, provider, status code, cache
	// status...) apply to its rows as they are; any other filter needs the logs.
	rest := f
	rest.Min, rest.Max = 0, 0
	var cond string
	var cargs []any
	if !rest.Empty() {
		cond, cargs = rest.Where(sc.Tenant())
		if _, ok := rewrite(strings.ReplaceAll(cond, "?", "0"), true); !ok {
			return "", nil, nil, false, nil
		}
		cond = " AND (" + cond + ")"
	}
	rewritten = make([]string, len(texts))
	for i, t := range texts {
		r, ok := toRollup(t)
		if !ok {
			return "", nil, nil, false, nil
		}
		rewritten[i] = r
	}
	q := func(name string) string { return "`" + name + "`" }
	rollCols := []string{q("created_at"), q("last_created_at")}
	rawCols := []string{q("created_at"), q("created_at") + " AS " + q("last_created_at")}
	logCols := []logevent.Column{mustColumn("created_at")}
	for _, d := range seal.RollupDims {
		rollCols = append(rollCols, q(d))
		rawCols = append(rawCols, q(d))
		logCols = append(logCols, mustColumn(d))
	}
	rollCols = append(rollCols, "n")
	rawCols = append(rawCols, "toUInt64(1) AS n")
	for _, m := range seal.RollupSums {
		rollCols = append(rollCols, q(seal.SumColumn(m)))
		conv := "toUInt64"
		if m == "cost" {
			conv = "toFloat64"
		}
		rawCols = append(rawCols, conv+"("+q(m)+") AS "+q(seal.SumColumn(m)))
		logCols = append(logCols, mustColumn(m))
	}
	from, args, ok, err = s.rolledUnion(ctx, sc, f, seal.HourlyTable(logevent.LogsTable), strings.Join(rollCols, ", "), cond, cargs,
		logCols, strings.Join(rawCols, ", "))
	return from, args, rewritten, ok, err
}

// rolledUnion returns the FROM of rows over the logs of sc matching f: the
// rows of the rollup table (selected as rollSel, narrowed by cond, an " AND
// ..." with its cargs) for the whole hours of rolled-up days, and the logs
// (reading logCols, selected as rawSel) for the rest of the range; both
// selections must name the same columns of the same types. ok is false when
// no hour of the range is rolled up.
func (s *Store) rolledUnion(ctx context.Context, sc Scope, f filter.Filter, table, rollSel, cond string, cargs []any,
	logCols []logevent.Column, rawSel string) (from string, args []any, ok bool, err error) {
	inHours, hargs, tags, ok, err := s.rolledHours(ctx, sc, f)
	if err != nil || !ok {
		return "", nil, false, err
	}
	raw, rargs, err := s.fromWhere(ctx, sc, f, logCols, "NOT "+inHours, hargs)
	if err != nil {
		return "", nil, false, err
	}
	rawQ := "SELECT " + rawSel + " FROM " + raw
	if len(tags) == 0 { // the hours hold no logs at all
		return "(" + rawQ + ")", rargs, true, nil
	}
	tw, args := sc.Tenant().Where()
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(tags)), ", ")
	rollQ := "SELECT " + rollSel + " FROM " + table + " WHERE " + tw + cond + " AND " + inHours + " AND src_part IN (" + marks + ")"
	args = append(append(append(args, cargs...), hargs...), anys(tags)...)
	return "(" + rollQ + " UNION ALL " + rawQ + ")", append(args, rargs...), true, nil
}

// rolledHours returns the condition on created_at of the whole hours of
// rolled-up days in the time range of sc and f, its arguments and the tags
// of the rollup rows that cover them; ok is false when there are none.
func (s *Store) rolledHours(ctx context.Context, sc Scope, f filter.Filter) (inHours string, args []any, tags []string, ok bool, err error) {
	hours, tags, err := s.rolled(ctx, sc, f)
	if err != nil || len(hours) == 0 {
		return "", nil, nil, false, err
	}
	inHours, args = inRanges(hours)
	return inHours, args, tags, true, nil
}

// rolled returns the whole hours of rolled-up days in the time range of sc
// and f, merged where adjacent, and the tags of the rollup rows covering them.
func (s *Store) rolled(ctx context.Context, sc Scope, f filter.Filter) (hours [][2]int64, tags []string, err error) {
	snap, err := s.seal.Snapshot(ctx)
	if err != nil {
		return nil, nil, wrap("read partitions", err)
	}
	lo := max(int64(sc.RetentionCutoff()), int64(f.Min))
	hi := int64(0)
	if f.Max > 0 {
		hi = int64(f.Max) + 1
	}
	hours, tags = snap.Rollups(lo, hi, time.Now().UnixMilli())
	return hours, tags, nil
}

// inRanges is the condition that created_at lies in one of ranges ([from,
// to) in epoch ms), with its arguments.
func inRanges(ranges [][2]int64) (string, []any) {
	terms := make([]string, len(ranges))
	args := make([]any, 0, 2*len(ranges))
	for i, r := range ranges {
		terms[i] = "(" + colCreatedAt + " >= ? AND " + colCreatedAt + " < ?)"
		args = append(args, uint64(r[0]), uint64(r[1]))
	}
	return "(" + strings.Join(terms, " OR ") + ")", args
}

// wholeDays splits ranges (of whole hours) into the whole UTC days they hold
// and the hours left over.
func wholeDays(ranges [][2]int64) (days, hours [][2]int64) {
	const day = 24 * 60 * 60 * 1000
	for _, r := range ranges {
		from, to := r[0]+(day-r[0]%day)%day, r[1]-r[1]%day
		if from >= to {
			hours = append(hours, r)
			continue
		}
		days = append(days, [2]int64{from, to})
		if r[0] < from {
			hours = append(hours, [2]int64{r[0], from})
		}
		if to < r[1] {
			hours = append(hours, [2]int64{to, r[1]})
		}
	}
	return days, hours
}

// metadataCountSource returns, when f's only condition besides its time
// bounds is one metadata pair, the FROM of the number of logs of sc matching
// f (column n, to be summed): the hourly metadata rollup for the whole hours
// of rolled-up days and the logs for the rest; ok is false otherwise.
func (s *Store) metadataCountSource(ctx context.Context, sc Scope, f filter.Filter) (from string, args []any, ok bool, err error) {
	key, value, isPair := f.MetadataPair()
	if s.seal == nil || !sc.Valid() || !isPair {
		return "", nil, false, nil
	}
	return s.rolledUnion(ctx, sc, f, seal.HourlyMetadataTable(logevent.LogsTable), "n", " AND meta_key = ? AND meta_value = ?", []any{key, value},
		[]logevent.Column{mustColumn("created_at")}, "toUInt64(1) AS n")
}

// Quantiles is the exact quantiles of col at levels, as one array expression
// (index it from 1): the nearest rank, the smallest value with at least
// level × N of the N values at or below it. Over the logs' response_time the
// latency histograms of rolled-up days answer it (see latencySource).
func Quantiles(col string, levels ...string) string {
	return "quantilesExactWeighted(" + strings.Join(levels, ", ") + ")(" + col + ", 1)"
}

// latencyQuantiles matches Quantiles over response_time, indexed.
var latencyQuantiles = regexp.MustCompile(`^quantilesExactWeighted\(([0-9., ]+)\)\(` + "`response_time`" + `, 1\)(\[[0-9]+\])$`)

// toLatency rewrites text for the rows of latencySource, or reports false
// when they cannot answer it: the count, the average and Quantiles of
// response_time.
func toLatency(text string) (string, bool) {
	switch text {
	case "count()":
		return "sum(n)", true
	case "avg(`response_time`)":
		return "(sum(`response_time` * n) / sum(n))", true
	}
	if m := latencyQuantiles.FindStringSubmatch(text); m != nil {
		return "quantilesExactWeighted(" + m[1] + ")(`response_time`, n)" + m[2], true
	}
	return "", false
}

// latencySource returns, when f has no condition besides its time bounds and
// every text is a count, an average or quantiles of response_time, the FROM
// of rows (created_at, response_time, n) over the logs of sc in f's range:
// the latency histograms of rolled-up days — daily for their whole days when
// the query's buckets (grain; "" for none) are days or coarser, hourly for the
// other whole hours — and a row per log for the rest, with texts rewritten
// for it (toLatency); ok is false otherwise.
func (s *Store) latencySource(ctx context.Context, sc Scope, f filter.Filter, grain Unit, texts []string) (from string, args []any, rewritten []string, ok bool, err error) {
	rest := f
	rest.Min, rest.Max = 0, 0
	if s.seal == nil || !sc.Valid() || !rest.Empty() || grain == Minute {
		return "", nil, nil, false, nil
	}
	rewritten = make([]string, len(texts))
	for i, t := range texts {
		if rewritten[i], ok = toLatency(t); !ok {
			return "", nil, nil, false, nil
		}
	}
	hours, tags, err := s.rolled(ctx, sc, f)
	if err != nil || len(hours) == 0 {
		return "", nil, nil, false, err
	}
	inHours, hargs := inRanges(hours)
	raw, rargs, err := s.fromWhere(ctx, sc, f, []logevent.Column{mustColumn("created_at"), mustColumn("response_time")}, "NOT "+inHours, hargs)
	if err != nil {
		return "", nil, nil, false, err
	}
	var sels []string
	if len(tags) > 0 { // (none: the hours hold no logs at all)
		var days [][2]int64
		left := hours
		if grain == "" || grain == Day || grain == Week {
			days, left = wholeDays(hours)
		}
		tw, targs := sc.Tenant().Where()
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(tags)), ", ")
		for _, h := range []struct {
			table  string
			ranges [][2]int64
		}{{seal.DailyLatencyTable(logevent.LogsTable), days}, {seal.HourlyLatencyTable(logevent.LogsTable), left}} {
			if len(h.ranges) == 0 {
				continue
			}
			cond, cargs := inRanges(h.ranges)
			sels = append(sels, "SELECT `created_at`, `response_time`, n FROM "+h.table+" WHERE "+tw+" AND "+cond+" AND src_part IN ("+marks+")")
			args = append(append(append(args, targs...), cargs...), anys(tags)...)
		}
	}
	sels = append(sels, "SELECT `created_at`, `response_time`, toUInt64(1) AS n FROM "+raw)
	return "(" + strings.Join(sels, " UNION ALL ") + ")", append(args, rargs...), rewritten, true, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// aggSource is source for an aggregate naming texts, or the rollups when
// they can answer (src is SrcLogs and the query's buckets, grain — "" for
// none — are hours or coarser); texts come back as the query must use them
// over the source returned.
func (s *Store) aggSource(ctx context.Context, sc Scope, f filter.Filter, src Source, grain Unit, texts []string) (string, []any, []string, error) {
	if src == SrcLogs && grain != Minute {
		from, args, rw, ok, err := s.rollupSource(ctx, sc, f, texts)
		if err != nil {
			return "", nil, nil, err
		}
		if ok {
			return from, args, rw, nil
		}
		if from, args, rw, ok, err = s.latencySource(ctx, sc, f, grain, texts); err != nil || ok {
			return from, args, rw, err
		}
	}
	from, args, err := s.source(ctx, sc, f, src, texts...)
	return from, args, texts, err
}

// toRollup rewrites text — an aggregate expression, a group key or a
// condition over the logs columns — into the same over the rollup source,
// or reports false when the rollup cannot answer it. Conditions and keys may
// name only the rollup's dimensions; aggregates are count, sum, avg (with
// their -If forms) of the summed columns, uniqExact(If) of a dimension, and
// min/max of created_at; toString and toFloat64 may wrap anything.
func toRollup(text string) (string, bool) { return rewrite(text, false) }

// rewrite is toRollup; inAgg is true inside an aggregate's condition, where
// no further aggregate may appear.
func rewrite(text string, inAgg bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\'':
			j := endOfString(text, i)
			if j < 0 {
				return "", false
			}
			b.WriteString(text[i:j])
			i = j
		case c == '`':
			j := strings.IndexByte(text[i+1:], '`')
			if j < 0 || !rollupDims[text[i+1:i+1+j]] {
				return "", false
			}
			b.WriteString(text[i : i+j+2])
			i += j + 2
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(text) && (text[j] == '_' || text[j] >= 'a' && text[j] <= 'z' || text[j] >= 'A' && text[j] <= 'Z' || text[j] >= '0' && text[j] <= '9') {
				j++
			}
			name := text[i:j]
			if j == len(text) || text[j] != '(' {
				if !sqlWords[strings.ToUpper(name)] {
					return "", false
				}
				b.WriteString(name)
				i = j
				continue
			}
			end := closing(text, j)
			if end < 0 {
				return "", false
			}
			call, ok := rewriteCall(name, splitArgs(text[j+1:end]), inAgg)
			if !ok {
				return "", false
			}
			b.WriteString(call)
			i = end + 1
		case c == '?' || c == '"':
			return "", false
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), true
}

// sqlWords are the bare words a rollup text may hold.
var sqlWords = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true}

// rewriteCall rewrites the call name(args...).
func rewriteCall(name string, args []string, inAgg bool) (string, bool) {
	sum := func(arg string) (string, bool) { // a summed column → its sums
		col, ok := unquote(arg)
		if !ok || !rollupSums[col] {
			return "", false
		}
		return "`" + seal.SumColumn(col) + "`", true
	}
	cond := func(arg string) (string, bool) { return rewrite(strings.TrimSpace(arg), true) }
	switch name {
	case "toString", "toFloat64":
		out := make([]string, len(args))
		for i, a := range args {
			r, ok := rewrite(strings.TrimSpace(a), inAgg)
			if !ok {
				return "", false
			}
			out[i] = r
		}
		return name + "(" + strings.Join(out, ", ") + ")", true
	}
	if inAgg {
		return "", false
	}
	switch {
	case name == "count" && len(args) == 1 && strings.TrimSpace(args[0]) == "":
		return "sum(n)", true
	case name == "countIf" && len(args) == 1:
		c, ok := cond(args[0])
		return "sumIf(n, " + c + ")", ok
	case (name == "sum" || name == "avg") && len(args) == 1:
		x, ok := sum(args[0])
		if name == "avg" {
			return "(sum(" + x + ") / sum(n))", ok
		}
		return "sum(" + x + ")", ok
	case (name == "sumIf" || name == "avgIf") && len(args) == 2:
		x, ok1 := sum(args[0])
		c, ok2 := cond(args[1])
		if name == "avgIf" {
			return "(sumIf(" + x + ", " + c + ") / sumIf(n, " + c + "))", ok1 && ok2
		}
		return "sumIf(" + x + ", " + c + ")", ok1 && ok2
	case (name == "min" || name == "max") && len(args) == 1:
		col, ok := unquote(args[0])
		if !ok || col != "created_at" {
			return "", false
		}
		if name == "max" {
			return "max(`last_created_at`)", true
		}
		return "min(`created_at`)", true
	case name == "uniqExact" && len(args) == 1, name == "uniqExactIf" && len(args) == 2:
		col, ok := unquote(args[0])
		if !ok || !rollupDims[col] {
			return "", false
		}
		if len(args) == 1 {
			return "uniqExact(`" + col + "`)", true
		}
		c, ok := cond(args[1])
		return "uniqExactIf(`" + col + "`, " + c + ")", ok
	}
	return "", false
}

// unquote returns the column name of a backquoted name (spaces around allowed).
func unquote(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 3 || s[0] != '`' || s[len(s)-1] != '`' || strings.Contains(s[1:len(s)-1], "`") {
		return "", false
	}
	return s[1 : len(s)-1], true
}

// endOfString returns the index just past the string literal opening at i,
// or -1 when it does not close.
func endOfString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '\'':
			return j + 1
		}
	}
	return -1
}

// closing returns the index of the parenthesis closing the one at open, or -1.
func closing(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\'':
			j := endOfString(s, i)
			if j < 0 {
				return -1
			}
			i = j - 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitArgs splits a call's argument text at its top-level commas.
func splitArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			if j := endOfString(s, i); j > 0 {
				i = j - 1
			}
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
