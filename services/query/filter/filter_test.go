package filter

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"logpipe/lib/tenant"
)

func TestFromQueryErrorsNameTheParameter(t *testing.T) {
	for _, tc := range []struct{ query, param string }{
		{"foo=1", "foo"},
		{"cost_min=abc", "cost_min"},
		{"cost_min=-1", "cost_min"},
		{"total_units_max=1&total_units_max=2", "total_units_max"},
		{"status_code=200,abc", "status_code"},
		{"status_code=99", "status_code"},
		{"time_of_generation_min=yesterday", "time_of_generation_min"},
		{"time_of_generation_min=2026-01-01T00:00:00", "time_of_generation_min"},
		{"time_of_generation_min=2026-02-01T00:00:00Z&time_of_generation_max=2026-01-01T00:00:00Z", "time_of_generation_min"},
		{"metadata=notjson", "metadata"},
		{"metadata=" + url.QueryEscape(`{"bad key":"x"}`), "metadata"},
		{"metadata=" + url.QueryEscape(`{"k');DROP TABLE logs;--":"x"}`), "metadata"},
		{"metadata=" + url.QueryEscape(`{"k":{"nested":1}}`), "metadata"},
		{"ai_org_model=openai", "ai_org_model"},
		{"is_success=maybe", "is_success"},
		{"virtual_keys=,,", "virtual_keys"},
		{"weighted_feedback_min=x", "weighted_feedback_min"},
		// numbers ClickHouse cannot read as a literal, or that are not numbers
		{"cost_min=1e-308", "cost_min"},
		{"cost_max=5e-324", "cost_max"},
		{"total_units_min=2.2e-308", "total_units_min"},
		{"prompt_token_max=1e400", "prompt_token_max"},
		{"completion_token_min=inf", "completion_token_min"},
		{"response_time_max=-Infinity", "response_time_max"},
		{"reasoning_token_min=nan", "reasoning_token_min"},
		{"weighted_feedback_min=-1e-310", "weighted_feedback_min"},
		{"weighted_feedback_max=+Inf", "weighted_feedback_max"},
	} {
		q, _ := url.ParseQuery(tc.query)
		_, err := FromQuery(q)
		fe, ok := AsError(err)
		if !ok {
			t.Errorf("%s: got %v; want a filter error", tc.query, err)
			continue
		}
		if fe.Param != tc.param {
			t.Errorf("%s: param %q; want %q", tc.query, fe.Param, tc.param)
		}
	}
}

