package export

import (
	"strings"
	"unsafe"

	"logpipe/lib/logevent"
)

// sep joins values in ClickHouse for the scan: 0xFF never occurs in valid
// UTF-8, and every string of an event is valid UTF-8 (validated at ingest).
const sep = "\xff"

// scanner reads export rows into an Event with the driver's cheapest paths.
// The driver allocates (and boxes) every String value it scans, which
// dominates an export's CPU, so:
//   - the scalar string columns arrive packed in one string, split here into
//     substrings of it (one allocation per row instead of one per column);
//   - array columns arrive joined in one string (no reflection per row);
//   - payload columns scan into strings the Event then shares (no second copy).
//
// Numeric columns scan through the column table's Dest, as listings do.
type scanner struct {
	cols  []logevent.Column
	ev    logevent.Event
	dests []any
	// packed holds the scalar string columns joined by sep, in strs order
	packed string
	strs   []*string
	raw    []rawDest
	arrs   []arrDest
	// keys is the metadata.key column's destination: metadata.value splits
	// into as many values as there are keys (keys are never empty).
	keys *[]string
	// list is the SELECT list matching dests
	list []string
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
	sc := &scanner{cols: cols}
	sc.raw = make([]rawDest, 0, len(cols))
	sc.arrs = make([]arrDest, 0, len(cols))
	var packed []string
	for _, c := range cols {
		switch c.Kind {
		case logevent.KindString:
			sc.strs = append(sc.strs, c.Dest(&sc.ev).(*string))
			packed = append(packed, c.Quoted())
		case logevent.KindRaw:
			sc.raw = append(sc.raw, rawDest{dst: c.Dest(&sc.ev).(*logevent.RawJSON)})
			sc.dests = append(sc.dests, &sc.raw[len(sc.raw)-1].s)
			sc.list = append(sc.list, c.Quoted())
		case logevent.KindStrings:
			sc.arrs = append(sc.arrs, arrDest{dst: c.Dest(&sc.ev).(*[]string)})
			sc.dests = append(sc.dests, &sc.arrs[len(sc.arrs)-1].s)
			sc.list = append(sc.list, "arrayStringConcat("+c.Quoted()+", '\\xFF')")
			if c.Name == "metadata.key" {
				sc.keys = sc.arrs[len(sc.arrs)-1].dst
			}
		default:
			sc.dests = append(sc.dests, c.Dest(&sc.ev))
			sc.list = append(sc.list, c.Quoted())
		}
	}
	switch len(packed) {
	case 0:
	case 1:
		sc.dests = append(sc.dests, &sc.packed)
		sc.list = append(sc.list, packed[0])
	default:
		sc.dests = append(sc.dests, &sc.packed)
		sc.list = append(sc.list, "concat("+strings.Join(packed, ", '\\xFF', ")+")")
	}
	return sc
}

// selectList is the SELECT list matching the scanner's destinations.
func (sc *scanner) selectList() string { return strings.Join(sc.list, ", ") }

// fill completes the Event after rows.Scan(sc.dests...).
func (sc *scanner) fill() {
	rest := sc.packed
	for i, dst := range sc.strs {
		if i == len(sc.strs)-1 {
			*dst = rest
			break
		}
		k := strings.IndexByte(rest, sep[0])
		if k < 0 { // cannot happen for valid UTF-8 values; keep going safely
			*dst, rest = rest, ""
			continue
		}
		*dst, rest = rest[:k], rest[k+1:]
	}
	for i := range sc.raw {
		r := &sc.raw[i]
		// the string is fresh from the driver and never modified: share it
		*r.dst = logevent.RawJSON(unsafe.Slice(unsafe.StringData(r.s), len(r.s)))
	}
	n := -1
	if sc.keys != nil {
		for i := range sc.arrs {
			if a := &sc.arrs[i]; a.dst == sc.keys {
				*a.dst = split(a.s, -1)
				n = len(*a.dst)
			}
		}
	}
	for i := range sc.arrs {
		if a := &sc.arrs[i]; a.dst != sc.keys {
			*a.dst = split(a.s, n)
		}
	}
}

// split cuts a joined array; n, when not negative, is the known length (an
// empty string is then n empty values, or none when n is 0).
func split(s string, n int) []string {
	if n == 0 || (n < 0 && s == "") {
		return nil
	}
	if n > 0 {
		return strings.SplitN(s, sep, n)
	}
	return strings.Split(s, sep)
}
