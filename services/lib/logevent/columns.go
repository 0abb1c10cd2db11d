package logevent

import "strings"

// Kind is the value kind of a column, shared by the Go type, the JSON Schema
// and the ClickHouse type; the drift tests compare all three through it.
type Kind int

// Kinds of column values.
const (
	KindString  Kind = iota // Go string, JSON string, ClickHouse String
	KindRaw                 // Go RawJSON, any JSON value, ClickHouse String
	KindTime                // Go Millis, JSON ISO-8601 string, ClickHouse UInt64 (epoch ms)
	KindUInt8               // Go uint8, JSON integer, ClickHouse UInt8
	KindUInt16              // Go uint16, JSON integer, ClickHouse UInt16
	KindUInt32              // Go uint32, JSON integer, ClickHouse UInt32
	KindFloat64             // Go float64, JSON number, ClickHouse Float64
	KindStrings             // Go []string, JSON array of strings, ClickHouse Array(String)
)

// ClickHouseType is the ClickHouse column type of the kind.
func (k Kind) ClickHouseType() string {
	return [...]string{"String", "String", "UInt64", "UInt8", "UInt16", "UInt32", "Float64", "Array(String)"}[k]
}

// Column is one column of the log event: its documented name, which is at the
// same time the JSON key, the export key and the ClickHouse column name.
type Column struct {
	// Name is the documented column name ("created_at", "request.body", ...).
	Name string
	// Kind is the value kind.
	Kind Kind
	// Exported marks the documented export column set, in documented order.
	Exported bool
	// Bulky marks large payload columns that listings never read.
	Bulky bool
	// Value returns the column value of e for a ClickHouse insert.
	Value func(e *Event) any
	// Dest returns a pointer into e that a ClickHouse scan fills.
	Dest func(e *Event) any
}

// Quoted returns the name quoted for ClickHouse SQL (`request.body`).
func (c Column) Quoted() string { return "`" + c.Name + "`" }

func str(name string, f func(e *Event) *string) Column {
	return Column{Name: name, Kind: KindString, Value: func(e *Event) any { return *f(e) }, Dest: func(e *Event) any { return f(e) }}
}

func raw(name string, f func(e *Event) *RawJSON) Column {
	return Column{Name: name, Kind: KindRaw, Bulky: true, Value: func(e *Event) any { return string(*f(e)) }, Dest: func(e *Event) any { return f(e) }}
}

func u8(name string, f func(e *Event) *uint8) Column {
	return Column{Name: name, Kind: KindUInt8, Value: func(e *Event) any { return *f(e) }, Dest: func(e *Event) any { return f(e) }}
}

func u16(name string, f func(e *Event) *uint16) Column {
	return Column{Name: name, Kind: KindUInt16, Value: func(e *Event) any { return *f(e) }, Dest: func(e *Event) any { return f(e) }}
}

func u32(name string, f func(e *Event) *uint32) Column {
	return Column{Name: name, Kind: KindUInt32, Value: func(e *Event) any { return *f(e) }, Dest: func(e *Event) any { return f(e) }}
}

func strs(name string, f func(e *Event) *[]string) Column {
	return Column{Name: name, Kind: KindStrings, Value: func(e *Event) any {
		if v := *f(e); v != nil {
			return v
		}
		return []string{}
	}, Dest: func(e *Event) any { return f(e) }}
}

func exported(c Column) Column { c.Exported = true; return c }

