package seal

import (
	"fmt"
	"testing"
)

func TestRollupsCoverWholeHoursOfRolledUpDays(t *testing.T) {
	const day, hour = int64(dayMillis), int64(hourMillis)
	d0 := 20000 * day // a UTC midnight
	now := d0 + 4*day + 5*hour
	snap := Snapshot{
		days:   map[int64]bool{d0: true, d0 + day: true, d0 + 3*day: true, d0 + 4*day: true},
		open:   map[int64]bool{d0 + day: true},
		rolled: map[int64][]string{d0: {"p0"}, d0 + 3*day: {"p3a", "p3b"}},
	}
	// from the middle of an hour of d0 to now: d0's whole hours after lo,
	// d0+2 (no partition: nothing to count) and d0+3; not d0+1 (open, no
	// rollup) nor today
	lo := d0 + 90*60*1000
	hours, parts := snap.Rollups(lo, 0, now)
	want := fmt.Sprint([][2]int64{{d0 + 2*hour, d0 + day}, {d0 + 2*day, d0 + 4*day}})
	if fmt.Sprint(hours) != want || fmt.Sprint(parts) != "[p0 p3a p3b]" {
		t.Errorf("Rollups = %v %v; want %s [p0 p3a p3b]", hours, parts, want)
	}
	// an upper bound inside a day cuts at its hour
	hours, _ = snap.Rollups(d0, d0+3*day+150*60*1000, now)
	if want := fmt.Sprint([][2]int64{{d0, d0 + day}, {d0 + 2*day, d0 + 3*day + 2*hour}}); fmt.Sprint(hours) != want {
		t.Errorf("Rollups with an upper bound = %v; want %s", hours, want)
	}
	// days before the first partition are not claimed
	if hours, _ := snap.Rollups(d0-5*day, d0+day, now); fmt.Sprint(hours) != fmt.Sprint([][2]int64{{d0, d0 + day}}) {
		t.Errorf("Rollups before the first partition = %v", hours)
	}
	// a table without parts (a Distributed table) has nothing rolled up
	empty := Snapshot{days: map[int64]bool{}, open: map[int64]bool{}, rolled: map[int64][]string{}}
	if hours, parts := empty.Rollups(d0, 0, now); hours != nil || parts != nil {
		t.Errorf("Rollups of a table without parts = %v %v; want none", hours, parts)
	}
}
