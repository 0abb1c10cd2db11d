package api

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"logpipe/lib/logevent"
)

// groupExpect computes every column of the generic grouping in Go over evs.
func groupExpect(evs []logevent.Event, wf map[string]float64) (vals, logevent.Millis, logevent.Millis) {
	var n, cost, units, in, out, rt, ok, fail, hits, fbN, fbSum float64
	var lat []float64
	var first, last logevent.Millis
	for i := range evs {
		e := &evs[i]
		n++
		cost += e.Cost
		units += float64(e.TotalUnits)
		in += float64(e.ReqUnits)
		out += float64(e.ResUnits)
		rt += float64(e.ResponseTime)
		lat = append(lat, float64(e.ResponseTime))
		if e.IsSuccess == 1 {
			ok++
		} else {
			fail++
		}
		if isHit(e) {
			hits++
		}
		if v, has := wf[e.TraceID]; has {
			fbN++
			fbSum += v
		}
		if first == 0 || e.CreatedAt < first {
			first = e.CreatedAt
		}
		if e.CreatedAt > last {
			last = e.CreatedAt
		}
	}
	return vals{"requests": n, "cost": cost, "total_tokens": units, "avg_tokens": ratio(units, n),
		"avg_input_tokens": ratio(in, n), "avg_output_tokens": ratio(out, n), "avg_latency": ratio(rt, n),
		"p95_latency": quantileExact(lat, 0.95), "p99_latency": quantileExact(lat, 0.99),
		"success_rate": ratio(ok*100, n), "error_count": fail, "cache_hit_rate": ratio(hits*100, n),
		"avg_weighted_feedback": ratio(fbSum, fbN), "requests_with_feedback": fbN}, first, last
}

