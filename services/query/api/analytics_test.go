package api

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/query/store"
)

// The expected answers below are computed in Go from the seeded events, not
// with the service's SQL.

type vals = map[string]float64

func avgOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// quantileExact is the exact quantile the API answers: the nearest rank, the
// element at ceil(level·n)-1 of the sorted values (ClickHouse's
// quantileExactWeighted with weights 1).
func quantileExact(xs []float64, level float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := max(int(math.Ceil(level*float64(len(s))))-1, 0)
	return s[min(i, len(s)-1)]
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func isHit(e *logevent.Event) bool {
	return e.CacheStatus == logevent.CacheHit || e.CacheStatus == logevent.CacheSemanticHit
}

// logMetrics computes a logs graph's fields over evs, with its breakdown.
func logMetrics(name string, evs []logevent.Event) (vals, map[string]float64) {
	var n, ok, fail, cost, tot, prompt, compl, reason, withUser, rescued, retry, fallback, hits, simple, semantic float64
	var rts, costs, units, hitRT, missRT []float64
	usersSet, codesSet, retries := map[string]bool{}, map[string]float64{}, map[string]float64{}
	var simpleCost, semanticCost float64
	for i := range evs {
		e := &evs[i]
		n++
		cost += e.Cost
		costs = append(costs, e.Cost)
		tot += float64(e.TotalUnits)
		units = append(units, float64(e.TotalUnits))
		prompt += float64(e.ReqUnits)
		compl += float64(e.ResUnits)
		reason += float64(e.ReasoningUnits)
		rts = append(rts, float64(e.ResponseTime))
		if e.IsSuccess == 1 {
			ok++
			if e.RetrySuccessCount > 0 {
				retry++
				retries[strconv.Itoa(int(e.RetrySuccessCount))]++
			}
			if e.FallbackOption >= 2 {
				fallback++
			}
			if e.RetrySuccessCount > 0 || e.FallbackOption >= 2 {
				rescued++
			}
		} else {
			fail++
			codesSet[strconv.Itoa(int(e.ResponseStatusCode))]++
		}
		if e.User != "" {
			withUser++
			usersSet[e.User] = true
		}
		if isHit(e) {
			hits++
			hitRT = append(hitRT, float64(e.ResponseTime))
		}
		if e.CacheStatus == logevent.CacheHit {
			simple++
			simpleCost += e.Cost
		}
		if e.CacheStatus == logevent.CacheSemanticHit {
			semantic++
			semanticCost += e.Cost
		}
		if e.CacheStatus == logevent.CacheMiss {
			missRT = append(missRT, float64(e.ResponseTime))
		}
	}
	users := float64(len(usersSet))
	switch name {
	case "requests":
		return vals{"total": n, "success": ok, "failed": fail}, nil
	case "cost":
		return vals{"total": cost, "avg": avgOf(costs)}, nil
	case "latency":
		return vals{"avg": avgOf(rts), "p50": quantileExact(rts, 0.5), "p90": quantileExact(rts, 0.9), "p99": quantileExact(rts, 0.99)}, nil
	case "tokens":
		return vals{"total": tot, "avg": avgOf(units), "prompt": prompt, "completion": compl, "reasoning": reason}, nil
	case "users":
		return vals{"total": users}, nil
	case "users-requests":
		return vals{"total": withUser, "users": users, "avg": ratio(withUser, users)}, nil
	case "errors":
		return vals{"total": fail}, nil
	case "errors-rate":
		return vals{"rate": ratio(fail*100, n), "failed": fail, "total": n}, nil
	case "errors-stack":
		return vals{"total": fail}, codesSet
	case "errors-status-code":
		return vals{"total": float64(len(codesSet)), "total_errors": fail, "unique_error_codes": float64(len(codesSet))}, codesSet
	case "requests-rescued":
		return vals{"total": rescued, "retry": retry, "fallback": fallback}, retries
	case "cache-hit-rate":
		return vals{"rate": ratio(hits*100, n), "hits": hits, "simple_hits": simple, "semantic_hits": semantic,
			"simple_rate": ratio(simple*100, n), "semantic_rate": ratio(semantic*100, n), "total": hits, "requests": n,
			"simple_cache_savings": simpleCost, "semantic_cache_savings": semanticCost}, nil
	case "cache-latency":
		return vals{"avg": avgOf(hitRT), "avg_miss": avgOf(missRT), "hits": hits}, nil
	}
	panic("no expectation for graph " + name)
}

type fbRow struct {
	f     feedback.Feedback
	model string
}

func fbMetrics(name string, rows []fbRow) (vals, map[string]float64) {
	var vs, ws []float64
	split := map[string]float64{}
	for _, r := range rows {
		vs = append(vs, float64(r.f.Value))
		ws = append(ws, float64(r.f.Value)*r.f.Weight)
		if name == "feedbacks/score" {
			split[strconv.Itoa(int(r.f.Value))]++
		}
		if name == "feedbacks/ai-models" {
			split[r.model]++
		}
	}
	n := float64(len(rows))
	switch name {
	case "feedbacks":
		return vals{"total": n, "avg": avgOf(vs), "avg_weighted": avgOf(ws)}, nil
	case "feedbacks/score":
		return vals{"total": n, "avg": avgOf(vs)}, split
	case "feedbacks/weighted":
		sum := 0.0
		for _, x := range ws {
			sum += x
		}
		return vals{"total": n, "avg": avgOf(ws), "sum": sum}, nil
	case "feedbacks/ai-models":
		return vals{"total": n, "avg_weighted": avgOf(ws)}, split
	}
	panic("no expectation for graph " + name)
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

type graphAnswer struct {
	Timeline   []map[string]any `json:"timeline"`
	Object     string           `json:"object"`
	Summary    map[string]any   `json:"summary"`
	DataPoints []map[string]any `json:"data_points"`
}

func checkFields(t *testing.T, what string, got map[string]any, want vals, split map[string]float64, field string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k].(float64)
		if !ok || !near(g, v) {
			t.Errorf("%s: %s = %v; want %v", what, k, got[k], v)
		}
	}
	if field == "" {
		return
	}
	gs, _ := got[field].(map[string]any)
	if len(gs) != len(split) {
		t.Errorf("%s: %s = %v; want %v", what, field, gs, split)
		return
	}
	for k, v := range split {
		if g, _ := gs[k].(float64); !near(g, v) {
			t.Errorf("%s: %s[%s] = %v; want %v", what, field, k, gs[k], v)
		}
	}
}

