package logevent

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The fast decode path. Decode is the consumer's hot path (about half of a
// straightforward consumer's CPU went to encoding/json), so it first tries
// decodeFast, a hand-written parser driven by the column table, and falls back
// to encoding/json for anything outside the plain case: an unknown or escaped
// key (encoding/json also matches keys case-insensitively), a type mismatch,
// a number that does not fit, invalid or lone-surrogate text, a null inside
// an array, malformed JSON. The fallback decides and words every error, so the
// fast path only has to be right when it says yes; the tests compare both on
// the schema examples and on fuzzed input.
//
// Memory: the input is copied once; string fields without escapes point into
// that copy (it is never written to), RawJSON fields are sub-slices of it with
// their capacity capped at their length, so appending to one never reaches
// another. One event therefore costs a handful of allocations, not one per
// field.

// decodeFast decodes the JSON object in b into e (which holds the New
// defaults) and reports whether it could; on false e is garbage.
func decodeFast(b []byte, e *Event) bool {
	buf := make([]byte, len(b))
	copy(buf, b)
	return decodeFastIn(buf, e, nil)
}

// decodeFastIn is decodeFast without the copy: e's strings and payloads
// point into buf. When rs is not nil it notes there the raw payloads.
func decodeFastIn(buf []byte, e *Event, rs *rawScan) bool {
	p := parser{b: buf, rs: rs}
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return p.end()
	}
	guess := wireFirst
	for {
		p.ws()
		i := guess
		if i < len(Columns) && bytes.HasPrefix(p.b[p.i:], quotedNames[i]) {
			p.i += len(quotedNames[i]) // the key key() would read
		} else {
			key, ok := p.key()
			if !ok {
				return false
			}
			var known bool
			if i, known = byName[key]; !known {
				return false
			}
		}
		guess = wireNext[i]
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !p.field(Columns[i], e) {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return p.end()
		}
		return false
	}
}

// wireFirst is the Columns index of the first key Encode writes and
// wireNext[i] the one it writes after column i (len(Columns) after the
// last): decodeFast checks that guess before the name map, so events in
// Encode's key order, as gateways and Kafka send them, cost no hashing.
var wireFirst, wireNext = func() (int, []int) {
	next := make([]int, len(Columns))
	for i := range next {
		next[i] = len(Columns)
	}
	if encoders == nil {
		return len(Columns), next
	}
	prev := -1
	first := len(Columns)
	for _, f := range encoders {
		i := byName[f.col.Name]
		if prev < 0 {
			first = i
		} else {
			next[prev] = i
		}
		prev = i
	}
	return first, next
}()

// quotedNames[i] is Columns[i].Name in quotes, as a key in the input.
var quotedNames = func() [][]byte {
	q := make([][]byte, len(Columns))
	for i, c := range Columns {
		q[i] = []byte(`"` + c.Name + `"`)
	}
	return q
}()

type parser struct {
	b []byte
	i int
	// reformat is set once the parser consumed whitespace or skipped a
	// string holding a byte json.Marshal escapes in a raw payload (<, >, &,
	// or 0xE2, which may start U+2028/U+2029): a skipped value is written
	// unchanged only while it is false.
	reformat bool
	// rs, when not nil, notes the raw payloads decoded.
	rs *rawScan
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			p.reformat = true
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end accepts only trailing whitespace.
func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// lit consumes the literal s (null, true, false).
func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *parser) null() bool { return p.lit("null") }

// key reads an object key that needs no unescaping.
func (p *parser) key() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			k := p.b[start:p.i]
			p.i++
			return unsafe.String(unsafe.SliceData(k), len(k)), true
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return "", false
		}
		p.i++
	}
	return "", false
}

