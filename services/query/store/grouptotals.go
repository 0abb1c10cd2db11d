package store

import (
	"context"
	"strings"

	"logpipe/query/filter"
)

// GroupTotals aggregates exprs over the rows of src that Groups would group:
// those matching where (SQL over src's columns, "" for all; whereArgs bind
// its ?s). It is the "total" row of a grouped aggregate.
func (s *Store) GroupTotals(ctx context.Context, sc Scope, f filter.Filter, src Source, where string, whereArgs []any, exprs []string) ([]float64, error) {
	from, args, rw, err := s.aggSource(ctx, sc, f, src, "", append([]string{where}, exprs...))
	if err != nil {
		return nil, err
	}
	where, exprs = rw[0], rw[1:]
	q := "SELECT " + floats(exprs) + " FROM " + from
	if strings.TrimSpace(where) != "" {
		q += " WHERE " + where
		args = append(args, whereArgs...)
	}
	vals := make([]float64, len(exprs))
	dests := make([]any, len(vals))
	for i := range vals {
		dests[i] = &vals[i]
	}
	if err := s.conn.QueryRow(ctx, q, args...).Scan(dests...); err != nil {
		return nil, wrap("analytics group totals", err)
	}
	return finite(vals), nil
}