// checkList checks a documented [{key: n, count: c}] array against split.
func checkList(t *testing.T, what string, got any, key string, split map[string]float64) {
	t.Helper()
	items, _ := got.([]any)
	if len(items) != len(split) {
		t.Errorf("%s: list %v; want %v", what, got, split)
		return
	}
	prev := math.Inf(-1)
	for _, it := range items {
		m := it.(map[string]any)
		k, _ := m[key].(float64)
		if k <= prev {
			t.Errorf("%s: list %v not ordered by %s", what, got, key)
		}
		prev = k
		if c, _ := m["count"].(float64); !near(c, split[strconv.Itoa(int(k))]) {
			t.Errorf("%s: %s %v count %v; want %v", what, key, k, m["count"], split[strconv.Itoa(int(k))])
		}
	}
}

// checkKeyed checks the per-key data points of a keyed graph against the
// expectation computed over the rows of each key.
func checkKeyed[B any](t *testing.T, path string, k *keyed, points []map[string]any, all B, metrics func(B) (vals, map[string]float64)) {
	t.Helper()
	_, split := metrics(all)
	if len(points) != len(split) || len(split) < 2 {
		t.Errorf("%s: %d points; want one per key of %v", path, len(points), split)
		return
	}
	for _, p := range points {
		key := fmt.Sprint(p[k.field])
		if k.numeric {
			key = strconv.Itoa(int(p[k.field].(float64)))
		}
		n := split[key]
		count := p["count"]
		if count == nil {
			count = p["total"]
		}
		if c, _ := count.(float64); !near(c, n) || n == 0 {
			t.Errorf("%s: point %s counts %v; want %v", path, key, count, n)
		}
	}
}

