package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"logpipe/lib/apierr"
	"logpipe/lib/logevent"
	"logpipe/query/store"
)

// Group paging. A page may be as large as an export page; page_size 0
// answers the number of groups only.
const (
	DefaultGroupPageSize = 20
	MaxGroupPageSize     = 50000
)

// groupColumn is one column a group item may carry: an aggregate over the
// logs of the group.
type groupColumn struct {
	name string
	expr string
	// feedback columns read the per-log feedback of store.SrcLogsFeedback.
	feedback bool
	// time columns are epoch milliseconds answered as ISO-8601 strings.
	time bool
}

// groupColumns is every column of the generic grouping, in answer order;
// requests is always answered.
var groupColumns = func() []groupColumn {
	c := store.Col
	rt := c("response_time")
	hit := c("cache_status") + " IN (" + sq(logevent.CacheHit) + ", " + sq(logevent.CacheSemanticHit) + ")"
	return []groupColumn{
		{name: "requests", expr: "count()"},
		{name: "cost", expr: "sum(" + c("cost") + ")"},
		{name: "total_tokens", expr: "sum(" + c("total_units") + ")"},
		{name: "avg_tokens", expr: "avg(" + c("total_units") + ")"},
		{name: "avg_input_tokens", expr: "avg(" + c("req_units") + ")"},
		{name: "avg_output_tokens", expr: "avg(" + c("res_units") + ")"},
		{name: "avg_latency", expr: "avg(" + rt + ")"},
		{name: "p95_latency", expr: store.Quantiles(rt, "0.95", "0.99") + "[1]"},
		{name: "p99_latency", expr: store.Quantiles(rt, "0.95", "0.99") + "[2]"},
		{name: "success_rate", expr: "countIf(" + c("is_success") + " = 1) * 100 / count()"},
		{name: "error_count", expr: "countIf(" + c("is_success") + " = 0)"},
		{name: "cache_hit_rate", expr: "countIf(" + hit + ") * 100 / count()"},
		{name: "avg_weighted_feedback", expr: "avgIf(wf, has_fb = 1)", feedback: true},
		{name: "requests_with_feedback", expr: "sum(has_fb)", feedback: true},
		{name: "first_seen", expr: "min(" + c("created_at") + ")", time: true},
		{name: "last_seen", expr: "max(" + c("created_at") + ")", time: true},
	}
}()

func groupColumnNames() []string {
	out := make([]string, len(groupColumns))
	for i, gc := range groupColumns {
		out[i] = gc.name
	}
	return out
}

// dimension is what a group endpoint groups by.
type dimension struct {
	field string // the key's name in each item
	// key is the group key expression (a String) and its arguments.
	key func(c *gin.Context) (string, []any, error)
	// where is the condition on source columns ("" for none); its ?s are
	// bound to key's arguments again.
	where func(c *gin.Context) string
	// numeric keys are answered as JSON integers.
	numeric bool
	// defaults are the columns answered without a columns parameter.
	defaults []string
}

var (
	defaultGroupColumns    = []string{"requests", "cost", "avg_tokens", "avg_latency", "last_seen"}
	defaultMetadataColumns = []string{"requests", "cost", "avg_tokens", "avg_weighted_feedback", "requests_with_feedback", "last_seen"}
)

// byColumn groups by a logs column; nonEmpty leaves out logs where it is empty.
func byColumn(field, column string, nonEmpty bool) dimension {
	d := dimension{field: field, defaults: defaultGroupColumns,
		key: func(*gin.Context) (string, []any, error) { return "toString(" + store.Col(column) + ")", nil, nil }}
	if nonEmpty {
		d.where = func(*gin.Context) string { return store.Col(column) + " != ''" }
	}
	return d
}

// dimensions are the generic grouping's dimensions by path segment: the
// product's own groups (users, ai-models, workspaces) and the SDK's group_by
// dimensions.
var dimensions = func() map[string]dimension {
	sc := byColumn("status_code", "response_status_code", false)
	sc.numeric = true
	return map[string]dimension{
		"users":       byColumn("user", "user", true),
		"ai-models":   byColumn("ai_model", "ai_model", false),
		"workspaces":  byColumn("workspace_id", "workspace_id", false),
		"ai_service":  byColumn("ai_service", "ai_org", true),
		"model":       byColumn("model", "ai_model", true),
		"status_code": sc,
		"api_key":     byColumn("api_key", "api_key_id", true),
		"config":      byColumn("config", "config", true),
		"workspace":   byColumn("workspace", "workspace_id", false),
		"provider":    byColumn("provider", "virtual_key", true),
		"prompt":      byColumn("prompt", "prompt_slug", true),
	}
}()

// metadataDimension groups by the value of the metadata key in the path.
var metadataDimension = dimension{field: "metadata_value", defaults: defaultMetadataColumns,
	key: func(c *gin.Context) (string, []any, error) {
		k := c.Param("key")
		if !logevent.MetadataKeyPattern.MatchString(k) {
			return "", nil, badParam("key", "metadata key %q must match %s", k, logevent.MetadataKeyPattern)
		}
		return store.Col("metadata.value") + "[indexOf(" + store.Col("metadata.key") + ", ?)]", []any{k}, nil
	},
	where: func(*gin.Context) string { return "has(" + store.Col("metadata.key") + ", ?)" }}

