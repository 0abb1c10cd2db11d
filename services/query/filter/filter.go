// Package filter parses the filters shared by log listing, analytics and
// exports — from URL query parameters or from a JSON object —
// into a parameterised SQL WHERE fragment over the logs table. User input
// never becomes SQL text: every value is a bound argument, list filters get
// one placeholder per value, and metadata keys must match
// logevent.MetadataKeyPattern. A bad value or an unknown parameter is an
// *Error naming the parameter, which handlers answer with 400.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Parameter names of the shared filters (query parameter = JSON key).
const (
	TimeMin = "time_of_generation_min"
	TimeMax = "time_of_generation_max"
)

// Search is the body search parameter: a case-insensitive substring of the
// request or response body. DO NOT TRACK logs never match (they keep no
// bodies). The scan reads the bodies of the logs in the time range that pass
// the other filters; ClickHouse's per-query bounds (the query service's
// LOGPIPE_QUERY_TIMEOUT and LOGPIPE_QUERY_MAX_MEMORY_BYTES) cap its cost.
const Search = "search"

// MaxSearchLen bounds the search text, in bytes.
const MaxSearchLen = 256

// MaxListValues bounds the values of one list filter (status_code, virtual_keys, ...).
const MaxListValues = 100

// MaxMetadataPairs bounds the metadata key=value pairs of one filter.
const MaxMetadataPairs = 20

// Error is a bad filter input; Param names the query parameter or JSON key.
type Error struct {
	Param   string
	Message string
}

func (e *Error) Error() string { return e.Param + ": " + e.Message }