func TestEveryGraphMatchesIndependentComputation(t *testing.T) {
	w := newWorld(t)
	min := w.now.Add(-72 * time.Hour).Truncate(time.Millisecond)
	max := w.now.Truncate(time.Millisecond)
	rng := "time_of_generation_min=" + url.QueryEscape(min.Format(time.RFC3339Nano)) + "&time_of_generation_max=" + url.QueryEscape(max.Format(time.RFC3339Nano))
	unit := store.Hour
	inRange := func(m logevent.Millis) bool { return m >= logevent.MillisOf(min) && m <= logevent.MillisOf(max) }

	modelOf := map[string]string{}
	for _, e := range w.logs {
		modelOf[e.TraceID] = e.AIModel
	}
	breakdownField := map[string]string{"errors-stack": "status_codes", "errors-status-code": "status_codes",
		"feedbacks/score": "scores", "feedbacks/ai-models": "ai_models", "requests-rescued": "retry_success_counts"}
	// documented arrays beside a breakdown: field → its key
	lists := map[string][2]string{"errors-stack": {"stats", "response_status_code"}, "requests-rescued": {"retry", "retry_success_count"}}

	check := func(path, name, extra string, keep func(*logevent.Event) bool) {
		var ans graphAnswer
		if code := w.get("a", "/v1/analytics/graphs/"+path+"?"+rng+extra, &ans); code != 200 {
			t.Fatalf("%s: status %d", path, code)
		}
		if ans.Object != "analytics-graph" {
			t.Errorf("%s: object %q", path, ans.Object)
		}
		// expected per bucket
		type bucket struct {
			logs []logevent.Event
			fb   []fbRow
		}
		buckets := map[string]*bucket{}
		all := &bucket{}
		var starts []string
		for b := unit.Start(min); !b.After(max); b = unit.Next(b) {
			starts = append(starts, b.Format(time.RFC3339))
			buckets[b.Format(time.RFC3339)] = &bucket{}
		}
		isFb := graphs[name].src == store.SrcFeedback || graphs[name].src == store.SrcFeedbackModels
		if isFb {
			matching := map[string]bool{}
			for i := range w.logs {
				if keep(&w.logs[i]) {
					matching[w.logs[i].TraceID] = true
				}
			}
			for _, f := range w.fb {
				if !inRange(f.CreatedAt) || (extra != "" && !matching[f.TraceID]) {
					continue
				}
				model, has := modelOf[f.TraceID]
				if name == "feedbacks/ai-models" && !has {
					continue
				}
				r := fbRow{f, model}
				k := unit.Start(f.CreatedAt.Time()).Format(time.RFC3339)
				buckets[k].fb = append(buckets[k].fb, r)
				all.fb = append(all.fb, r)
			}
		} else {
			for _, e := range w.logs {
				if !inRange(e.CreatedAt) || !keep(&e) {
					continue
				}
				k := unit.Start(e.CreatedAt.Time()).Format(time.RFC3339)
				buckets[k].logs = append(buckets[k].logs, e)
				all.logs = append(all.logs, e)
			}
		}
		metrics := func(b *bucket) (vals, map[string]float64) {
			if isFb {
				return fbMetrics(name, b.fb)
			}
			return logMetrics(name, b.logs)
		}
		series := ans.DataPoints
		if graphs[name].keyed != nil { // the documented points are per key; the buckets are the timeline
			series = ans.Timeline
			checkKeyed(t, path, graphs[name].keyed, ans.DataPoints, all, metrics)
		}
		if len(series) != len(starts) {
			t.Fatalf("%s: %d data points; want %d zero-filled hourly buckets", path, len(series), len(starts))
		}
		nonEmpty := 0
		cumulative := map[string]float64{}
		for i, dp := range series {
			if dp["timestamp"] != starts[i] {
				t.Fatalf("%s: point %d at %v; want %s", path, i, dp["timestamp"], starts[i])
			}
			want, split := metrics(buckets[starts[i]])
			if len(buckets[starts[i]].logs)+len(buckets[starts[i]].fb) > 0 {
				nonEmpty++
			}
			what := fmt.Sprintf("%s %s", path, starts[i])
			for _, cm := range graphs[name].cumulative {
				cumulative[cm[0]] += want[cm[1]]
				checkFields(t, what, dp, vals{cm[0]: cumulative[cm[0]]}, nil, "")
			}
			if l, ok := lists[name]; ok {
				if _, isMetric := want[l[0]]; isMetric {
					want[l[0]+"_total"] = want[l[0]]
					delete(want, l[0])
				}
				checkList(t, what, dp[l[0]], l[1], split)
			}
			checkFields(t, what, dp, want, split, breakdownField[name])
		}
		if nonEmpty < 5 {
			t.Errorf("%s: only %d non-empty buckets; the seed proves little", path, nonEmpty)
		}
		want, _ := metrics(all)
		checkFields(t, path+" summary", ans.Summary, want, nil, "")
		if name == "users-requests" {
			checkFields(t, path+" summary", ans.Summary, vals{"unique": want["users"]}, nil, "")
		}
		if name == "feedbacks/ai-models" {
			models, _ := ans.Summary["ai_models"].([]any)
			_, split := metrics(all)
			if len(models) != len(split) {
				t.Errorf("%s summary ai_models %v; want %v", path, models, split)
			}
		}
	}
	all := func(*logevent.Event) bool { return true }
	for name := range graphs {
		check(name, name, "", all)
	}
	for alias, name := range aliases {
		check(alias, name, "", all)
	}
	// Shared filters apply to graphs, feedback graphs included.
	check("cost", "cost", "&status_code=500,502", func(e *logevent.Event) bool { return e.ResponseStatusCode == 500 || e.ResponseStatusCode == 502 })
	check("latency", "latency", "&metadata="+url.QueryEscape(`{"env":"prod"}`), func(e *logevent.Event) bool { v, _ := e.Metadata("env"); return v == "prod" })
	check("feedbacks/weighted", "feedbacks/weighted", "&ai_model=gpt-4o", func(e *logevent.Event) bool { return e.AIModel == "gpt-4o" })

	// Bucket size follows the range; logs past retention never count.
	var wide graphAnswer
	w.get("a", "/v1/analytics/graphs/requests?time_of_generation_min="+url.QueryEscape(w.now.Add(-120*24*time.Hour).Format(time.RFC3339))+
		"&time_of_generation_max="+url.QueryEscape(w.now.Format(time.RFC3339)), &wide)
	if got := wide.Summary["total"].(float64); got != float64(len(w.logs)) {
		t.Errorf("120-day requests total %v; want %d (expired logs and duplicates excluded)", got, len(w.logs))
	}
	if n := len(wide.DataPoints); n < 18 || n > 19 {
		t.Errorf("120-day range: %d points; want weekly buckets", n)
	}
	var inPoints float64
	for _, dp := range wide.DataPoints { // weekly buckets line up with ClickHouse's toMonday
		if ts, _ := time.Parse(time.RFC3339, dp["timestamp"].(string)); ts.Weekday() != time.Monday {
			t.Errorf("weekly bucket %v does not start on a Monday", dp["timestamp"])
		}
		inPoints += dp["total"].(float64)
	}
	if inPoints != float64(len(w.logs)) {
		t.Errorf("weekly data points hold %v requests; want %d", inPoints, len(w.logs))
	}
	var narrow graphAnswer
	w.get("a", "/v1/analytics/graphs/requests?time_of_generation_min="+url.QueryEscape(w.now.Add(-2*time.Hour).Format(time.RFC3339))+
		"&time_of_generation_max="+url.QueryEscape(w.now.Format(time.RFC3339)), &narrow)
	if n := len(narrow.DataPoints); n < 120 || n > 121 {
		t.Errorf("2-hour range: %d points; want minute buckets", n)
	}
}

