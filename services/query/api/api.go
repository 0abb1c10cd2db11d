// Package api holds the query service's HTTP handlers: log listing and
// detail, share URLs, and analytics graphs, groups and summaries. Every
// handler sits behind tenant.Authenticate and reads through store with the
// Scope of the request's key, so tenancy never depends on a handler's care.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/apierr"
	"logpipe/lib/signing"
	"logpipe/lib/tenant"
	"logpipe/query/filter"
	"logpipe/query/store"
)

// Config tunes the handlers.
type Config struct {
	// PublicURL is the one base URL of the API (share URLs start with it),
	// e.g. http://127.0.0.1:8000.
	PublicURL string
	// Keys sign share URLs (HMAC-SHA256 with a key id, see package signing).
	Keys *signing.Keyring
	// ShareTTL is how long a share URL opens its log (default 30 days).
	ShareTTL time.Duration
	// QueryTimeout bounds each request's ClickHouse work (default 30s), and
	// each of its queries (max_execution_time).
	QueryTimeout time.Duration
	// MaxQueryMemory bounds each query's memory in ClickHouse (0: the
	// server's default).
	MaxQueryMemory int64
}

// Handlers serves the query API.
type Handlers struct {
	store   *store.Store
	keys    *tenant.Registry
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	latency *prometheus.HistogramVec
	reqs    *prometheus.CounterVec
	unavail prometheus.Counter
	// overBudget counts requests answered 503 because a query hit its bounds.
	overBudget prometheus.Counter
}

// New returns the handlers, registering their metrics on reg:
// logpipe_query_requests_total{route,code},
// logpipe_query_request_duration_seconds{route} and
// logpipe_query_clickhouse_unavailable_total.
func New(st *store.Store, keys *tenant.Registry, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Handlers {
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 30 * time.Second
	}
	h := &Handlers{store: st, keys: keys, cfg: cfg, log: log, now: time.Now,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logpipe_query_request_duration_seconds",
			Help:    "Query API request latency by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_query_requests_total",
			Help: "Query API requests by route and status code.",
		}, []string{"route", "code"}),
		unavail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_query_clickhouse_unavailable_total",
			Help: "Requests answered 503 because ClickHouse could not be reached in time.",
		}),
		overBudget: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_query_over_budget_total",
			Help: "Requests answered 503 because a query exceeded its memory or time bound.",
		}),
	}
	reg.MustRegister(h.latency, h.reqs, h.unavail, h.overBudget)
	return h
}

// Instrument is the middleware recording the request metrics; install it on
// the engine before the routes.
func (h *Handlers) Instrument() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		h.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		h.reqs.WithLabelValues(route, strconv.Itoa(c.Writer.Status())).Inc()
	}
}

// Register adds the query routes to g, which must be behind tenant.Authenticate.
func (h *Handlers) Register(g gin.IRoutes) {
	g.GET("/v1/logs", h.list)
	g.GET("/v1/logs/:id", h.detail)
	g.GET("/v1/logs/shared/:token", h.shared)
	h.registerAnalytics(g)
}

func (h *Handlers) scope(c *gin.Context) store.Scope {
	return store.NewScope(tenant.From(c), h.now())
}

// foreignWorkspace answers 404 when the request names a workspace
// (workspace_slug, as the SDK sends it) other than its key's: another
// workspace is never revealed, not even as empty results.
func foreignWorkspace(c *gin.Context) bool {
	ws, ok := c.GetQuery("workspace_slug")
	if ok && ws != tenant.From(c).WorkspaceID {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such workspace")
		return true
	}
	return false
}

func (h *Handlers) ctx(c *gin.Context) (context.Context, context.CancelFunc) {
	ctx := store.Bounded(c.Request.Context(), store.Bounds{MaxMemoryBytes: h.cfg.MaxQueryMemory, MaxExecution: h.cfg.QueryTimeout})
	return context.WithTimeout(ctx, h.cfg.QueryTimeout)
}

// fail answers err: a filter error is 400 naming the parameter, ClickHouse
// unreachable is 503, anything else 500 (logged).
func (h *Handlers) fail(c *gin.Context, err error) {
	if errors.Is(err, errAnswered) {
		return
	}
	if fe, ok := filter.AsError(err); ok {
		apierr.AbortParam(c, fe.Param, fe.Message)
		return
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		h.unavail.Inc()
		c.Header("Retry-After", "5")
		apierr.Abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "the log store is unavailable; retry later")
		return
	}
	if errors.Is(err, store.ErrOverBudget) {
		h.overBudget.Inc()
		c.Header("Retry-After", "5")
		apierr.Abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable,
			"the query exceeded its memory or time budget; narrow the time range or the filters, or retry later")
		return
	}
	if errors.Is(err, context.Canceled) {
		c.Abort()
		return
	}
	h.log.Error("query failed", "err", err, "route", c.FullPath())
	apierr.Abort(c, http.StatusInternalServerError, apierr.CodeInternal, "internal error")
}

func badParam(param, format string, args ...any) error {
	return &filter.Error{Param: param, Message: fmt.Sprintf(format, args...)}
}

// intParam parses an optional integer query parameter in [min, max].
func intParam(c *gin.Context, name string, def, min, max int) (int, error) {
	s, ok := c.GetQuery(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, badParam(name, "must be an integer from %d to %d, got %q", min, max, s)
	}
	return n, nil
}
