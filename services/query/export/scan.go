package export

import (
	"strings"
	"unsafe"

	"logpipe/lib/logevent"
)

// arraySep joins array values in ClickHouse for the scan: 0xFF never occurs
// in valid UTF-8, and every string of an event is valid UTF-8 (validated at
// ingest).
const arraySep = "\xff"

// scanner reads export rows into an Event with the driver's fastest paths:
// payload columns scan into strings the Event then shares (no second copy),
// and array columns arrive joined in one string (no reflection per row).
// Everything else scans through the column table's Dest, as listings do.
type scanner struct {
	cols  []logevent.Column
	ev    logevent.Event
	dests []any
	raw   []rawDest
	arrs  []arrDest
	// keys is the metadata.key column's destination: metadata.value splits
	// into as many values as there are keys (keys are never empty).
	keys *[]string
}

type rawDest struct {
	s   string
	dst *logevent.RawJSON
}

type arrDest struct {
	s   string
	dst *[]string
}

func newScanner(cols []logevent.Column) *scanner {
	sc := &scanner{cols: cols, dests: make([]any, len(cols))}
	sc.raw = make([]rawDest, 0, len(cols))
	sc.arrs = make([]arrDest, 0, len(cols))
	for i, c := range cols {
		switch c.Kind {
		case logevent.KindRaw:
			sc.raw = append(sc.raw, rawDest{dst: c.Dest(&sc.ev).(*logevent.RawJSON)})
			sc.dests[i] = &sc.raw[len(sc.raw)-1].s
		case logevent.KindStrings:
			sc.arrs = append(sc.arrs, arrDest{dst: c.Dest(&sc.ev).(*[]string)})
			sc.dests[i] = &sc.arrs[len(sc.arrs)-1].s
			if c.Name == "metadata.key" {
				sc.keys = sc.arrs[len(sc.arrs)-1].dst
			}
		default:
			sc.dests[i] = c.Dest(&sc.ev)
		}
	}
	return sc
}

// selectList is the SELECT list matching the scanner's destinations.
func (sc *scanner) selectList() string {
	parts := make([]string, len(sc.cols))
	for i, c := range sc.cols {
		parts[i] = c.Quoted()
		if c.Kind == logevent.KindStrings {
			parts[i] = "arrayStringConcat(" + c.Quoted() + ", '\\xFF')"
		}
	}
	return strings.Join(parts, ", ")
}

// fill completes the Event after rows.Scan(sc.dests...).
func (sc *scanner) fill() {
	for i := range sc.raw {
		r := &sc.raw[i]
		// the string is fresh from the driver and never modified: share it
		*r.dst = logevent.RawJSON(unsafe.Slice(unsafe.StringData(r.s), len(r.s)))
	}
	for i := range sc.arrs {
		a := &sc.arrs[i]
		if a.dst != sc.keys {
			continue
		}
		*a.dst = split(a.s, -1)
	}
	for i := range sc.arrs {
		a := &sc.arrs[i]
		if a.dst == sc.keys {
			continue
		}
		n := -1
		if sc.keys != nil {
			n = len(*sc.keys)
		}
		*a.dst = split(a.s, n)
	}
}

// split cuts a joined array; n, when not negative, is the known length (an
// empty string is then n empty values, or none when n is 0).
func split(s string, n int) []string {
	if n == 0 || (n < 0 && s == "") {
		return nil
	}
	if n > 0 {
		return strings.SplitN(s, arraySep, n)
	}
	return strings.Split(s, arraySep)
}
