package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"logpipe/lib/logevent"
	"logpipe/query/filter"
	"logpipe/query/store"
)

// metric is one named aggregate of a graph (a data point field and a summary field).
type metric struct {
	name string
	expr string
}

// breakdown splits each data point by the values of key: field holds
// {value: n}; list, when set, holds the same as the documented array
// [{listKey: value as an integer, "count": n}] ordered by value.
type breakdown struct {
	field, key, cond, value string
	list, listKey           string
}

// keyed makes a graph's data_points one point per value of key (the
// documented shape of status-code, score and model graphs) instead of one
// per time bucket; the time buckets are then answered as timeline.
type keyed struct {
	field   string   // the key's name in each point
	key     string   // a String expression over the source's columns
	numeric bool     // the key is answered as a JSON integer
	cond    string   // condition on the source's columns ("" for none)
	values  []metric // the point's other fields
}

// graph is one analytics graph.
type graph struct {
	src       store.Source
	metrics   []metric
	breakdown *breakdown
	keyed     *keyed
	// models adds the per-model summary of feedbacks/ai-models.
	models bool
	// cumulative fields of each data point: name → the metric summed over
	// this and every earlier bucket of the range.
	cumulative [][2]string
	// aliases of summary fields: name → the metric it repeats.
	summaryAliases [][2]string
}

func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

