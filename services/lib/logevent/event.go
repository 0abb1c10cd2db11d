// Package logevent is the one contract every service agrees on: the log event
// (Event), its column table (Columns) from which ClickHouse insert and select
// lists, row values and export keys are derived, its validation, its wire codec
// on Kafka, and the four status strings the product shows for every log.
package logevent

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Event is one gateway request as the pipeline carries it: the documented export
// columns under their documented names ("request.body", "metadata.key", ...) plus
// the tenant, ids and gateway details the product needs beyond the export set.
// Its JSON form is the "full gateway event" ingest accepts and the line an export
// writes, so an exported line can be posted back unchanged.
type Event struct {
	// ID is the unique, time-ordered log id (UUIDv7 text when ingest assigns it).
	ID string `json:"id"`
	// OrganisationID and WorkspaceID are the tenant; ingest sets them from the API key.
	OrganisationID string `json:"organisation_id"`
	WorkspaceID    string `json:"workspace_id"`
	// CreatedAt is the request time, millisecond precision, UTC.
	CreatedAt Millis `json:"created_at"`

	RequestBody     RawJSON `json:"request.body"`
	ResponseBody    RawJSON `json:"response.body"`
	RequestHeaders  RawJSON `json:"request.headers"`
	ResponseHeaders RawJSON `json:"response.headers"`

	// IsSuccess is 1 for success, 0 for failure.
	IsSuccess uint8 `json:"is_success"`
	// AIOrg is the provider name, AIModel the model name.
	AIOrg   string `json:"ai_org"`
	AIModel string `json:"ai_model"`
	// ReqUnits, ResUnits, TotalUnits are prompt, completion and total tokens;
	// ReasoningUnits are the reasoning ("thinking") tokens.
	ReqUnits       uint32 `json:"req_units"`
	ResUnits       uint32 `json:"res_units"`
	TotalUnits     uint32 `json:"total_units"`
	ReasoningUnits uint32 `json:"reasoning_units"`
	// Cost is in cents of CostCurrency (default USD).
	Cost         float64 `json:"cost"`
	CostCurrency string  `json:"cost_currency"`

	RequestURL         string `json:"request_url"`
	RequestMethod      string `json:"request_method"`
	ResponseStatusCode uint16 `json:"response_status_code"`
	// ResponseTime is the latency in milliseconds.
	ResponseTime uint32 `json:"response_time"`

	// CacheStatus is one of CacheStatuses; CacheType SIMPLE or SEMANTIC (or empty).
	CacheStatus string `json:"cache_status"`
	CacheType   string `json:"cache_type"`
	// StreamMode is "TRUE" or "FALSE".
	StreamMode string `json:"stream_mode"`

	// RetrySuccessCount is the number of retries after which the request succeeded;
	// RetryAttempts the retries made; RetryFailed 1 when every retry failed.
	RetrySuccessCount uint16 `json:"retry_success_count"`
	RetryAttempts     uint16 `json:"retry_attempts"`
	RetryFailed       uint8  `json:"retry_failed"`

	TraceID      string `json:"trace_id"`
	SpanID       string `json:"span_id"`
	ParentSpanID string `json:"parent_span_id"`
	SpanName     string `json:"span_name"`

	// Mode is the config's top-level strategy: SINGLE, FALLBACK or LOADBALANCE.
	Mode string `json:"mode"`
	// FallbackOption is the 1-based index of the target that answered (0: none).
	FallbackOption uint16 `json:"fallback_option"`
	// LoadbalanceActive is 1 when load balancing chose the target.
	LoadbalanceActive uint8 `json:"loadbalance_active"`

	VirtualKey string `json:"virtual_key"`
	// APIKeyID identifies the gateway API key that made the request.
	APIKeyID string `json:"api_key_id"`

	Runtime        string `json:"runtime"`
	RuntimeVersion string `json:"runtime_version"`
	SDKVersion     string `json:"sdk_version"`

	// Config is the config id; PromptSlug the prompt id; PromptVersionID its version.
	Config          string `json:"config"`
	PromptSlug      string `json:"prompt_slug"`
	PromptVersionID string `json:"prompt_version_id"`
	// PromptInConfig is 1 when a prompt template was called inside a config target.
	PromptInConfig uint8 `json:"prompt_in_config"`
	// EndpointType is the gateway endpoint: chat/completions, completions, embeddings, ...
	EndpointType string `json:"endpoint_type"`
	// User is the `_user` metadata value.
	User string `json:"user"`
	// IsTracked is 0 for DO NOT TRACK events, whose bodies and headers are empty.
	IsTracked uint8 `json:"is_tracked"`
	// RetentionDays is the organisation's retention tier, set by ingest from its plan.
	RetentionDays uint16 `json:"retention_days"`

	// MetadataKey and MetadataValue are parallel arrays of custom metadata.
	MetadataKey   []string `json:"metadata.key"`
	MetadataValue []string `json:"metadata.value"`
}

