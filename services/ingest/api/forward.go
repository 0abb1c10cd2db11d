package api

import (
	"context"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/gin-gonic/gin"

	"logpipe/lib/apierr"
)

// forward returns the handler that passes a request unchanged (method, path,
// query string, headers, body) to the query service, streaming the answer.
// The one base URL routes the path /v1/logs to ingest whatever the method, so
// GET /v1/logs (the listing) arrives here.
func (h *Handler) forward() gin.HandlerFunc {
	target := h.query
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.log.Warn("query service unreachable", "err", err, "path", r.URL.Path)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"` + apierr.CodeUnavailable + `","message":"the query service is unavailable; retry"}}`))
		},
	}
	return func(c *gin.Context) {
		// Only ResponseWriter and Flusher: gin's writer claims CloseNotifier
		// even over writers that lack it, which ReverseProxy would call.
		rp.ServeHTTP(plainWriter{c.Writer, c.Writer}, c.Request)
	}
}

type plainWriter struct {
	http.ResponseWriter
	http.Flusher
}

func contextWithTimeout(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request.Context()), d)
}