// graphs maps each graph path (as the official SDK spells it) to its definition.
var graphs = func() map[string]graph {
	c := store.Col
	ok, rt := c("is_success"), c("response_time")
	hit := c("cache_status") + " IN (" + sq(logevent.CacheHit) + ", " + sq(logevent.CacheSemanticHit) + ")"
	user := c("user")
	lat := store.Quantiles(rt, "0.5", "0.9", "0.99")
	rescued := ok + " = 1 AND (" + c("retry_success_count") + " > 0 OR " + c("fallback_option") + " >= 2)"
	return map[string]graph{
		"requests": {metrics: []metric{{"total", "count()"}, {"success", "countIf(" + ok + " = 1)"}, {"failed", "countIf(" + ok + " = 0)"}}},
		"cost":     {metrics: []metric{{"total", "sum(" + c("cost") + ")"}, {"avg", "avg(" + c("cost") + ")"}}},
		// one quantiles state for the three levels (ClickHouse computes an
		// aggregate named alike once); the latency histograms answer it
		"latency": {metrics: []metric{{"avg", "avg(" + rt + ")"}, {"p50", lat + "[1]"}, {"p90", lat + "[2]"}, {"p99", lat + "[3]"}}},
		"tokens": {metrics: []metric{{"total", "sum(" + c("total_units") + ")"}, {"avg", "avg(" + c("total_units") + ")"},
			{"prompt", "sum(" + c("req_units") + ")"}, {"completion", "sum(" + c("res_units") + ")"}, {"reasoning", "sum(" + c("reasoning_units") + ")"}}},
		"users": {metrics: []metric{{"total", "uniqExactIf(" + user + ", " + user + " != '')"}}},
		"users-requests": {metrics: []metric{{"total", "countIf(" + user + " != '')"}, {"users", "uniqExactIf(" + user + ", " + user + " != '')"},
			{"avg", "countIf(" + user + " != '') / uniqExactIf(" + user + ", " + user + " != '')"}},
			summaryAliases: [][2]string{{"unique", "users"}}},
		"errors":      {metrics: []metric{{"total", "countIf(" + ok + " = 0)"}}},
		"errors-rate": {metrics: []metric{{"rate", "countIf(" + ok + " = 0) * 100 / count()"}, {"failed", "countIf(" + ok + " = 0)"}, {"total", "count()"}}},
		"errors-stack": {metrics: []metric{{"total", "countIf(" + ok + " = 0)"}},
			breakdown: &breakdown{field: "status_codes", key: c("response_status_code"), cond: ok + " = 0", value: "count()",
				list: "stats", listKey: "response_status_code"}},
		"errors-status-code": {metrics: []metric{{"total", "uniqExactIf(" + c("response_status_code") + ", " + ok + " = 0)"},
			{"total_errors", "countIf(" + ok + " = 0)"}, {"unique_error_codes", "uniqExactIf(" + c("response_status_code") + ", " + ok + " = 0)"}},
			breakdown: &breakdown{field: "status_codes", key: c("response_status_code"), cond: ok + " = 0", value: "count()"},
			keyed:     &keyed{field: "status_code", key: "toString(" + c("response_status_code") + ")", numeric: true, cond: ok + " = 0", values: []metric{{"count", "count()"}}}},
		"requests-rescued": {metrics: []metric{{"total", "countIf(" + rescued + ")"},
			{"retry", "countIf(" + ok + " = 1 AND " + c("retry_success_count") + " > 0)"},
			{"fallback", "countIf(" + ok + " = 1 AND " + c("fallback_option") + " >= 2)"}},
			breakdown: &breakdown{field: "retry_success_counts", key: c("retry_success_count"), cond: ok + " = 1 AND " + c("retry_success_count") + " > 0",
				value: "count()", list: "retry", listKey: "retry_success_count"}},
		"cache-hit-rate": {metrics: []metric{{"rate", "countIf(" + hit + ") * 100 / count()"}, {"total", "countIf(" + hit + ")"}, {"hits", "countIf(" + hit + ")"},
			{"simple_hits", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheHit) + ")"},
			{"semantic_hits", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheSemanticHit) + ")"},
			{"simple_rate", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheHit) + ") * 100 / count()"},
			{"semantic_rate", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheSemanticHit) + ") * 100 / count()"},
			{"requests", "count()"},
			{"simple_cache_savings", "sumIf(" + c("cost") + ", " + c("cache_status") + " = " + sq(logevent.CacheHit) + ")"},
			{"semantic_cache_savings", "sumIf(" + c("cost") + ", " + c("cache_status") + " = " + sq(logevent.CacheSemanticHit) + ")"}},
			cumulative: [][2]string{{"cumulative_simple_cache_savings", "simple_cache_savings"}, {"cumulative_semantic_cache_savings", "semantic_cache_savings"}}},
		"cache-latency": {metrics: []metric{{"avg", "avgIf(" + rt + ", " + hit + ")"},
			{"avg_miss", "avgIf(" + rt + ", " + c("cache_status") + " = " + sq(logevent.CacheMiss) + ")"}, {"hits", "countIf(" + hit + ")"}}},
		"feedbacks": {src: store.SrcFeedback, metrics: []metric{{"total", "count()"}, {"avg", "avg(v)"}, {"avg_weighted", "avg(v * w)"}}},
		"feedbacks/score": {src: store.SrcFeedback, metrics: []metric{{"total", "count()"}, {"avg", "avg(v)"}},
			breakdown: &breakdown{field: "scores", key: "v", value: "count()"},
			keyed:     &keyed{field: "score", key: "toString(v)", numeric: true, values: []metric{{"total", "count()"}}}},
		"feedbacks/weighted": {src: store.SrcFeedback, metrics: []metric{{"total", "count()"}, {"avg", "avg(v * w)"}, {"sum", "sum(v * w)"}}},
		"feedbacks/ai-models": {src: store.SrcFeedbackModels, metrics: []metric{{"total", "count()"}, {"avg_weighted", "avg(v * w)"}},
			breakdown: &breakdown{field: "ai_models", key: c("ai_model"), value: "count()"}, models: true,
			keyed: &keyed{field: "ai_model", key: c("ai_model"), values: []metric{{"total", "count()"}, {"avg_weighted_feedback", "avg(v * w)"}, {"avg_weighted", "avg(v * w)"}}}},
	}
}()

// aliases are the OpenAPI spellings of graph paths.
var aliases = map[string]string{
	"users/requests":      "users-requests",
	"errors/rate":         "errors-rate",
	"errors/stack":        "errors-stack",
	"errors/stacks":       "errors-stack",
	"errors/status-code":  "errors-status-code",
	"errors/status-codes": "errors-status-code",
	"requests/rescued":    "requests-rescued",
	"cache/hit-rate":      "cache-hit-rate",
	"cache/latency":       "cache-latency",
	"feedbacks/scores":    "feedbacks/score",
}

