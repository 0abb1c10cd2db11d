package export

import (
	"io"
	"slices"
	"strings"

	"logpipe/lib/logevent"
)

// lineWindow holds encoded lines of a window with their order keys, to write
// them ordered by (created_at, id) without repeats. logs is a
// ReplacingMergeTree: until merges a log may be stored more than once, and
// the copies share (created_at, id), so they meet in this order.
type lineWindow struct {
	arena []byte
	lines []line
	// last is the key of the last line written, carried across flushes
	// of a window ClickHouse orders
	lastAt  logevent.Millis
	lastID  string
	written bool
	// count is the lines written since reset
	count uint64
}

type line struct {
	at       logevent.Millis
	id       string
	off, end int
}

func (lw *lineWindow) reset() {
	lw.arena, lw.lines, lw.written, lw.count = lw.arena[:0], lw.lines[:0], false, 0
}

// add encodes ev at the end of the window.
func (lw *lineWindow) add(enc *Encoder, ev *logevent.Event) {
	off := len(lw.arena)
	lw.arena = enc.Append(lw.arena, ev)
	lw.lines = append(lw.lines, line{at: ev.CreatedAt, id: ev.ID, off: off, end: len(lw.arena)})
}

// writeTo writes the held lines to w (ordered first when sort is true),
// skipping repeats, and empties the window.
func (lw *lineWindow) writeTo(w io.Writer, sort bool) error {
	if sort {
		slices.SortFunc(lw.lines, func(a, b line) int {
			if a.at != b.at {
				if a.at < b.at {
					return -1
				}
				return 1
			}
			return strings.Compare(a.id, b.id)
		})
	}
	for _, l := range lw.lines {
		if lw.written && l.at == lw.lastAt && l.id == lw.lastID {
			continue
		}
		lw.lastAt, lw.lastID, lw.written = l.at, l.id, true
		if _, err := w.Write(lw.arena[l.off:l.end]); err != nil {
			return err
		}
		lw.count++
	}
	lw.arena, lw.lines = lw.arena[:0], lw.lines[:0]
	return nil
}