// Columns is the one column table. The ClickHouse insert and select lists, the
// row values, the export keys and the JSON Schema are all checked against it.
// The documented export columns come first, in documented order.
var Columns = []Column{
	exported(Column{Name: "created_at", Kind: KindTime,
		Value: func(e *Event) any { return uint64(e.CreatedAt) }, Dest: func(e *Event) any { return &e.CreatedAt }}),
	exported(raw("request.body", func(e *Event) *RawJSON { return &e.RequestBody })),
	exported(raw("response.body", func(e *Event) *RawJSON { return &e.ResponseBody })),
	exported(u8("is_success", func(e *Event) *uint8 { return &e.IsSuccess })),
	exported(str("ai_org", func(e *Event) *string { return &e.AIOrg })),
	exported(str("ai_model", func(e *Event) *string { return &e.AIModel })),
	exported(u32("req_units", func(e *Event) *uint32 { return &e.ReqUnits })),
	exported(u32("res_units", func(e *Event) *uint32 { return &e.ResUnits })),
	exported(u32("total_units", func(e *Event) *uint32 { return &e.TotalUnits })),
	exported(Column{Name: "cost", Kind: KindFloat64,
		Value: func(e *Event) any { return e.Cost }, Dest: func(e *Event) any { return &e.Cost }}),
	exported(str("cost_currency", func(e *Event) *string { return &e.CostCurrency })),
	exported(str("request_url", func(e *Event) *string { return &e.RequestURL })),
	exported(str("request_method", func(e *Event) *string { return &e.RequestMethod })),
	exported(u16("response_status_code", func(e *Event) *uint16 { return &e.ResponseStatusCode })),
	exported(u32("response_time", func(e *Event) *uint32 { return &e.ResponseTime })),
	exported(str("cache_status", func(e *Event) *string { return &e.CacheStatus })),
	exported(str("cache_type", func(e *Event) *string { return &e.CacheType })),
	exported(str("stream_mode", func(e *Event) *string { return &e.StreamMode })),
	exported(u16("retry_success_count", func(e *Event) *uint16 { return &e.RetrySuccessCount })),
	exported(str("trace_id", func(e *Event) *string { return &e.TraceID })),
	exported(str("mode", func(e *Event) *string { return &e.Mode })),
	exported(str("virtual_key", func(e *Event) *string { return &e.VirtualKey })),
	exported(str("runtime", func(e *Event) *string { return &e.Runtime })),
	exported(str("runtime_version", func(e *Event) *string { return &e.RuntimeVersion })),
	exported(str("sdk_version", func(e *Event) *string { return &e.SDKVersion })),
	exported(str("config", func(e *Event) *string { return &e.Config })),
	exported(str("prompt_slug", func(e *Event) *string { return &e.PromptSlug })),
	exported(str("prompt_version_id", func(e *Event) *string { return &e.PromptVersionID })),
	exported(strs("metadata.key", func(e *Event) *[]string { return &e.MetadataKey })),
	exported(strs("metadata.value", func(e *Event) *[]string { return &e.MetadataValue })),

	str("id", func(e *Event) *string { return &e.ID }),
	str("organisation_id", func(e *Event) *string { return &e.OrganisationID }),
	str("workspace_id", func(e *Event) *string { return &e.WorkspaceID }),
	raw("request.headers", func(e *Event) *RawJSON { return &e.RequestHeaders }),
	raw("response.headers", func(e *Event) *RawJSON { return &e.ResponseHeaders }),
	u32("reasoning_units", func(e *Event) *uint32 { return &e.ReasoningUnits }),
	u16("retry_attempts", func(e *Event) *uint16 { return &e.RetryAttempts }),
	u8("retry_failed", func(e *Event) *uint8 { return &e.RetryFailed }),
	str("span_id", func(e *Event) *string { return &e.SpanID }),
	str("parent_span_id", func(e *Event) *string { return &e.ParentSpanID }),
	str("span_name", func(e *Event) *string { return &e.SpanName }),
	u16("fallback_option", func(e *Event) *uint16 { return &e.FallbackOption }),
	u8("loadbalance_active", func(e *Event) *uint8 { return &e.LoadbalanceActive }),
	str("api_key_id", func(e *Event) *string { return &e.APIKeyID }),
	u8("prompt_in_config", func(e *Event) *uint8 { return &e.PromptInConfig }),
	str("endpoint_type", func(e *Event) *string { return &e.EndpointType }),
	str("user", func(e *Event) *string { return &e.User }),
	u8("is_tracked", func(e *Event) *uint8 { return &e.IsTracked }),
	u16("retention_days", func(e *Event) *uint16 { return &e.RetentionDays }),
}

// LogsTable is the ClickHouse table of logs.
const LogsTable = "logs"

var byName = func() map[string]int {
	m := make(map[string]int, len(Columns))
	for i, c := range Columns {
		m[c.Name] = i
	}
	return m
}()

// Lookup returns the column called name.
func Lookup(name string) (Column, bool) {
	i, ok := byName[name]
	if !ok {
		return Column{}, false
	}
	return Columns[i], true
}

// ExportColumns returns the documented export column set, in documented order.
func ExportColumns() []Column { return filter(func(c Column) bool { return c.Exported }) }

// ListingColumns returns every column but the bulky payloads (bodies, headers).
func ListingColumns() []Column { return filter(func(c Column) bool { return !c.Bulky }) }

func filter(keep func(Column) bool) []Column {
	var out []Column
	for _, c := range Columns {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// SelectList returns the quoted, comma-separated names of cols for a SELECT.
func SelectList(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Quoted()
	}
	return strings.Join(names, ", ")
}

// InsertSQL is the batch INSERT statement naming every column of the table
// (ClickHouse 18.16 rejects a batch INSERT without a column list).
func InsertSQL(table string) string {
	return "INSERT INTO " + table + " (" + SelectList(Columns) + ")"
}

// Row returns e's values in Columns order, for batch.Append(e.Row()...).
func (e *Event) Row() []any {
	row := make([]any, len(Columns))
	for i, c := range Columns {
		row[i] = c.Value(e)
	}
	return row
}

// Dests returns pointers into e for scanning a row selected with SelectList(cols).
func (e *Event) Dests(cols []Column) []any {
	d := make([]any, len(cols))
	for i, c := range cols {
		d[i] = c.Dest(e)
	}
	return d
}