// New returns an Event carrying the documented defaults: tracked, USD, POST,
// status 200, success, not streamed, SINGLE mode, cache DISABLED.
// Decode into a New event so that absent fields keep these defaults.
func New() Event {
	return Event{
		IsTracked:          1,
		IsSuccess:          1,
		CostCurrency:       "USD",
		RequestMethod:      "POST",
		ResponseStatusCode: 200,
		StreamMode:         StreamFalse,
		Mode:               ModeSingle,
		CacheStatus:        CacheDisabled,
	}
}

// Metadata returns the value of metadata key k and whether it is present.
func (e *Event) Metadata(k string) (string, bool) {
	for i, key := range e.MetadataKey {
		if key == k && i < len(e.MetadataValue) {
			return e.MetadataValue[i], true
		}
	}
	return "", false
}

// DropBodies enforces DO NOT TRACK: bodies and headers are removed and the
// event is marked not tracked. Scalar statistics are kept.
func (e *Event) DropBodies() {
	e.RequestBody, e.ResponseBody = nil, nil
	e.RequestHeaders, e.ResponseHeaders = nil, nil
	e.IsTracked = 0
}

// Millis is a UTC instant with millisecond precision, stored in ClickHouse as
// UInt64 milliseconds since the Unix epoch and written in JSON as ISO-8601 with
// milliseconds ("2026-11-22T10:04:05.123Z"). JSON input also accepts RFC 3339
// with any offset or fraction (truncated to milliseconds) and epoch milliseconds.
type Millis int64

// MillisOf converts t, truncating to the millisecond.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// Time returns m as a UTC time.Time.
func (m Millis) Time() time.Time { return time.UnixMilli(int64(m)).UTC() }

// TimeLayout is the ISO-8601 form of Millis in JSON.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// String formats m as ISO-8601 UTC with milliseconds.
func (m Millis) String() string { return m.Time().Format(TimeLayout) }

// AppendJSON appends m as a quoted ISO-8601 string.
func (m Millis) AppendJSON(b []byte) []byte {
	t := m.Time()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, TimeLayout)
		return append(b, '"')
	}
	// TimeLayout by hand: time.AppendFormat was a visible share of ingest's
	// encoding.
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(b, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// MarshalJSON implements json.Marshaler.
func (m Millis) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (m *Millis) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseMillis(s)
		if err != nil {
			return err
		}
		*m = v
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want an ISO-8601 time or epoch milliseconds, got %s", b)
	}
	*m = Millis(n)
	return nil
}

// ParseMillis parses an RFC 3339 / ISO-8601 time with an offset.
func ParseMillis(s string) (Millis, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse time %q: want ISO-8601 with offset, e.g. 2026-11-22T10:04:05.123Z", s)
	}
	if t.Year() < 1970 {
		return 0, fmt.Errorf("time %q is before 1970", s)
	}
	return MillisOf(t), nil
}

// Value implements driver.Valuer (ClickHouse UInt64).
func (m Millis) Value() (driver.Value, error) { return uint64(m), nil }

// Scan implements sql.Scanner (ClickHouse UInt64).
func (m *Millis) Scan(src any) error {
	switch v := src.(type) {
	case uint64:
		*m = Millis(v)
	case int64:
		*m = Millis(v)
	default:
		return fmt.Errorf("scan %T into Millis", src)
	}
	return nil
}

// RawJSON is a raw JSON payload (a request or response body, a headers object)
// kept byte for byte as it was ingested. Empty means absent: it is written as
// JSON null and stored in ClickHouse as an empty string.
type RawJSON []byte

// MarshalJSON implements json.Marshaler.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON implements json.Unmarshaler; null becomes empty.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*r = nil
		return nil
	}
	*r = append((*r)[:0], b...)
	return nil
}

// Value implements driver.Valuer (ClickHouse String).
func (r RawJSON) Value() (driver.Value, error) { return string(r), nil }

// Scan implements sql.Scanner (ClickHouse String).
func (r *RawJSON) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*r = RawJSON(v)
	case []byte:
		*r = append((*r)[:0], v...)
	default:
		return fmt.Errorf("scan %T into RawJSON", src)
	}
	return nil
}

// Redacted replaces the value of a credential (a header such as
// authorization, a key in a URL's query string) that ingest removed before
// the event left it.
const Redacted = "[REDACTED]"

// LogIDsTable records, per tenant, the first created_at and retention tier
// written for each log id that carries no time of its own, so copies of such
// a log share one ordering key (see the consumer's sink).
const LogIDsTable = "log_ids"
