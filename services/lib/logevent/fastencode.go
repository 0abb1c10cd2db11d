package logevent

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// The fast encode path. Encode is ingest's hot path; appendEvent writes
// exactly the bytes json.Marshal writes for an Event (field order, HTML-safe
// escaping, compacted raw payloads, float formatting) without reflection, and
// hands anything unusual (a string or payload that needs escaping or
// compacting, a non-finite cost) back to encoding/json so both always agree.
// The tests compare the two on the schema examples and fuzzed events.

// fieldEnc writes one field, with its key, of an event.
type fieldEnc struct {
	key  string // `"name":` with the leading comma when not first
	kind Kind
	col  Column
}

// encoders are the Event fields in struct order (json.Marshal's order), or
// nil when a field has no column (then Encode uses encoding/json only).
var encoders = func() []fieldEnc {
	t := reflect.TypeOf(Event{})
	var out []fieldEnc
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("json")
		c, ok := Lookup(name)
		if !ok {
			return nil
		}
		key := strconv.Quote(name) + ":"
		if i > 0 {
			key = "," + key
		}
		out = append(out, fieldEnc{key: key, kind: c.Kind, col: c})
	}
	return out
}()

// keysLen is the length of every key with its quotes, colon and comma.
var keysLen = func() int {
	n := 2
	for _, f := range encoders {
		n += len(f.key)
	}
	return n
}()

// sizeHint is about the encoded size of e when nothing needs escaping, so
// Encode allocates its buffer once.
func sizeHint(e *Event) int {
	n := keysLen
	for _, f := range encoders {
		switch f.kind {
		case KindString:
			n += len(*(f.col.Dest(e).(*string))) + 2
		case KindRaw:
			n += len(*(f.col.Dest(e).(*RawJSON))) + 4
		case KindStrings:
			for _, s := range *(f.col.Dest(e).(*[]string)) {
				n += len(s) + 3
			}
			n += 4
		default:
			n += 26
		}
	}
	return n
}

// appendEvent appends e's JSON to dst and reports whether it could; on false
// the caller uses encoding/json.
func appendEvent(dst []byte, e *Event, rs *rawScan) ([]byte, bool) {
	if encoders == nil {
		return dst, false
	}
	dst = append(dst, '{')
	for _, f := range encoders {
		dst = append(dst, f.key...)
		var ok bool
		switch f.kind {
		case KindString:
			dst, ok = appendPlainString(dst, *(f.col.Dest(e).(*string)))
		case KindRaw:
			r := *(f.col.Dest(e).(*RawJSON))
			if len(r) > 0 && rs != nil && rs.copyAsIs(f.col.Name, r) {
				dst, ok = append(dst, r...), true
			} else {
				dst, ok = appendRaw(dst, r)
			}
		case KindTime:
			dst, ok = e.CreatedAt.AppendJSON(dst), true
		case KindUInt8:
			dst, ok = strconv.AppendUint(dst, uint64(*(f.col.Dest(e).(*uint8))), 10), true
		case KindUInt16:
			dst, ok = strconv.AppendUint(dst, uint64(*(f.col.Dest(e).(*uint16))), 10), true
		case KindUInt32:
			dst, ok = strconv.AppendUint(dst, uint64(*(f.col.Dest(e).(*uint32))), 10), true
		case KindFloat64:
			dst, ok = appendFloat(dst, *(f.col.Dest(e).(*float64)))
		case KindStrings:
			v := *(f.col.Dest(e).(*[]string))
			if v == nil {
				dst, ok = append(dst, "null"...), true
				break
			}
			dst, ok = append(dst, '['), true
			for i, s := range v {
				if i > 0 {
					dst = append(dst, ',')
				}
				if dst, ok = appendPlainString(dst, s); !ok {
					break
				}
			}
			dst = append(dst, ']')
		}
		if !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// plain[c] is true for the ASCII bytes json.Marshal writes unescaped.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendPlainString quotes s when none of its bytes needs escaping.
func appendPlainString(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			if s[i] < utf8.RuneSelf {
				return dst, false
			}
			// Non-ASCII text is written as is when valid and not U+2028/U+2029.
			return appendUTF8String(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), true
}

func appendUTF8String(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !plain[c] {
				return dst, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return dst, false
		}
		i += size
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), true
}

// appendRaw writes a payload json.Marshal would copy unchanged: valid JSON
// with no whitespace between tokens and nothing to HTML-escape.
func appendRaw(dst []byte, r RawJSON) ([]byte, bool) {
	if len(r) == 0 {
		return append(dst, "null"...), true
	}
	// One validating pass decides the common case: valid, compact, nothing
	// to escape, so copied as is.
	p := parser{b: r}
	if p.skip(0) && p.i == len(r) && !p.reformat {
		return append(dst, r...), true
	}
	inString, escape, compact := false, false, false
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c == '<' || c == '>' || c == '&' || c == 0xE2: // 0xE2 may start U+2028/U+2029
			escape = true
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			compact = true
		}
	}
	if !compact && !escape {
		if !validJSON(r) {
			return dst, false
		}
		return append(dst, r...), true
	}
	// What encoding/json does to a Marshaler's output: compact, then
	// escape <, >, & and U+2028/U+2029.
	var buf bytes.Buffer
	if err := json.Compact(&buf, r); err != nil {
		return dst, false
	}
	if !escape {
		return append(dst, buf.Bytes()...), true
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, buf.Bytes())
	return append(dst, esc.Bytes()...), true
}

// appendFloat formats f as encoding/json does.
func appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// validJSON is json.Valid, answered by the fast parser's validating skip for
// the common case (it gives up on what it does not handle, such as very deep
// nesting, and encoding/json decides).
func validJSON(r []byte) bool {
	p := parser{b: r}
	p.ws()
	if p.skip(0) {
		p.ws()
		if p.i == len(r) {
			return true
		}
	}
	return json.Valid(r)
}
