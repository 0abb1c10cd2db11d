package api

import (
	"errors"
	"net/http"
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

// breakdown splits each data point by the values of key (field: {value: n}).
type breakdown struct {
	field, key, cond, value string
}

// graph is one analytics graph.
type graph struct {
	src       store.Source
	metrics   []metric
	breakdown *breakdown
	// models adds the per-model summary of feedbacks/ai-models.
	models bool
}

func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

// graphs maps each graph path (as the official SDK spells it) to its definition.
var graphs = func() map[string]graph {
	c := store.Col
	ok, rt := c("is_success"), c("response_time")
	hit := c("cache_status") + " IN (" + sq(logevent.CacheHit) + ", " + sq(logevent.CacheSemanticHit) + ")"
	user := c("user")
	rescued := ok + " = 1 AND (" + c("retry_success_count") + " > 0 OR " + c("fallback_option") + " >= 2)"
	return map[string]graph{
		"requests": {metrics: []metric{{"total", "count()"}, {"success", "countIf(" + ok + " = 1)"}, {"failed", "countIf(" + ok + " = 0)"}}},
		"cost":     {metrics: []metric{{"total", "sum(" + c("cost") + ")"}, {"avg", "avg(" + c("cost") + ")"}}},
		"latency": {metrics: []metric{{"avg", "avg(" + rt + ")"}, {"p50", "quantileExact(0.5)(" + rt + ")"},
			{"p90", "quantileExact(0.9)(" + rt + ")"}, {"p99", "quantileExact(0.99)(" + rt + ")"}}},
		"tokens": {metrics: []metric{{"total", "sum(" + c("total_units") + ")"}, {"avg", "avg(" + c("total_units") + ")"},
			{"prompt", "sum(" + c("req_units") + ")"}, {"completion", "sum(" + c("res_units") + ")"}, {"reasoning", "sum(" + c("reasoning_units") + ")"}}},
		"users": {metrics: []metric{{"total", "uniqExactIf(" + user + ", " + user + " != '')"}}},
		"users-requests": {metrics: []metric{{"total", "countIf(" + user + " != '')"}, {"users", "uniqExactIf(" + user + ", " + user + " != '')"},
			{"avg", "countIf(" + user + " != '') / uniqExactIf(" + user + ", " + user + " != '')"}}},
		"errors":      {metrics: []metric{{"total", "countIf(" + ok + " = 0)"}}},
		"errors-rate": {metrics: []metric{{"rate", "countIf(" + ok + " = 0) * 100 / count()"}, {"failed", "countIf(" + ok + " = 0)"}, {"total", "count()"}}},
		"errors-stack": {metrics: []metric{{"total", "countIf(" + ok + " = 0)"}},
			breakdown: &breakdown{field: "status_codes", key: c("response_status_code"), cond: ok + " = 0", value: "count()"}},
		"errors-status-code": {metrics: []metric{{"total", "uniqExactIf(" + c("response_status_code") + ", " + ok + " = 0)"}},
			breakdown: &breakdown{field: "status_codes", key: c("response_status_code"), cond: ok + " = 0", value: "count()"}},
		"requests-rescued": {metrics: []metric{{"total", "countIf(" + rescued + ")"},
			{"retry", "countIf(" + ok + " = 1 AND " + c("retry_success_count") + " > 0)"},
			{"fallback", "countIf(" + ok + " = 1 AND " + c("fallback_option") + " >= 2)"}}},
		"cache-hit-rate": {metrics: []metric{{"rate", "countIf(" + hit + ") * 100 / count()"}, {"hits", "countIf(" + hit + ")"},
			{"simple_hits", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheHit) + ")"},
			{"semantic_hits", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheSemanticHit) + ")"},
			{"simple_rate", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheHit) + ") * 100 / count()"},
			{"semantic_rate", "countIf(" + c("cache_status") + " = " + sq(logevent.CacheSemanticHit) + ") * 100 / count()"},
			{"total", "count()"}}},
		"cache-latency": {metrics: []metric{{"avg", "avgIf(" + rt + ", " + hit + ")"},
			{"avg_miss", "avgIf(" + rt + ", " + c("cache_status") + " = " + sq(logevent.CacheMiss) + ")"}, {"hits", "countIf(" + hit + ")"}}},
		"feedbacks": {src: store.SrcFeedback, metrics: []metric{{"total", "count()"}, {"avg", "avg(v)"}, {"avg_weighted", "avg(v * w)"}}},
		"feedbacks/score": {src: store.SrcFeedback, metrics: []metric{{"total", "count()"}, {"avg", "avg(v)"}},
			breakdown: &breakdown{field: "scores", key: "v", value: "count()"}},
		"feedbacks/weighted": {src: store.SrcFeedback, metrics: []metric{{"total", "count()"}, {"avg", "avg(v * w)"}, {"sum", "sum(v * w)"}}},
		"feedbacks/ai-models": {src: store.SrcFeedbackModels, metrics: []metric{{"total", "count()"}, {"avg_weighted", "avg(v * w)"}},
			breakdown: &breakdown{field: "ai_models", key: c("ai_model"), value: "count()"}, models: true},
	}
}()

// aliases are the OpenAPI spellings of graph paths.
var aliases = map[string]string{
	"users/requests":      "users-requests",
	"errors/rate":         "errors-rate",
	"errors/stack":        "errors-stack",
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
		if gr.models {
			groups, _, err := h.store.Groups(ctx, sc, f, gr.src, store.Col("ai_model"), nil, "", []string{"count()", "avg(v * w)"}, 0, false, MaxGroupPageSize, 0)
			if err != nil {
				h.fail(c, err)
				return
			}
			models := make([]map[string]any, len(groups))
			for i, g := range groups {
				models[i] = map[string]any{"ai_model": g.Key, "total": g.Values[0], "avg_weighted": g.Values[1]}
			}
			summary["ai_models"] = models
		}
		byBucket := make(map[int64][]float64, len(points))
		for _, p := range points {
			byBucket[p.Bucket] = p.Values
		}
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
			if gr.breakdown != nil {
				s := split[t.Unix()]
				if s == nil {
					s = map[string]float64{}
				}
				dp[gr.breakdown.field] = s
			}
			data = append(data, dp)
		}
		c.JSON(http.StatusOK, gin.H{"object": "analytics-graph", "summary": summary, "data_points": data})
	}
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
		case "total":
			name = "requests"
		}
		summary[name] = totals[i]
	}
	c.JSON(http.StatusOK, gin.H{"object": "analytics-summary", "summary": summary})
}