func (h *Handlers) registerGroups(g gin.IRoutes) {
	g.GET("/v1/analytics/groups/:dimension", func(c *gin.Context) {
		d, ok := dimensions[c.Param("dimension")]
		if !ok {
			names := make([]string, 0, len(dimensions))
			for n := range dimensions {
				names = append(names, n)
			}
			apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such group dimension; the dimensions are "+strings.Join(slices.Sorted(slices.Values(names)), ", ")+" and metadata/{key}")
			return
		}
		h.group(c, d)
	})
	g.GET("/v1/analytics/groups/metadata/:key", func(c *gin.Context) { h.group(c, metadataDimension) })
}

// chosenColumns parses the columns parameter (comma-separated names of
// groupColumns; d's defaults when absent): the chosen columns in answer
// order, requests always first.
func chosenColumns(c *gin.Context, d dimension) ([]groupColumn, error) {
	want := map[string]bool{"requests": true}
	if s, ok := c.GetQuery("columns"); ok {
		for _, n := range strings.Split(s, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			known := false
			for _, gc := range groupColumns {
				known = known || gc.name == n
			}
			if !known {
				return nil, badParam("columns", "unknown column %q; the columns are %s", n, strings.Join(groupColumnNames(), ", "))
			}
			want[n] = true
		}
	} else {
		for _, n := range d.defaults {
			want[n] = true
		}
	}
	var out []groupColumn
	for _, gc := range groupColumns {
		if want[gc.name] {
			out = append(out, gc)
		}
	}
	return out, nil
}

// boolParam parses an optional boolean query parameter (true/false, 1/0, any letter case).
func boolParam(c *gin.Context, name string) (bool, error) {
	s, ok := c.GetQuery(name)
	if !ok {
		return false, nil
	}
	switch strings.ToLower(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badParam(name, "must be true or false, got %q", s)
}

func (h *Handlers) group(c *gin.Context, d dimension) {
	f, _, err := analyticsFilter(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := intParam(c, "current_page", 0, 0, 1_000_000)
	if err != nil {
		h.fail(c, err)
		return
	}
	size, err := intParam(c, "page_size", DefaultGroupPageSize, 0, MaxGroupPageSize)
	if err != nil {
		h.fail(c, err)
		return
	}
	cols, err := chosenColumns(c, d)
	if err != nil {
		h.fail(c, err)
		return
	}
	withTotal, err := boolParam(c, "include_total")
	if err != nil {
		h.fail(c, err)
		return
	}
	orderBy := 0
	if ob := c.Query("order_by"); ob != "" {
		orderBy = -1
		var names []string
		for i, gc := range cols {
			names = append(names, gc.name)
			if gc.name == ob {
				orderBy = i
			}
		}
		if orderBy < 0 {
			h.fail(c, badParam("order_by", "must be one of the answered columns %s", strings.Join(names, ", ")))
			return
		}
	}
	asc := false
	switch strings.ToLower(c.Query("order_by_type")) {
	case "", "desc":
	case "asc":
		asc = true
	default:
		h.fail(c, badParam("order_by_type", "must be asc or desc"))
		return
	}
	key, keyArgs, err := d.key(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	where := ""
	if d.where != nil {
		where = d.where(c)
	}
	src := store.SrcLogs
	exprs := make([]string, len(cols))
	for i, gc := range cols {
		exprs[i] = gc.expr
		if gc.feedback {
			src = store.SrcLogsFeedback
		}
	}
	ctx, cancel := h.ctx(c)
	defer cancel()
	groups, total, err := h.store.Groups(ctx, h.scope(c), f, src, key, keyArgs, where, exprs, orderBy, asc, size, page*size)
	if err != nil {
		h.fail(c, err)
		return
	}
	data := make([]map[string]any, len(groups))
	for i, g := range groups {
		item := groupValues(cols, g.Values)
		item[d.field] = g.Key
		if d.numeric {
			n, _ := strconv.ParseInt(g.Key, 10, 64)
			item[d.field] = n
		}
		item["object"] = "analytics-group"
		data[i] = item
	}
	out := gin.H{"object": "list", "total": total, "data": data, "current_page": page, "page_size": size}
	if withTotal {
		var whereArgs []any
		if where != "" {
			whereArgs = keyArgs
		}
		totals, err := h.store.GroupTotals(ctx, h.scope(c), f, src, where, whereArgs, exprs)
		if err != nil {
			h.fail(c, err)
			return
		}
		out["summary"] = groupValues(cols, totals)
	}
	c.JSON(http.StatusOK, out)
}

// groupValues is the item of cols with their values; time columns become
// ISO-8601 strings (null when there is no log).
func groupValues(cols []groupColumn, vals []float64) map[string]any {
	item := make(map[string]any, len(cols)+2)
	for j, gc := range cols {
		if gc.time {
			if vals[j] <= 0 {
				item[gc.name] = nil
			} else {
				item[gc.name] = logevent.Millis(int64(vals[j])).String()
			}
			continue
		}
		item[gc.name] = vals[j]
	}
	return item
}
