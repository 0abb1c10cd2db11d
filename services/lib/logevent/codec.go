package logevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Encode returns the wire form of e on Kafka: its JSON object with the
// documented keys.
func Encode(e *Event) ([]byte, error) { return appendEncode(nil, e, nil) }

// appendEncode appends Encode's bytes to dst, told by rs (when not nil)
// which raw payloads validation found fit to copy as is. On an error it
// returns dst unchanged.
func appendEncode(dst []byte, e *Event, rs *rawScan) ([]byte, error) {
	// The fast path writes exactly what encoding/json writes (fastencode.go).
	n := len(dst)
	grown := slices.Grow(dst, sizeHint(e))
	if b, ok := appendEvent(grown, e, rs); ok {
		return b, nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return dst, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return append(grown[:n], b...), nil
}

// Decode parses one JSON event into a New event, so absent fields keep their
// defaults. Unknown keys are ignored (forward compatibility on the topic).
// It gives exactly what encoding/json gives, through a fast path for plain
// events (see fastjson.go); the result does not alias b.
func Decode(b []byte) (Event, error) {
	e := New()
	if decodeFast(b, &e) {
		return e, nil
	}
	e = New()
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// DecodeStrict is Decode but rejects unknown keys and trailing data, for input
// from callers.
func DecodeStrict(b []byte) (Event, error) {
	e := New()
	if decodeFast(b, &e) { // it accepts only known keys and no trailing data
		return e, nil
	}
	e = New()
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if d.More() {
		return Event{}, fmt.Errorf("decode event: trailing data after the object")
	}
	return e, nil
}

// DecodeStrictAliasing is DecodeStrict into *e (all of which it sets; the
// zero Event on an error) without copying b: the event's strings and
// payloads may point into b, so b must not change, nor be reused, while the
// event or any string taken from it is in use. It is for a caller that
// decodes from a reused buffer into a reused event and is done with the
// event (encoded it, copied what it keeps) before the buffer changes, as
// ingest is. When checks is not nil it is reset and told what the decoder
// learnt of the raw payloads, for ValidateAppend.
func DecodeStrictAliasing(b []byte, e *Event, checks *RawChecks) error {
	var rs *rawScan
	if checks != nil {
		*checks = RawChecks{}
		rs = &checks.rs
	}
	*e = New()
	if decodeFastIn(b, e, rs) {
		return nil
	}
	if checks != nil {
		*checks = RawChecks{}
	}
	var err error
	*e, err = DecodeStrict(b)
	return err
}

// Key is the Kafka message key of e: its id, so a log and its retries land on
// the same partition and partitions stay evenly loaded.
func (e *Event) Key() []byte { return []byte(e.ID) }

// NewID returns a new unique, time-ordered log id: UUIDv7 text, whose first
// 48 bits are the current Unix time in milliseconds.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// IDTime returns the time embedded in a UUIDv7 id, if id is one. Ingest uses it
// to keep created_at stable when a caller retries with the same id.
func IDTime(id string) (Millis, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return 0, false
	}
	sec, nsec := u.Time().UnixTime()
	return MillisOf(time.Unix(sec, nsec)), true
}