func TestGroupsAndCacheSummary(t *testing.T) {
	w := newWorld(t)
	min, max := w.now.Add(-72*time.Hour), w.now
	rng := "time_of_generation_min=" + url.QueryEscape(min.Format(time.RFC3339)) + "&time_of_generation_max=" + url.QueryEscape(max.Format(time.RFC3339))
	wf := w.weighted()
	type agg struct {
		n, cost, units, rt, fbN, fbSum float64
		last                           logevent.Millis
	}
	group := func(key func(*logevent.Event) (string, bool)) map[string]*agg {
		out := map[string]*agg{}
		for i := range w.logs {
			e := &w.logs[i]
			k, ok := key(e)
			if !ok {
				continue
			}
			a := out[k]
			if a == nil {
				a = &agg{}
				out[k] = a
			}
			a.n++
			a.cost += e.Cost
			a.units += float64(e.TotalUnits)
			a.rt += float64(e.ResponseTime)
			if v, has := wf[e.TraceID]; has {
				a.fbN++
				a.fbSum += v
			}
			if e.CreatedAt > a.last {
				a.last = e.CreatedAt
			}
		}
		return out
	}
	check := func(path, field string, want map[string]*agg, withFb bool) {
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if want[keys[i]].n != want[keys[j]].n {
				return want[keys[i]].n > want[keys[j]].n
			}
			return keys[i] < keys[j]
		})
		var got []map[string]any
		for page := 0; ; page++ {
			var ans struct {
				Object string           `json:"object"`
				Total  float64          `json:"total"`
				Data   []map[string]any `json:"data"`
			}
			if code := w.get("a", fmt.Sprintf("/v1/analytics/groups/%s?%s&page_size=2&current_page=%d", path, rng, page), &ans); code != 200 {
				t.Fatalf("%s: status %d", path, code)
			}
			if ans.Object != "list" || ans.Total != float64(len(want)) {
				t.Fatalf("%s: object %q total %v; want list, %d", path, ans.Object, ans.Total, len(want))
			}
			if len(ans.Data) == 0 {
				break
			}
			got = append(got, ans.Data...)
		}
		if len(got) != len(keys) {
			t.Fatalf("%s: %d groups over all pages; want %d", path, len(got), len(keys))
		}
		for i, k := range keys {
			a, g := want[k], got[i]
			exp := vals{"requests": a.n, "cost": a.cost, "avg_tokens": a.units / a.n}
			if withFb {
				exp["requests_with_feedback"] = a.fbN
				exp["avg_weighted_feedback"] = ratio(a.fbSum, a.fbN)
			} else {
				exp["avg_latency"] = a.rt / a.n
			}
			if g[field] != k || g["last_seen"] != a.last.String() {
				t.Errorf("%s[%d]: %s=%v last_seen=%v; want %s, %s", path, i, field, g[field], g["last_seen"], k, a.last)
			}
			checkFields(t, path+" "+k, g, exp, nil, "")
		}
	}
	check("users", "user", group(func(e *logevent.Event) (string, bool) { return e.User, e.User != "" }), false)
	check("ai-models", "ai_model", group(func(e *logevent.Event) (string, bool) { return e.AIModel, true }), false)
	check("workspaces", "workspace_id", group(func(e *logevent.Event) (string, bool) { return e.WorkspaceID, true }), false)
	check("metadata/env", "metadata_value", group(func(e *logevent.Event) (string, bool) { return e.Metadata("env") }), true)

	var sum struct {
		Object  string         `json:"object"`
		Summary map[string]any `json:"summary"`
	}
	if code := w.get("a", "/v1/analytics/summary/cache?"+rng, &sum); code != 200 || sum.Object != "analytics-summary" {
		t.Fatalf("summary/cache: status %d object %q", code, sum.Object)
	}
	hr, _ := logMetrics("cache-hit-rate", w.logs)
	lat, _ := logMetrics("cache-latency", w.logs)
	checkFields(t, "summary/cache", sum.Summary, vals{"hit_rate": hr["rate"], "hits": hr["hits"], "simple_hits": hr["simple_hits"],
		"semantic_hits": hr["semantic_hits"], "requests": hr["requests"], "avg_latency_hit": lat["avg"], "avg_latency_miss": lat["avg_miss"]}, nil, "")
	var other []float64
	for i := range w.logs {
		if !isHit(&w.logs[i]) {
			other = append(other, float64(w.logs[i].ResponseTime))
		}
	}
	checkFields(t, "summary/cache (the product's names)", sum.Summary, vals{"avg_latency": lat["avg"], "total_requests": hr["requests"],
		"cache_speedup": (avgOf(other) - lat["avg"]) * 100 / avgOf(other)}, nil, "")
}