func bad(param, format string, args ...any) *Error {
	return &Error{Param: param, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, if it is one.
func AsError(err error) (*Error, bool) {
	var fe *Error
	ok := errors.As(err, &fe)
	return fe, ok
}

// Filter is a parsed set of shared filters. The zero value matches every log.
type Filter struct {
	// Min and Max bound created_at (inclusive); zero means unbounded. They come
	// from time_of_generation_min / time_of_generation_max.
	Min, Max logevent.Millis
	conds    []cond
	fb       []fbCond
}

type cond struct {
	sql  string
	args []any
	// pair is the metadata key and value of a plain metadata condition.
	pair *[2]string
}

type fbCond struct {
	op  string // ">=" or "<="
	val float64
}

// Empty reports whether f has no condition at all (time bounds included).
func (f Filter) Empty() bool { return f.Min == 0 && f.Max == 0 && len(f.conds) == 0 && len(f.fb) == 0 }

// MetadataPair returns the metadata key and value f filters on when that
// pair is f's only condition besides its time bounds (a log matches when its
// metadata holds the pair).
func (f Filter) MetadataPair() (key, value string, ok bool) {
	if len(f.conds) != 1 || len(f.fb) != 0 || f.conds[0].pair == nil {
		return "", "", false
	}
	return f.conds[0].pair[0], f.conds[0].pair[1], true
}

// Where returns the filter as an SQL fragment over the logs table joined by
// AND (never empty: "1" when there is no condition) and its arguments.
// sc scopes the feedback subquery of the weighted_feedback filters to the
// tenant whose logs are read (store passes its scope's tenant).
func (f Filter) Where(sc tenant.Scope) (string, []any) {
	var parts []string
	var args []any
	col := func(name string) string { c, _ := logevent.Lookup(name); return c.Quoted() }
	if f.Min > 0 {
		parts = append(parts, col("created_at")+" >= ?")
		args = append(args, uint64(f.Min))
	}
	if f.Max > 0 {
		parts = append(parts, col("created_at")+" <= ?")
		args = append(args, uint64(f.Max))
	}
	for _, c := range f.conds {
		parts = append(parts, c.sql)
		args = append(args, c.args...)
	}
	if len(f.fb) > 0 {
		var having []string
		var hargs []any
		for _, c := range f.fb {
			having = append(having, "avg(v * w) "+c.op+" ?")
			hargs = append(hargs, c.val)
		}
		sub, sargs := LatestFeedbackSQL(sc)
		// GLOBAL: on a cluster both tables are Distributed, and ClickHouse
		// refuses an IN over a Distributed table inside a distributed query;
		// GLOBAL runs the subquery once and ships its result to the shards
		// (on one server it is a plain IN).
		parts = append(parts, col("trace_id")+" GLOBAL IN (SELECT t FROM ("+sub+") WHERE t != '' GROUP BY t HAVING "+strings.Join(having, " AND ")+")")
		args = append(args, sargs...)
		args = append(args, hargs...)
	}
	if len(parts) == 0 {
		return "1", nil
	}
	return strings.Join(parts, " AND "), args
}

// LatestFeedbackSQL is a SELECT of the latest version of every feedback of
// tenant sc, with columns fid (feedback id), t (trace id: the latest
// non-empty one, so an update without a trace id keeps the link), v (value),
// w (weight), c (created_at), u (updated_at). Every version of a feedback is
// kept by the table (its ordering key ends with updated_at), so merges never
// take the trace id away. An invalid scope matches nothing.
func LatestFeedbackSQL(sc tenant.Scope) (string, []any) {
	w, args := sc.Where()
	if !sc.Valid() {
		w = "0"
		args = nil
	}
	return "SELECT id AS fid, argMaxIf(trace_id, updated_at, trace_id != '') AS t, argMax(value, updated_at) AS v, " +
		"argMax(weight, updated_at) AS w, min(created_at) AS c, max(updated_at) AS u FROM " + feedback.Table +
		" WHERE " + w + " GROUP BY id", args
}

// Params are raw filter inputs: each parameter with its values (a list
// parameter may carry several values or one comma-separated value).
type Params map[string][]string

// numeric range filters: parameter prefix → column.
var ranges = map[string]string{
	"total_units":      "total_units",
	"cost":             "cost",
	"prompt_token":     "req_units",
	"completion_token": "res_units",
	"response_time":    "response_time",
	"reasoning_token":  "reasoning_units",
}

// list filters: parameter → column (values matched with IN).
var lists = map[string]string{
	"virtual_keys":   "virtual_key",
	"configs":        "config",
	"api_key_ids":    "api_key_id",
	"trace_id":       "trace_id",
	"span_id":        "span_id",
	"prompt_slug":    "prompt_slug",
	"ai_model":       "ai_model",
	"ai_org":         "ai_org",
	"provider":       "ai_org",
	"cache_status":   "cache_status",
	"user":           "user",
	"workspace_slug": "workspace_id",
}

// Names returns every shared filter parameter name, sorted.
func Names() []string {
	var out []string
	for p := range ranges {
		out = append(out, p+"_min", p+"_max")
	}
	for p := range lists {
		out = append(out, p)
	}
	out = append(out, TimeMin, TimeMax, "weighted_feedback_min", "weighted_feedback_max",
		"status_code", "metadata", "ai_org_model", "is_success", Search)
	sort.Strings(out)
	return out
}

func known(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}

// FromQuery parses the shared filters of q. Parameters named in extra are the
// endpoint's own (page_size, cursor, ...) and are skipped; any other unknown
// parameter is an *Error.
func FromQuery(q url.Values, extra ...string) (Filter, error) {
	p := Params{}
	for name, vs := range q {
		if contains(extra, name) {
			continue
		}
		if !known(name) {
			return Filter{}, bad(name, "unknown parameter; the filters are %s", strings.Join(Names(), ", "))
		}
		p[name] = vs
	}
	return Parse(p)
}

// FromJSON parses the shared filters of a JSON object (the "filters" of an
// export job): the same names as the query parameters; list filters take a
// JSON array or a comma-separated string, numbers a JSON number or string,
// metadata a JSON object or its JSON text. Unknown keys are an *Error.
func FromJSON(raw json.RawMessage) (Filter, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return Filter{}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Filter{}, bad("filters", "must be a JSON object")
	}
	p := Params{}
	for name, v := range obj {
		if name == "page_size" || name == "current_page" {
			if err := exportPaging(name, v); err != nil {
				return Filter{}, err
			}
			continue
		}
		if !known(name) {
			return Filter{}, bad(name, "unknown filter; the filters are %s", strings.Join(Names(), ", "))
		}
		var s string
		var n json.Number
		var arr []any
		switch {
		case name == "metadata" && len(v) > 0 && v[0] == '{':
			p[name] = []string{string(v)}
		case json.Unmarshal(v, &s) == nil:
			p[name] = []string{s}
		case json.Unmarshal(v, &n) == nil:
			p[name] = []string{n.String()}
		case json.Unmarshal(v, &arr) == nil:
			for _, a := range arr {
				switch x := a.(type) {
				case string:
					p[name] = append(p[name], x)
				case float64:
					p[name] = append(p[name], strconv.FormatFloat(x, 'f', -1, 64))
				default:
					return Filter{}, bad(name, "list items must be strings or numbers")
				}
			}
		default:
			return Filter{}, bad(name, "must be a string, number or array")
		}
	}
	return Parse(p)
}

// MaxExportPageSize bounds filters.page_size of an export.
const MaxExportPageSize = 50000

// exportPaging validates the paging keys an export's filters may carry
// (page_size 1..MaxExportPageSize, current_page ≥ 0, integers as JSON
// numbers or strings). They select nothing: an export writes every log
// matching its filters.
func exportPaging(name string, v json.RawMessage) error {
	s := strings.Trim(strings.TrimSpace(string(v)), `"`)
	n, err := strconv.ParseFloat(s, 64)
	max := float64(MaxExportPageSize)
	if name == "current_page" {
		max = 1e9
	}
	if err != nil || n != math.Trunc(n) || n < 0 || n > max || (name == "page_size" && n < 1) {
		if name == "page_size" {
			return bad(name, "must be an integer from 1 to %d, got %s", MaxExportPageSize, v)
		}
		return bad(name, "must be a non-negative integer, got %s", v)
	}
	return nil
}

// Parse validates p and builds the Filter.
func Parse(p Params) (Filter, error) {
	var f Filter
	col := func(name string) string { c, _ := logevent.Lookup(name); return c.Quoted() }
	// deterministic order of conditions (and so of SQL text) for stable plans and tests
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		vs := p[name]
		one := func() (string, error) {
			if len(vs) != 1 {
				return "", bad(name, "must be given once")
			}
			return strings.TrimSpace(vs[0]), nil
		}
		switch {
		case name == TimeMin || name == TimeMax:
			s, err := one()
			if err != nil {
				return Filter{}, err
			}
			m, err := logevent.ParseMillis(s)
			if err != nil {
				return Filter{}, bad(name, "%v", err)
			}
			if name == TimeMin {
				f.Min = m
			} else {
				f.Max = m
			}
		case name == "weighted_feedback_min" || name == "weighted_feedback_max":
			s, err := one()
			if err != nil {
				return Filter{}, err
			}
			v, err := number(name, s, false)
			if err != nil {
				return Filter{}, err
			}
			op := ">="
			if strings.HasSuffix(name, "_max") {
				op = "<="
			}
			f.fb = append(f.fb, fbCond{op: op, val: v})
		case strings.HasSuffix(name, "_min") || strings.HasSuffix(name, "_max"):
			column, ok := ranges[strings.TrimSuffix(strings.TrimSuffix(name, "_min"), "_max")]
			if !ok {
				return Filter{}, bad(name, "unknown parameter")
			}
			s, err := one()
			if err != nil {
				return Filter{}, err
			}
			v, err := number(name, s, true)
			if err != nil {
				return Filter{}, err
			}
			op := " >= ?"
			if strings.HasSuffix(name, "_max") {
				op = " <= ?"
			}
			f.conds = append(f.conds, cond{sql: col(column) + op, args: []any{v}})
		case name == Search:
			s, err := one()
			if err != nil {
				return Filter{}, err
			}
			if s == "" || len(s) > MaxSearchLen {
				return Filter{}, bad(name, "must be 1 to %d bytes of text", MaxSearchLen)
			}
			f.conds = append(f.conds, cond{sql: col("is_tracked") + " = 1 AND (positionCaseInsensitiveUTF8(" + col("request.body") +
				", ?) > 0 OR positionCaseInsensitiveUTF8(" + col("response.body") + ", ?) > 0)", args: []any{s, s}})
		case name == "status_code":
			vals, err := split(name, vs)
			if err != nil {
				return Filter{}, err
			}
			args := make([]any, len(vals))
			for i, s := range vals {
				n, err := strconv.ParseUint(s, 10, 16)
				if err != nil || n < 100 || n > 599 {
					return Filter{}, bad(name, "must be a comma-separated list of HTTP status codes, got %q", s)
				}
				args[i] = uint16(n)
			}
			f.conds = append(f.conds, cond{sql: col("response_status_code") + " IN (" + placeholders(len(args)) + ")", args: args})
		case name == "is_success":
			s, err := one()
			if err != nil {
				return Filter{}, err
			}
			var v uint8
			switch strings.ToLower(s) {
			case "1", "true":
				v = 1
			case "0", "false":
			default:
				return Filter{}, bad(name, "must be true, false, 1 or 0, got %q", s)
			}
			f.conds = append(f.conds, cond{sql: col("is_success") + " = ?", args: []any{v}})
		case name == "ai_org_model":
			vals, err := split(name, vs)
			if err != nil {
				return Filter{}, err
			}
			var ors []string
			var args []any
			for _, s := range vals {
				org, model, ok := strings.Cut(s, "__")
				if !ok || org == "" || model == "" {
					return Filter{}, bad(name, "must be a comma-separated list of provider__model, got %q", s)
				}
				ors = append(ors, "("+col("ai_org")+" = ? AND "+col("ai_model")+" = ?)")
				args = append(args, org, model)
			}
			f.conds = append(f.conds, cond{sql: "(" + strings.Join(ors, " OR ") + ")", args: args})
		case name == "metadata":
			c, err := metadata(vs)
			if err != nil {
				return Filter{}, err
			}
			f.conds = append(f.conds, c...)
		default:
			column, ok := lists[name]
			if !ok {
				return Filter{}, bad(name, "unknown parameter")
			}
			vals, err := split(name, vs)
			if err != nil {
				return Filter{}, err
			}
			args := make([]any, len(vals))
			for i, s := range vals {
				args[i] = s
			}
			f.conds = append(f.conds, cond{sql: col(column) + " IN (" + placeholders(len(args)) + ")", args: args})
		}
	}
	if f.Min > 0 && f.Max > 0 && f.Min > f.Max {
		return Filter{}, bad(TimeMin, "is after %s", TimeMax)
	}
	return f, nil
}

