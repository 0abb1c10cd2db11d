// Package server is the HTTP plumbing every service shares: a gin engine with
// recovery, /healthz, /readyz and /metrics, JSON slog logging, and a Serve
// that drains gracefully (readiness turns 503 first, then in-flight requests
// finish, then the listener closes).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"logpipe/lib/apierr"
)

// NewLogger returns a JSON slog logger at level ("debug", "info", "warn", "error").
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ReadyFunc reports whether the service can do its work (its dependencies answer).
type ReadyFunc func(ctx context.Context) error

// Health tracks whether the service is draining.
type Health struct {
	draining atomic.Bool
	ready    ReadyFunc
}

// EngineOption tunes NewEngine.
type EngineOption func(*engineOptions)

type engineOptions struct{ panics *Panics }

// WithPanics counts the panics recovered in handlers on p (where="http").
func WithPanics(p *Panics) EngineOption { return func(o *engineOptions) { o.panics = p } }

// NewEngine returns a gin engine with recovery, health and metrics routes.
// ready may be nil (always ready until draining). A handler that panics
// fails its request with a 500; the process goes on.
func NewEngine(log *slog.Logger, reg *prometheus.Registry, ready ReadyFunc, opts ...EngineOption) (*gin.Engine, *Health) {
	var o engineOptions
	for _, f := range opts {
		f(&o)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(gin.CustomRecovery(func(c *gin.Context, rec any) {
		if o.panics != nil {
			_ = o.panics.Record("http "+c.Request.Method+" "+c.FullPath(), rec)
		} else {
			log.Error("handler panic", "err", fmt.Sprint(rec), "path", c.FullPath())
		}
		apierr.Abort(c, http.StatusInternalServerError, apierr.CodeInternal, "internal error")
	}))
	e.NoRoute(func(c *gin.Context) {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
	})
	e.NoMethod(func(c *gin.Context) {
		apierr.Abort(c, http.StatusMethodNotAllowed, apierr.CodeInvalid, "method "+c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})
	h := &Health{ready: ready}
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", func(c *gin.Context) {
		if h.draining.Load() {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "draining"})
			return
		}
		if h.ready != nil {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
			defer cancel()
			if err := h.ready(ctx); err != nil {
				c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return e, h
}

// Draining reports whether shutdown has begun.
func (h *Health) Draining() bool { return h.draining.Load() }

// ServeOptions tune Serve.
type ServeOptions struct {
	// ShutdownDelay is how long /readyz answers 503 before the listener
	// closes, so load balancers move traffic away (default 0 locally; a few
	// seconds in Kubernetes).
	ShutdownDelay time.Duration
	// DrainTimeout bounds waiting for in-flight requests (default 30s).
	DrainTimeout time.Duration
	// ReadTimeout bounds reading one whole request, body included, against
	// clients that trickle bytes (default 2m).
	ReadTimeout time.Duration
}

// Bounds every server applies against slow or hostile clients: the request
// line and headers must arrive within ReadHeaderTimeout and fit in
// MaxHeaderBytes (larger ones are answered 431); an idle keep-alive
// connection is closed after IdleTimeout.
const (
	ReadHeaderTimeout = 10 * time.Second
	MaxHeaderBytes    = 64 << 10
	IdleTimeout       = 2 * time.Minute
)

// Serve serves handler on ln until ctx ends, then drains: readiness turns
// 503, ShutdownDelay passes, in-flight requests finish (up to DrainTimeout).
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, handler http.Handler, h *Health, o ServeOptions) error {
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 2 * time.Minute
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: o.ReadTimeout,
		MaxHeaderBytes: MaxHeaderBytes, IdleTimeout: IdleTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	h.draining.Store(true)
	log.Info("draining", "delay", o.ShutdownDelay.String())
	time.Sleep(o.ShutdownDelay)
	sctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain http server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
