package logevent

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// FieldError says which field of an event is wrong and why; Field is the
// documented column name (or a JSON path for nested input).
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// Limits bound what one event may carry. The zero value is not useful; start
// from DefaultLimits.
type Limits struct {
	// MaxPayloadBytes bounds each of request.body, response.body and the headers (default 4 MiB).
	MaxPayloadBytes int
	// MaxStringLen bounds every scalar string column, in bytes (default 2048).
	MaxStringLen int
	// MaxMetadataKeys bounds the number of metadata pairs (default 64).
	MaxMetadataKeys int
	// MaxMetadataValueLen bounds each metadata value, in characters (default 128).
	MaxMetadataValueLen int
}

// DefaultLimits are the limits used unless configured otherwise.
var DefaultLimits = Limits{
	MaxPayloadBytes:     4 << 20,
	MaxStringLen:        2048,
	MaxMetadataKeys:     64,
	MaxMetadataValueLen: 128,
}

// MetadataKeyPattern is what a metadata key may look like; queries rely on it
// to use keys as filter and group names safely.
var MetadataKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// IDPattern is what a log id may look like (UUIDs, ULIDs and similar).
var IDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:\-]{1,64}$`)

// Validate returns every problem of e, or nil. It expects a complete event:
// id, workspace and created_at set (ingest sets them before validating).
func (e *Event) Validate(l Limits) []FieldError { return e.validate(l, nil) }

// ValidateAppend is Validate and, when it finds nothing, Encode appending to
// dst: it returns Validate's errors (and dst unchanged), or else dst with
// Encode's bytes appended and Encode's error. It reads each raw payload once
// for both, where Validate then Encode read it twice, and not at all when
// checks (which may be nil) says DecodeStrictAliasing already read that very
// payload. dst grows like append's result when it lacks room, so a caller
// encoding many events into one buffer passes an empty slice of its free
// capacity to tell whether the event went there.
func (e *Event) ValidateAppend(dst []byte, l Limits, checks *RawChecks) ([]byte, []FieldError, error) {
	var own RawChecks
	if checks == nil {
		checks = &own
	}
	rs := &checks.rs
	if errs := e.validate(l, rs); errs != nil {
		return dst, errs, nil
	}
	b, err := appendEncode(dst, e, rs)
	return b, nil, err
}

// RawChecks carries what DecodeStrictAliasing learnt of an event's raw
// payloads (valid JSON, fit to copy as is) to ValidateAppend. A payload
// replaced since (another slice) is read again; one changed in place is not
// noticed, so payload bytes must not be written to. The zero value knows
// nothing.
type RawChecks struct{ rs rawScan }

// rawScan keeps which raw payloads are valid JSON and which of those Encode
// may copy as is (compact, nothing to escape), by column name and slice.
type rawScan struct {
	n     int
	names [8]string
	ptrs  [8]*byte
	lens  [8]int
	asIs  [8]bool
}

// valid reports whether r is valid JSON (validJSON), reading it unless it
// is known, and notes whether Encode may copy it as is.
func (rs *rawScan) valid(name string, r []byte) bool {
	if _, ok := rs.known(name, r); ok {
		return true // only valid payloads are noted
	}
	p := parser{b: r}
	p.ws()
	if p.skip(0) {
		p.ws()
		if p.i == len(r) {
			rs.note(name, r, !p.reformat)
			return true
		}
	}
	return json.Valid(r)
}

// note records that r, column name's valid payload, may be copied as is or
// not.
func (rs *rawScan) note(name string, r []byte, asIs bool) {
	i := 0
	for i < rs.n && rs.names[i] != name {
		i++
	}
	if i == len(rs.names) {
		return
	}
	if i == rs.n {
		rs.n++
	}
	rs.names[i], rs.ptrs[i], rs.lens[i], rs.asIs[i] = name, unsafe.SliceData(r), len(r), asIs
}

// known reports whether r is the payload noted for column name, and if so
// whether it may be copied as is.
func (rs *rawScan) known(name string, r []byte) (asIs, ok bool) {
	for i := 0; i < rs.n; i++ {
		if rs.names[i] == name {
			if rs.ptrs[i] == unsafe.SliceData(r) && rs.lens[i] == len(r) {
				return rs.asIs[i], true
			}
			return false, false
		}
	}
	return false, false
}

// copyAsIs reports whether r, column name's payload, is known fit to copy as
// is.
func (rs *rawScan) copyAsIs(name string, r []byte) bool {
	asIs, ok := rs.known(name, r)
	return ok && asIs
}

// validate is Validate; with rs it notes there what it learnt of the raw
// payloads for Encode.
func (e *Event) validate(l Limits, rs *rawScan) []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !matchName(e.ID, true) {
		add("id", "must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
	}
	if e.WorkspaceID == "" {
		add("workspace_id", "is required")
	}
	if e.CreatedAt <= 0 {
		add("created_at", "is required")
	}
	for _, c := range Columns {
		switch c.Kind {
		case KindString:
			s := *(c.Dest(e).(*string))
			if len(s) > l.MaxStringLen {
				add(c.Name, "is %d bytes; the limit is %d", len(s), l.MaxStringLen)
			} else if !utf8.ValidString(s) {
				add(c.Name, "is not valid UTF-8")
			}
		case KindRaw:
			r := *(c.Dest(e).(*RawJSON))
			if len(r) > l.MaxPayloadBytes {
				add(c.Name, "is %d bytes; the limit is %d", len(r), l.MaxPayloadBytes)
			} else if len(r) > 0 && rs == nil && !validJSON(r) {
				add(c.Name, "is not valid JSON")
			} else if len(r) > 0 && rs != nil && !rs.valid(c.Name, r) {
				add(c.Name, "is not valid JSON")
			}
			if len(r) > 0 && e.IsTracked == 0 {
				add(c.Name, "must be empty when is_tracked is 0 (DO NOT TRACK)")
			}
		case KindUInt8:
			if v := *(c.Dest(e).(*uint8)); v > 1 {
				add(c.Name, "must be 0 or 1, got %d", v)
			}
		}
	}
	enum := func(field, v string, allowed []string) {
		if !slices.Contains(allowed, v) {
			add(field, "must be one of %q, got %q", allowed, v)
		}
	}
	enum("cache_status", e.CacheStatus, CacheStatuses)
	enum("cache_type", e.CacheType, CacheTypes)
	enum("stream_mode", e.StreamMode, StreamModes)
	enum("mode", e.Mode, Modes)
	if math.IsNaN(e.Cost) || math.IsInf(e.Cost, 0) || e.Cost < 0 {
		add("cost", "must be a finite number ≥ 0")
	}
	if e.ResponseStatusCode < 100 || e.ResponseStatusCode > 599 {
		add("response_status_code", "must be an HTTP status 100-599, got %d", e.ResponseStatusCode)
	}
	if len(e.MetadataKey) != len(e.MetadataValue) {
		add("metadata.value", "has %d values for %d keys; the arrays are parallel", len(e.MetadataValue), len(e.MetadataKey))
	}
	if len(e.MetadataKey) > l.MaxMetadataKeys {
		add("metadata.key", "has %d keys; the limit is %d", len(e.MetadataKey), l.MaxMetadataKeys)
	}
	seen := make(map[string]bool, len(e.MetadataKey))
	for i, k := range e.MetadataKey {
		switch {
		case !matchName(k, false):
			add(fmt.Sprintf("metadata.key[%d]", i), "%q must match %s", k, MetadataKeyPattern)
		case seen[k]:
			add(fmt.Sprintf("metadata.key[%d]", i), "%q appears twice", k)
		}
		seen[k] = true
	}
	for i, v := range e.MetadataValue {
		if n := utf8.RuneCountInString(v); n > l.MaxMetadataValueLen {
			add(fmt.Sprintf("metadata.value[%d]", i), "is %d characters; the limit is %d", n, l.MaxMetadataValueLen)
		} else if !utf8.ValidString(v) {
			add(fmt.Sprintf("metadata.value[%d]", i), "is not valid UTF-8")
		}
	}
	return errs
}

// matchName is IDPattern.MatchString (colon true) or
// MetadataKeyPattern.MatchString (colon false) without the regexp engine,
// which was a visible share of ingest's CPU.
func matchName(s string, colon bool) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		case c == ':' && colon:
		default:
			return false
		}
	}
	return true
}