// analyticsExtra are the analytics parameters beside the shared filters.
var analyticsExtra = []string{"current_page", "page_size", "order_by", "order_by_type", "columns", "include_total"}

func (h *Handlers) registerAnalytics(g gin.IRoutes) {
	for name, gr := range graphs {
		g.GET("/v1/analytics/graphs/"+name, h.graph(gr))
	}
	for alias, name := range aliases {
		g.GET("/v1/analytics/graphs/"+alias, h.graph(graphs[name]))
	}
	h.registerGroups(g)
	g.GET("/v1/analytics/summary/cache", h.cacheSummary)
}

// errAnswered means the request has already been answered.
var errAnswered = errors.New("answered")

// analyticsFilter parses the shared filters and the required time range.
func analyticsFilter(c *gin.Context) (filter.Filter, store.Unit, error) {
	if foreignWorkspace(c) {
		return filter.Filter{}, "", errAnswered
	}
	f, err := filter.FromQuery(c.Request.URL.Query(), analyticsExtra...)
	if err != nil {
		return f, "", err
	}
	if f.Min == 0 {
		return f, "", badParam(filter.TimeMin, "is required (ISO-8601 with offset)")
	}
	if f.Max == 0 {
		return f, "", badParam(filter.TimeMax, "is required (ISO-8601 with offset)")
	}
	r := f.Max.Time().Sub(f.Min.Time())
	if r > store.MaxRange {
		return f, "", badParam(filter.TimeMin, "range too large: at most %d days", int(store.MaxRange.Hours()/24))
	}
	return f, store.UnitFor(r), nil
}

func exprs(ms []metric) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.expr
	}
	return out
}

func (h *Handlers) graph(gr graph) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, unit, err := analyticsFilter(c)
		if err != nil {
			h.fail(c, err)
			return
		}
		sc := h.scope(c)
		ctx, cancel := h.ctx(c)
		defer cancel()
		ex := exprs(gr.metrics)
		points, totals, err := h.store.Series(ctx, sc, f, gr.src, unit, ex)
		if err != nil {
			h.fail(c, err)
			return
		}
		var split map[int64]map[string]float64
		if b := gr.breakdown; b != nil {
			if split, err = h.store.Breakdown(ctx, sc, f, gr.src, unit, b.key, b.cond, b.value); err != nil {
				h.fail(c, err)
				return
			}
		}
		summary := map[string]any{}
		for i, m := range gr.metrics {
			summary[m.name] = totals[i]
		}
		for _, a := range gr.summaryAliases {
			summary[a[0]] = summary[a[1]]
		}
		var byKey []map[string]any
		if k := gr.keyed; k != nil {
			if byKey, err = h.keyedPoints(ctx, sc, f, gr.src, k); err != nil {
				h.fail(c, err)
				return
			}
		}
		if gr.models {
			models := make([]map[string]any, len(byKey))
			for i, p := range byKey {
				models[i] = map[string]any{"ai_model": p["ai_model"], "total": p["total"], "avg_weighted": p["avg_weighted"]}
			}
			summary["ai_models"] = models
		}
		byBucket := make(map[int64][]float64, len(points))
		for _, p := range points {
			byBucket[p.Bucket] = p.Values
		}
		running := make([]float64, len(gr.cumulative))
		data := []map[string]any{}
		for t := unit.Start(f.Min.Time()); !t.After(f.Max.Time()); t = unit.Next(t) {
			dp := map[string]any{"timestamp": t.Format(time.RFC3339)}
			vals := byBucket[t.Unix()]
			for i, m := range gr.metrics {
				v := 0.0
				if vals != nil {
					v = vals[i]
				}
				dp[m.name] = v
			}
			for i, cm := range gr.cumulative {
				running[i] += dp[cm[1]].(float64)
				dp[cm[0]] = running[i]
			}
			if b := gr.breakdown; b != nil {
				s := split[t.Unix()]
				if s == nil {
					s = map[string]float64{}
				}
				dp[b.field] = s
				if b.list != "" {
					if n, isMetric := dp[b.list]; isMetric {
						dp[b.list+"_total"] = n // the metric of the same name, as a count
					}
					dp[b.list] = countList(s, b.listKey)
				}
			}
			data = append(data, dp)
		}
		ans := gin.H{"object": "analytics-graph", "summary": summary, "data_points": data}
		if gr.keyed != nil {
			ans["data_points"], ans["timeline"] = byKey, data
		}
		c.JSON(http.StatusOK, ans)
	}
}

