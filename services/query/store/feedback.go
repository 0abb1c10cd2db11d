package store

import (
	"context"
	"fmt"

	"logpipe/lib/logevent"
	"logpipe/query/filter"
)

// Feedback is the latest version of one feedback on a trace.
type Feedback struct {
	ID        string          `json:"id"`
	TraceID   string          `json:"trace_id"`
	Value     int8            `json:"value"`
	Weight    float64         `json:"weight"`
	Weighted  float64         `json:"weighted_value"`
	CreatedAt logevent.Millis `json:"created_at"`
	UpdatedAt logevent.Millis `json:"updated_at"`
}

// TraceFeedback returns the feedback given on traceID in sc (latest version
// of each feedback id, oldest first); none for an empty trace id.
func (s *Store) TraceFeedback(ctx context.Context, sc Scope, traceID string) ([]Feedback, error) {
	if !sc.Valid() {
		return nil, ErrNoScope
	}
	if traceID == "" {
		return nil, nil
	}
	fb, args := filter.LatestFeedbackSQL(sc.Tenant())
	q := "SELECT fid, t, v, w, c, u FROM (" + fb + ") WHERE t = ? AND c >= ? ORDER BY c, fid"
	args = append(args, traceID, uint64(sc.RetentionCutoff()))
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("read feedback", err)
	}
	defer rows.Close()
	var out []Feedback
	for rows.Next() {
		var f Feedback
		var c, u uint64
		if err := rows.Scan(&f.ID, &f.TraceID, &f.Value, &f.Weight, &c, &u); err != nil {
			return nil, fmt.Errorf("scan feedback: %w", err)
		}
		f.CreatedAt, f.UpdatedAt = logevent.Millis(c), logevent.Millis(u)
		f.Weighted = float64(f.Value) * f.Weight
		out = append(out, f)
	}
	return out, wrap("read feedback", rows.Err())
}