// SmallestNormal is the smallest positive normal float64. ClickHouse's
// parser refuses the literal of any smaller non-zero magnitude (a subnormal),
// so bounds between 0 and it are refused with 400 instead.
const SmallestNormal = 0x1p-1022

// number parses a range bound: a finite number (no inf or nan, at most
// ±1.7976931348623157e308) whose magnitude is 0 or at least SmallestNormal,
// and non-negative when nonNegative.
func number(name, s string, nonNegative bool) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		return 0, bad(name, "must be a finite number, got %q", s)
	case nonNegative && v < 0:
		return 0, bad(name, "must be a non-negative number, got %q", s)
	case v != 0 && math.Abs(v) < SmallestNormal:
		return 0, bad(name, "must be 0 or of magnitude at least %g, got %q", SmallestNormal, s)
	}
	return v, nil
}

// metadata parses one or more JSON objects of string values; each key=value
// pair must be present on the log (pairs are ANDed). The `_user` key also
// matches the user column.
func metadata(vs []string) ([]cond, error) {
	const name = "metadata"
	pairs := map[string]string{}
	for _, v := range vs {
		var obj map[string]any
		if err := json.Unmarshal([]byte(v), &obj); err != nil {
			return nil, bad(name, "must be a JSON object of string values, e.g. {\"env\":\"prod\"}")
		}
		for k, x := range obj {
			s, ok := x.(string)
			if !ok {
				if n, isNum := x.(float64); isNum {
					s = strconv.FormatFloat(n, 'f', -1, 64)
				} else {
					return nil, bad(name, "value of %q must be a string", k)
				}
			}
			if !logevent.MetadataKeyPattern.MatchString(k) {
				return nil, bad(name, "key %q must match %s", k, logevent.MetadataKeyPattern)
			}
			pairs[k] = s
		}
	}
	if len(pairs) > MaxMetadataPairs {
		return nil, bad(name, "at most %d pairs", MaxMetadataPairs)
	}
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mk, _ := logevent.Lookup("metadata.key")
	mv, _ := logevent.Lookup("metadata.value")
	user, _ := logevent.Lookup("user")
	var out []cond
	for _, k := range keys {
		has := "arrayExists((mk, mv) -> mk = ? AND mv = ?, " + mk.Quoted() + ", " + mv.Quoted() + ")"
		if k == "_user" {
			out = append(out, cond{sql: "(" + user.Quoted() + " = ? OR " + has + ")", args: []any{pairs[k], k, pairs[k]}})
			continue
		}
		out = append(out, cond{sql: has, args: []any{k, pairs[k]}, pair: &[2]string{k, pairs[k]}})
	}
	return out, nil
}

func split(name string, vs []string) ([]string, error) {
	var out []string
	for _, v := range vs {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return nil, bad(name, "must not be empty")
	}
	if len(out) > MaxListValues {
		return nil, bad(name, "at most %d values", MaxListValues)
	}
	return out, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
