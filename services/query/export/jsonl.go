package export

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"logpipe/lib/logevent"
)

// Encoder writes events as JSONL lines whose keys are the documented column
// names of its columns, in their table order. It is the hot path of an
// export, so it appends by hand instead of going through reflection; the
// output is what encoding/json would write for the same Event fields
// (RawJSON null when absent, Millis as ISO-8601 with milliseconds).
type Encoder struct {
	cols []logevent.Column
	keys [][]byte // `"name":` with a leading comma from the second on
}

// NewEncoder returns an encoder for cols (see Columns).
func NewEncoder(cols []logevent.Column) *Encoder {
	e := &Encoder{cols: cols, keys: make([][]byte, len(cols))}
	for i, c := range cols {
		var k []byte
		if i > 0 {
			k = append(k, ',')
		}
		k = appendString(k, c.Name)
		e.keys[i] = append(k, ':')
	}
	return e
}

// Append appends ev as one JSON object and a newline to b.
func (enc *Encoder) Append(b []byte, ev *logevent.Event) []byte {
	b = append(b, '{')
	for i, c := range enc.cols {
		b = append(b, enc.keys[i]...)
		switch v := c.Dest(ev).(type) {
		case *string:
			b = appendString(b, *v)
		case *logevent.RawJSON:
			b = appendRaw(b, *v)
		case *logevent.Millis:
			b = appendMillis(b, *v)
		case *uint8:
			b = strconv.AppendUint(b, uint64(*v), 10)
		case *uint16:
			b = strconv.AppendUint(b, uint64(*v), 10)
		case *uint32:
			b = strconv.AppendUint(b, uint64(*v), 10)
		case *float64:
			b = appendFloat(b, *v)
		case *[]string:
			b = append(b, '[')
			for j, s := range *v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			b = append(b, ']')
		default:
			// The column table only has the kinds above; a new kind must be
			// taught to the encoder, which the tests catch.
			panic("export: column " + c.Name + " has an unsupported kind")
		}
	}
	return append(b, '}', '\n')
}

// appendRaw appends a raw JSON payload, null when empty. A payload that spans
// lines (pretty-printed JSON) is compacted so a log stays on one line; the
// JSON value is unchanged.
func appendRaw(b []byte, r logevent.RawJSON) []byte {
	if len(r) == 0 {
		return append(b, "null"...)
	}
	if bytes.IndexByte(r, '\n') < 0 && bytes.IndexByte(r, '\r') < 0 {
		return append(b, r...)
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, r); err != nil {
		// Ingest validated the payload; if it is not JSON after all, write it
		// as a string rather than break the file.
		return appendString(b, string(r))
	}
	return buf.Bytes()
}

// appendFloat formats like encoding/json (ES6 number formatting).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// safe marks the ASCII bytes that need no escaping inside a JSON string.
var safe = func() (s [utf8.RuneSelf]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		s[i] = i != '"' && i != '\\'
	}
	return s
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; HTML characters are not escaped (a file, not a page).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Line separators are valid JSON but split lines in some readers.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendMillis appends m as logevent.Millis.AppendJSON does (quoted ISO-8601
// UTC with milliseconds) without going through time.Format, which is a
// visible part of an export's CPU.
func appendMillis(b []byte, m logevent.Millis) []byte {
	if m < 0 || m >= 253402300800000 { // outside years 1970-9999
		return m.AppendJSON(b)
	}
	ms := int64(m)
	days, rem := ms/86_400_000, ms%86_400_000
	// civil from days (H. Hinnant), days since 1970-01-01
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	mo := mp + 3
	if mo > 12 {
		mo -= 12
	}
	if mo <= 2 {
		y++
	}
	h, mi, sec, milli := rem/3_600_000, rem/60_000%60, rem/1000%60, rem%1000
	two := func(b []byte, v int64) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }
	b = append(b, '"', byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = two(b, mo)
	b = append(b, '-')
	b = two(b, d)
	b = append(b, 'T')
	b = two(b, h)
	b = append(b, ':')
	b = two(b, mi)
	b = append(b, ':')
	b = two(b, sec)
	return append(b, '.', byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z', '"')
}