func TestExportPagingKeys(t *testing.T) {
	for _, ok := range []string{`{"page_size": 50000, "current_page": 0}`, `{"page_size": "10", "current_page": "3"}`, `{"page_size": 1}`} {
		if _, err := FromJSON(json.RawMessage(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for raw, param := range map[string]string{`{"page_size": 50001}`: "page_size", `{"page_size": 0}`: "page_size",
		`{"page_size": 1.5}`: "page_size", `{"current_page": -1}`: "current_page", `{"current_page": "x"}`: "current_page"} {
		if fe, ok := AsError(func() error { _, err := FromJSON(json.RawMessage(raw)); return err }()); !ok || fe.Param != param {
			t.Errorf("%s: want an error naming %s", raw, param)
		}
	}
	if _, err := FromQuery(url.Values{"page_size": {"5"}}); err == nil {
		t.Error("page_size accepted as a shared query filter")
	}
}

func TestRangeBoundsAtTheEdges(t *testing.T) {
	for _, v := range []string{"0", "-0", "2.2250738585072014e-308", "1e-300", "1.7976931348623157e308", "1e308"} {
		for _, p := range []string{"cost_min", "total_units_max", "weighted_feedback_min"} {
			if _, err := FromQuery(url.Values{p: {v}}); err != nil {
				t.Errorf("%s=%s: %v; want accepted", p, v, err)
			}
		}
	}
	if _, err := FromJSON(json.RawMessage(`{"cost_min": 1e-308}`)); err == nil {
		t.Error("JSON cost_min 1e-308 accepted; want an error naming it")
	} else if fe, ok := AsError(err); !ok || fe.Param != "cost_min" {
		t.Errorf("JSON cost_min 1e-308: %v; want an error naming cost_min", err)
	}
}

func TestValuesAreArgumentsNeverSQL(t *testing.T) {
	evil := `x' OR 1=1 --`
	q := url.Values{
		"virtual_keys": {evil + ",vk2"},
		"metadata":     {`{"env":"` + strings.ReplaceAll(evil, `"`, `\"`) + `","_user":"u1"}`},
		"ai_org_model": {"openai__gpt-4o,anthropic__claude"},
		"trace_id":     {evil},
		"status_code":  {"500,429"},
		"cost_min":     {"1.5"},
	}
	f, err := FromQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := tenant.ScopeOf("org", "ws")
	sql, args := f.Where(sc)
	if strings.Contains(sql, "OR 1=1") || strings.Contains(sql, "vk2") || strings.Contains(sql, "gpt-4o") {
		t.Fatalf("user input in SQL text: %s", sql)
	}
	if got, want := strings.Count(sql, "?"), len(args); got != want {
		t.Fatalf("%d placeholders, %d args: %s", got, want, sql)
	}
	found := 0
	for _, a := range args {
		if a == evil {
			found++
		}
	}
	if found != 3 { // virtual_keys, metadata value, trace_id
		t.Errorf("evil value bound %d times; want 3 (args %v)", found, args)
	}
}

func TestExtraParametersAndEmpty(t *testing.T) {
	q, _ := url.ParseQuery("page_size=10&cursor=abc")
	if _, err := FromQuery(q); err == nil {
		t.Error("page_size without extra: want an error")
	}
	f, err := FromQuery(q, "page_size", "cursor")
	if err != nil || !f.Empty() {
		t.Fatalf("got %v, empty %v; want no error and an empty filter", err, f.Empty())
	}
	sc, _ := tenant.ScopeOf("org", "ws")
	if sql, args := f.Where(sc); sql != "1" || len(args) != 0 {
		t.Errorf("empty filter: %q %v", sql, args)
	}
}

func TestFromJSONMatchesFromQuery(t *testing.T) {
	fromQ, err := FromQuery(url.Values{
		"status_code":            {"500,429"},
		"metadata":               {`{"env":"prod"}`},
		"cost_max":               {"2"},
		"time_of_generation_min": {"2026-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fromJ, err := FromJSON(json.RawMessage(`{"status_code":[500,429],"metadata":{"env":"prod"},"cost_max":2,"time_of_generation_min":"2026-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := tenant.ScopeOf("org", "ws")
	qs, qa := fromQ.Where(sc)
	js, ja := fromJ.Where(sc)
	if qs != js || len(qa) != len(ja) {
		t.Fatalf("query form %q %v; JSON form %q %v", qs, qa, js, ja)
	}
	if _, err := FromJSON(json.RawMessage(`{"nope":1}`)); err == nil {
		t.Error("unknown JSON filter: want an error")
	}
	if _, err := FromJSON(json.RawMessage(`[1]`)); err == nil {
		t.Error("non-object filters: want an error")
	}
}

func TestSearch(t *testing.T) {
	f, err := FromQuery(url.Values{"search": {"Héllo' OR 1=1"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := tenant.ScopeOf("org", "ws")
	sql, args := f.Where(sc)
	if strings.Contains(sql, "Héllo") || len(args) != 2 || !strings.Contains(sql, "is_tracked") {
		t.Errorf("search: %s %v", sql, args)
	}
	for _, bad := range []string{"", strings.Repeat("x", MaxSearchLen+1)} {
		if _, err := FromQuery(url.Values{"search": {bad}}); err == nil {
			t.Errorf("search %q: want an error", bad)
		}
	}
}
