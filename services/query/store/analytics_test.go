package store

import (
	"testing"
	"time"
)

func TestUnitForPicksBucketsFromTheRange(t *testing.T) {
	for _, tc := range []struct {
		r    time.Duration
		want Unit
	}{
		{time.Hour, Minute}, {2 * time.Hour, Minute}, {3 * time.Hour, Hour}, {7 * 24 * time.Hour, Hour},
		{8 * 24 * time.Hour, Day}, {90 * 24 * time.Hour, Day}, {91 * 24 * time.Hour, Week}, {MaxRange, Week},
	} {
		if got := UnitFor(tc.r); got != tc.want {
			t.Errorf("UnitFor(%v) = %s; want %s", tc.r, got, tc.want)
		}
	}
}

func TestUnitStartAndNext(t *testing.T) {
	at := time.Date(2026, 11, 22, 13, 47, 31, 5e8, time.UTC) // a Sunday
	for _, tc := range []struct {
		u          Unit
		start, nxt string
	}{
		{Minute, "2026-11-22T13:47:00Z", "2026-11-22T13:48:00Z"},
		{Hour, "2026-11-22T13:00:00Z", "2026-11-22T14:00:00Z"},
		{Day, "2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"},
		{Week, "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z"}, // Monday, as toMonday
	} {
		s := tc.u.Start(at)
		if got := s.Format(time.RFC3339); got != tc.start {
			t.Errorf("%s start = %s; want %s", tc.u, got, tc.start)
		}
		if got := tc.u.Next(s).Format(time.RFC3339); got != tc.nxt {
			t.Errorf("%s next = %s; want %s", tc.u, got, tc.nxt)
		}
	}
	if got := Week.Start(time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)); got.Day() != 16 {
		t.Errorf("a Monday's week starts on %v; want itself", got)
	}
}