// str reads a JSON string as encoding/json would into a Go string.
func (p *parser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return "", false // encoding/json would substitute U+FFFD
			}
			if len(s) == 0 {
				return "", true
			}
			return unsafe.String(unsafe.SliceData(s), len(s)), true
		case c == '\\':
			return p.unescape(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// unescape finishes a string that contains escapes, from its start; it
// allocates the result.
func (p *parser) unescape(start int) (string, bool) {
	out := make([]byte, 0, p.i-start+16)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		esc := p.b[p.i+1]
		p.i += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				// Only a valid pair stays on the fast path.
				if !p.lit(`\u`) {
					return "", false
				}
				r2, ok := p.hex4()
				if !ok {
					return "", false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

// uint reads a non-negative integer literal no larger than max.
func (p *parser) uint(max uint64) (uint64, bool) {
	start := p.i
	var n uint64
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
		p.i++
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false // a float into an integer: encoding/json refuses
		}
	}
	return n, true
}

// number consumes a JSON number literal and returns its bytes.
func (p *parser) number() ([]byte, bool) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && '1' <= p.b[p.i] && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, false
	}
	if p.eat('.') {
		if p.digits() == 0 {
			return nil, false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return p.b[start:p.i], true
}

func (p *parser) digits() int {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// skip consumes any valid JSON value.
func (p *parser) skip(depth int) bool {
	if p.i >= len(p.b) || depth > 1000 {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{':
		p.i++
		p.ws()
		if p.eat('}') {
			return true
		}
		for {
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != '"' || !p.skipString() {
				return false
			}
			p.ws()
			if !p.eat(':') {
				return false
			}
			p.ws()
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat('}')
		}
	case c == '[':
		p.i++
		p.ws()
		if p.eat(']') {
			return true
		}
		for {
			p.ws()
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat(']')
		}
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.null()
	default:
		_, ok := p.number()
		return ok
	}
}

// skipString consumes a string with valid escapes (bytes are not checked for
// UTF-8, as encoding/json's validity check does not).
func (p *parser) skipString() bool {
	p.i++ // the opening quote
	for p.i < len(p.b) {
		c := p.b[p.i]
		cls := strClass[c]
		if cls == 0 {
			p.i++
			continue
		}
		switch cls {
		case clsQuote:
			p.i++
			return true
		case clsControl:
			return false
		case clsHTML:
			p.reformat = true
			p.i++
			continue
		}
		// a backslash
		if p.i+1 >= len(p.b) {
			return false
		}
		switch p.b[p.i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			p.i += 2
		case 'u':
			p.i += 2
			if _, ok := p.hex4(); !ok {
				return false
			}
		default:
			return false
		}
	}
	return false
}

// Byte classes inside a string for skipString; 0 is a byte to step over.
const (
	clsQuote = 1 + iota
	clsBackslash
	clsControl
	clsHTML
)

var strClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = clsControl
	}
	t['"'], t['\\'] = clsQuote, clsBackslash
	for _, c := range []byte{'<', '>', '&', 0xE2} {
		t[c] = clsHTML
	}
	return t
}()

// field decodes one value into column c of e, as encoding/json would.
func (p *parser) field(c Column, e *Event) bool {
	switch c.Kind {
	case KindString:
		if p.null() {
			return true // encoding/json leaves the field as it was
		}
		s, ok := p.str()
		if ok {
			*(c.Dest(e).(*string)) = s
		}
		return ok
	case KindRaw:
		d := c.Dest(e).(*RawJSON)
		if p.null() {
			*d = nil
			return true
		}
		start := p.i
		p.reformat = false
		if !p.skip(0) {
			return false
		}
		*d = RawJSON(p.b[start:p.i:p.i])
		if p.rs != nil {
			p.rs.note(c.Name, *d, !p.reformat)
		}
		return true
	case KindTime:
		d := c.Dest(e).(*Millis)
		if p.i < len(p.b) && p.b[p.i] == '"' {
			s, ok := p.str()
			if !ok {
				return false
			}
			m, err := ParseMillis(s)
			if err != nil {
				return false
			}
			*d = m
			return true
		}
		n, ok := p.uint(1<<63 - 1)
		if ok {
			*d = Millis(n)
		}
		return ok
	case KindUInt8, KindUInt16, KindUInt32:
		if p.null() {
			return true
		}
		switch d := c.Dest(e).(type) {
		case *uint8:
			n, ok := p.uint(1<<8 - 1)
			*d = uint8(n)
			return ok
		case *uint16:
			n, ok := p.uint(1<<16 - 1)
			*d = uint16(n)
			return ok
		case *uint32:
			n, ok := p.uint(1<<32 - 1)
			*d = uint32(n)
			return ok
		}
		return false
	case KindFloat64:
		if p.null() {
			return true
		}
		lit, ok := p.number()
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(lit), len(lit)), 64)
		if err != nil {
			return false
		}
		*(c.Dest(e).(*float64)) = f
		return true
	case KindStrings:
		d := c.Dest(e).(*[]string)
		if p.null() {
			*d = nil
			return true
		}
		if !p.eat('[') {
			return false
		}
		out := make([]string, 0, 4)
		p.ws()
		if p.eat(']') {
			*d = out
			return true
		}
		for {
			p.ws()
			s, ok := p.str()
			if !ok {
				return false
			}
			out = append(out, s)
			p.ws()
			if p.eat(',') {
				continue
			}
			if !p.eat(']') {
				return false
			}
			*d = out
			return true
		}
	}
	return false
}