// keyedPoints are the data points of a keyed graph: one per value of k.key
// over the whole range, numeric keys in ascending order, others by their
// first value descending.
func (h *Handlers) keyedPoints(ctx context.Context, sc store.Scope, f filter.Filter, src store.Source, k *keyed) ([]map[string]any, error) {
	groups, _, err := h.store.Groups(ctx, sc, f, src, k.key, nil, k.cond, exprs(k.values), 0, false, MaxGroupPageSize, 0)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(groups))
	keys := make([]int64, len(groups))
	for i, g := range groups {
		p := map[string]any{k.field: g.Key}
		if k.numeric {
			keys[i], _ = strconv.ParseInt(g.Key, 10, 64)
			p[k.field] = keys[i]
		}
		for j, m := range k.values {
			p[m.name] = g.Values[j]
		}
		out[i] = p
	}
	if k.numeric {
		sort.SliceStable(out, func(i, j int) bool { return out[i][k.field].(int64) < out[j][k.field].(int64) })
	}
	return out, nil
}

// countList turns a breakdown {value: n} into [{key: value, "count": n}]
// ordered by value (values are integers: status codes, retry counts).
func countList(s map[string]float64, key string) []map[string]any {
	out := make([]map[string]any, 0, len(s))
	for k, n := range s {
		v, _ := strconv.ParseInt(k, 10, 64)
		out = append(out, map[string]any{key: v, "count": n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][key].(int64) < out[j][key].(int64) })
	return out
}

func (h *Handlers) cacheSummary(c *gin.Context) {
	f, _, err := analyticsFilter(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	gr := graphs["cache-hit-rate"]
	lat := graphs["cache-latency"]
	ms := append(append([]metric{}, gr.metrics...), lat.metrics[:2]...)
	nonHit := store.Col("cache_status") + " NOT IN (" + sq(logevent.CacheHit) + ", " + sq(logevent.CacheSemanticHit) + ")"
	ms = append(ms, metric{"avg_latency_non_hit", "avgIf(" + store.Col("response_time") + ", " + nonHit + ")"})
	ctx, cancel := h.ctx(c)
	defer cancel()
	totals, err := h.store.Totals(ctx, h.scope(c), f, store.SrcLogs, exprs(ms))
	if err != nil {
		h.fail(c, err)
		return
	}
	summary := map[string]any{}
	for i, m := range ms {
		name := m.name
		switch name {
		case "avg":
			name = "avg_latency_hit"
		case "avg_miss":
			name = "avg_latency_miss"
		case "rate":
			name = "hit_rate"
		case "total": // the graph's total is its hits
			continue
		}
		summary[name] = totals[i]
	}
	// the product's names: avg_latency (of a hit), total_requests, and
	// cache_speedup, the percentage by which a hit is faster than a request
	// that is not one (0 without both kinds)
	summary["avg_latency"] = summary["avg_latency_hit"]
	summary["total_requests"] = summary["requests"]
	hitRT, other := summary["avg_latency_hit"].(float64), summary["avg_latency_non_hit"].(float64)
	speedup := 0.0
	if other > 0 && summary["hits"].(float64) > 0 {
		speedup = (other - hitRT) * 100 / other
	}
	summary["cache_speedup"] = speedup
	c.JSON(http.StatusOK, gin.H{"object": "analytics-summary", "summary": summary})
}
