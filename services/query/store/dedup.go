package store

import (
	"context"
	"strings"
	"time"

	"logpipe/lib/logevent"
	"logpipe/query/filter"
)

// Deduplicated reads. Copies of a log share its whole ordering key and
// collapse when their parts merge; until then aggregates must deduplicate.
// FINAL does, at the price of merging every part it reads. The store reads
// sealed days (package seal: one part per partition, hence no copies)
// without FINAL and only the other days — today, and days a late write
// reopened — with FINAL, so a 30-day total pays FINAL over about one day.

// from returns a subquery (in parentheses) selecting cols of the distinct
// logs of sc matching f, and its arguments.
func (s *Store) from(ctx context.Context, sc Scope, f filter.Filter, cols []logevent.Column) (string, []any, error) {
	return s.fromWhere(ctx, sc, f, cols, "", nil)
}

// fromWhere is from restricted further by extra (a condition over the logs
// table, "" for none) with its arguments.
func (s *Store) fromWhere(ctx context.Context, sc Scope, f filter.Filter, cols []logevent.Column, extra string, extraArgs []any) (string, []any, error) {
	if !sc.Valid() {
		return "", nil, ErrNoScope
	}
	w, args := sc.Where()
	fw, fargs := f.Where(sc.Tenant())
	where := w + " AND " + fw
	args = append(args, fargs...)
	if extra != "" {
		where += " AND " + extra
		args = append(args, extraArgs...)
	}
	sel := "SELECT " + logevent.SelectList(cols) + " FROM " + logevent.LogsTable
	sealed, rargs, all, err := s.sealedRanges(ctx, sc, f)
	if err != nil {
		return "", nil, err
	}
	switch {
	case sealed == "":
		return "(" + sel + " FINAL WHERE " + where + ")", args, nil
	case all:
		return "(" + sel + " WHERE " + where + " AND " + sealed + ")", append(args, rargs...), nil
	}
	q := "(" + sel + " WHERE " + where + " AND " + sealed + " UNION ALL " + sel + " FINAL WHERE " + where + " AND NOT " + sealed + ")"
	out := append(append([]any{}, args...), rargs...)
	out = append(append(out, args...), rargs...)
	return q, out, nil
}

// sealedRanges returns the created_at condition of the sealed days within
// the time range of sc and f ("" when none is sealed), its arguments, and
// whether the sealed days cover the whole range.
func (s *Store) sealedRanges(ctx context.Context, sc Scope, f filter.Filter) (string, []any, bool, error) {
	if s.seal == nil {
		return "", nil, false, nil
	}
	snap, err := s.seal.Snapshot(ctx)
	if err != nil {
		return "", nil, false, wrap("read partitions", err)
	}
	now := time.Now().UnixMilli()
	lo := int64(sc.RetentionCutoff())
	if int64(f.Min) > lo {
		lo = int64(f.Min)
	}
	hi := int64(0) // exclusive; 0: up to now
	if f.Max > 0 {
		hi = int64(f.Max) + 1
	}
	ranges := snap.Ranges(lo, hi, now)
	if len(ranges) == 0 {
		return "", nil, false, nil
	}
	end := hi
	if end == 0 || end > now {
		end = now
	}
	all := len(ranges) == 1 && ranges[0][0] <= lo && ranges[0][1] >= end
	var terms []string
	var args []any
	for _, r := range ranges {
		terms = append(terms, "("+colCreatedAt+" >= ? AND "+colCreatedAt+" < ?)")
		args = append(args, uint64(r[0]), uint64(r[1]))
	}
	return "(" + strings.Join(terms, " OR ") + ")", args, all, nil
}

// usedColumns returns the listing columns named (quoted) in uses, plus
// created_at (buckets, time bounds); every listing column when uses is empty.
func usedColumns(uses []string) []logevent.Column {
	all := logevent.ListingColumns()
	if len(uses) == 0 {
		return all
	}
	text := strings.Join(uses, " ")
	var out []logevent.Column
	for _, c := range all {
		if c.Name == "created_at" || strings.Contains(text, c.Quoted()) {
			out = append(out, c)
		}
	}
	return out
}
