package export

import (
	"context"
	"testing"

	"logpipe/lib/testenv"
)

// On current ClickHouse system.columns reads 0 bytes for every column while
// the table's parts are small (compact parts); the size estimate must then
// fall back to its default instead of planning windows for 1-byte logs. On
// 18.16 it is computed from the table (at least the bodies). Either way it
// is a plausible log size.
func TestRowBytesIsPlausibleOnEveryEngine(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	s := &Service{conn: conn}
	ctx := context.Background()
	if got := s.rowBytes(ctx); got != defaultRowBytes {
		t.Errorf("empty table: %d bytes per log; want the default %d", got, defaultRowBytes)
	}
	evs := seed(t, conn, wsA, 50, 0, 7, false)
	var payload uint64
	for i := range evs {
		payload += uint64(len(evs[i].RequestBody) + len(evs[i].ResponseBody))
	}
	avg := payload / uint64(len(evs))
	got := s.rowBytes(ctx)
	if got < min(avg, defaultRowBytes) || got > 64*defaultRowBytes {
		t.Errorf("50 logs of %d body bytes each on average: estimated %d bytes per log; want at least %d, at most %d",
			avg, got, min(avg, defaultRowBytes), 64*defaultRowBytes)
	}
}