// Every dimension of the generic grouping (the SDK's group_by values and the
// product's own groups) answers every column, computed independently in Go,
// with the total row of include_total.
func TestGenericGroupingEveryDimensionAndColumn(t *testing.T) {
	w := newWorld(t)
	min, max := w.now.Add(-72*time.Hour), w.now
	rng := "time_of_generation_min=" + url.QueryEscape(min.Format(time.RFC3339)) + "&time_of_generation_max=" + url.QueryEscape(max.Format(time.RFC3339))
	wf := w.weighted()
	keys := map[string]func(*logevent.Event) (string, bool){
		"ai_service":  func(e *logevent.Event) (string, bool) { return e.AIOrg, e.AIOrg != "" },
		"model":       func(e *logevent.Event) (string, bool) { return e.AIModel, e.AIModel != "" },
		"status_code": func(e *logevent.Event) (string, bool) { return strconv.Itoa(int(e.ResponseStatusCode)), true },
		"api_key":     func(e *logevent.Event) (string, bool) { return e.APIKeyID, e.APIKeyID != "" },
		"config":      func(e *logevent.Event) (string, bool) { return e.Config, e.Config != "" },
		"workspace":   func(e *logevent.Event) (string, bool) { return e.WorkspaceID, true },
		"provider":    func(e *logevent.Event) (string, bool) { return e.VirtualKey, e.VirtualKey != "" },
		"prompt":      func(e *logevent.Event) (string, bool) { return e.PromptSlug, e.PromptSlug != "" },
		"users":       func(e *logevent.Event) (string, bool) { return e.User, e.User != "" },
	}
	field := map[string]string{"users": "user"}
	columns := strings.Join(groupColumnNames(), ",")
	for dim, key := range keys {
		byKey := map[string][]logevent.Event{}
		var all []logevent.Event
		for _, e := range w.logs {
			if k, ok := key(&e); ok {
				byKey[k] = append(byKey[k], e)
				all = append(all, e)
			}
		}
		if len(byKey) == 0 {
			t.Fatalf("%s: the seed has %d groups; it proves little", dim, len(byKey))
		}
		var ans struct {
			Object  string           `json:"object"`
			Total   float64          `json:"total"`
			Data    []map[string]any `json:"data"`
			Summary map[string]any   `json:"summary"`
		}
		path := fmt.Sprintf("/v1/analytics/groups/%s?%s&columns=%s&include_total=True&page_size=1000&order_by=cost&order_by_type=asc", dim, rng, columns)
		if code := w.get("a", path, &ans); code != 200 {
			t.Fatalf("%s: status %d", dim, code)
		}
		if ans.Object != "list" || ans.Total != float64(len(byKey)) || len(ans.Data) != len(byKey) {
			t.Fatalf("%s: object %q total %v, %d items; want list, %d", dim, ans.Object, ans.Total, len(ans.Data), len(byKey))
		}
		f := dim
		if field[dim] != "" {
			f = field[dim]
		}
		prevCost := -1.0
		for _, g := range ans.Data {
			k := fmt.Sprint(g[f])
			if dim == "status_code" {
				k = strconv.Itoa(int(g[f].(float64)))
			}
			want, first, last := groupExpect(byKey[k], wf)
			checkFields(t, dim+" "+k, g, want, nil, "")
			if g["first_seen"] != first.String() || g["last_seen"] != last.String() || g["object"] != "analytics-group" {
				t.Errorf("%s %s: first_seen %v last_seen %v object %v; want %s, %s, analytics-group", dim, k, g["first_seen"], g["last_seen"], g["object"], first, last)
			}
			if c := g["cost"].(float64); c < prevCost {
				t.Errorf("%s: not ordered by cost ascending (%v after %v)", dim, c, prevCost)
			} else {
				prevCost = c
			}
		}
		want, first, last := groupExpect(all, wf)
		checkFields(t, dim+" summary", ans.Summary, want, nil, "")
		if ans.Summary["first_seen"] != first.String() || ans.Summary["last_seen"] != last.String() {
			t.Errorf("%s summary: first_seen %v last_seen %v; want %s, %s", dim, ans.Summary["first_seen"], ans.Summary["last_seen"], first, last)
		}
	}

	// Without columns: the defaults; with some: those and requests only.
	var ans struct {
		Data    []map[string]any `json:"data"`
		Summary map[string]any   `json:"summary"`
	}
	if code := w.get("a", "/v1/analytics/groups/model?"+rng+"&columns=p99_latency", &ans); code != 200 || len(ans.Data) == 0 {
		t.Fatalf("columns=p99_latency: status %d, %d items", code, len(ans.Data))
	}
	var names []string
	for k := range ans.Data[0] {
		names = append(names, k)
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "model,object,p99_latency,requests" || ans.Summary != nil {
		t.Errorf("columns=p99_latency: item fields %s, summary %v; want model,object,p99_latency,requests and no summary", got, ans.Summary)
	}
	// A page of 0 answers the number of groups only; pages reach 50000.
	var count struct {
		Total float64          `json:"total"`
		Data  []map[string]any `json:"data"`
	}
	if code := w.get("a", "/v1/analytics/groups/model?"+rng+"&page_size=0", &count); code != 200 || count.Total == 0 || len(count.Data) != 0 {
		t.Errorf("page_size=0: status %d, total %v, %d items; want 200, the total, no items", code, count.Total, len(count.Data))
	}
	if code := w.get("a", "/v1/analytics/groups/model?"+rng+"&page_size=50000", nil); code != 200 {
		t.Errorf("page_size=50000: status %d", code)
	}
	for path, param := range map[string]string{
		"model?" + rng + "&columns=requests,bogus":            "columns",
		"model?" + rng + "&include_total=maybe":               "include_total",
		"model?" + rng + "&page_size=50001":                   "page_size",
		"model?" + rng + "&columns=cost&order_by=p95_latency": "order_by",
	} {
		var e struct {
			Error struct{ Param string } `json:"error"`
		}
		if code := w.get("a", "/v1/analytics/groups/"+path, &e); code != 400 || e.Error.Param != param {
			t.Errorf("%s: status %d param %q; want 400 naming %s", path, code, e.Error.Param, param)
		}
	}
	if code := w.get("a", "/v1/analytics/groups/colour?"+rng, nil); code != 404 {
		t.Errorf("unknown dimension: status %d; want 404", code)
	}
}
