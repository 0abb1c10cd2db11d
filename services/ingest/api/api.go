// Package api is ingest's HTTP surface: POST /v1/logs (the product's "Insert
// a Log" shape, full gateway events singly or in arrays, and NDJSON streams),
// POST /v1/feedback and PUT /v1/feedback/{id}, and the forwarding of every
// other method on /v1/logs to the query service (the one base URL routes the
// path /v1/logs here whatever the method).
//
// A request is answered 2xx only after Kafka acknowledged every event it
// reports as accepted (acks from all in-sync replicas).
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"logpipe/ingest/quota"
	"logpipe/ingest/redact"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Producer writes messages to one Kafka topic and returns nil only when all of
// them are acknowledged. Once it returned nil it must not read the messages'
// keys and values again: the handler reuses their memory for later requests.
// After an error it may go on reading them; the handler then leaves them be.
type Producer interface {
	Produce(ctx context.Context, msgs ...kafka.Message) error
}

// Quota applies an organisation's plan to the logs it sends.
type Quota interface {
	Reserve(p tenant.Principal, n int) quota.Decision
	Commit(d quota.Decision)
	Release(d quota.Decision)
}

// Options bound what a request may carry. Zero values take the defaults.
type Options struct {
	// Limits bound one event (default logevent.DefaultLimits with
	// MaxPayloadBytes = DefaultMaxEventBytes).
	Limits logevent.Limits
	// MaxBodyBytes bounds a JSON request body after decompression (default 32 MiB).
	MaxBodyBytes int64
	// MaxBatchEvents bounds the events of one JSON array (default 1000).
	MaxBatchEvents int
	// MaxEventBytes bounds one event as written to Kafka (key + value,
	// default 1,000,000 bytes: below the broker's 1 MiB message.max.bytes).
	MaxEventBytes int
	// StreamChunkEvents is how many NDJSON events are produced together
	// (default 500).
	StreamChunkEvents int
	// MaxStreamLines bounds the lines of one NDJSON stream (default 100,000),
	// and with it what a stream keeps (its log ids) until it is answered.
	MaxStreamLines int
	// MaxInflightBytes bounds the request bytes held by all requests at once;
	// beyond it requests are shed with 503 (default 64 MiB).
	MaxInflightBytes int64
	// MaxInflightRequests bounds concurrent requests; beyond it requests are
	// shed with 503 (default 256).
	MaxInflightRequests int64
	// ProduceTimeout bounds waiting for Kafka's acknowledgement (default 10s).
	ProduceTimeout time.Duration
	// RetryAfter is the Retry-After of 503 answers (default 2s).
	RetryAfter time.Duration
	// Redactor removes provider credentials from headers and request_url
	// before events are encoded (default: redact.New(nil, nil), the built-in
	// header and query parameter names).
	Redactor *redact.Redactor
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes        = 32 << 20
	DefaultMaxBatchEvents      = 1000
	DefaultMaxEventBytes       = 1_000_000
	DefaultStreamChunkEvents   = 500
	DefaultMaxStreamLines      = 100_000
	DefaultMaxInflightBytes    = 64 << 20
	DefaultMaxInflightRequests = 256
	DefaultProduceTimeout      = 10 * time.Second
	DefaultRetryAfter          = 2 * time.Second
)

func (o *Options) defaults() {
	if o.Limits == (logevent.Limits{}) {
		o.Limits = logevent.DefaultLimits
		o.Limits.MaxPayloadBytes = DefaultMaxEventBytes
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBatchEvents == 0 {
		o.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if o.MaxEventBytes == 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	if o.StreamChunkEvents == 0 {
		o.StreamChunkEvents = DefaultStreamChunkEvents
	}
	if o.MaxStreamLines == 0 {
		o.MaxStreamLines = DefaultMaxStreamLines
	}
	if o.MaxInflightBytes == 0 {
		o.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if o.MaxInflightRequests == 0 {
		o.MaxInflightRequests = DefaultMaxInflightRequests
	}
	if o.ProduceTimeout == 0 {
		o.ProduceTimeout = DefaultProduceTimeout
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Redactor == nil {
		o.Redactor = redact.New(nil, nil)
	}
}

// Deps are what the handlers need.
type Deps struct {
	Log      *slog.Logger
	Keys     *tenant.Registry
	Logs     Producer
	Feedback Producer
	Quota    Quota
	// Feedbacks tells whether a feedback exists, for updates (nil: every
	// update is accepted unchecked).
	Feedbacks FeedbackIndex
	// QueryURL is the query service that non-POST /v1/logs requests go to.
	QueryURL *url.URL
	Registry prometheus.Registerer
	Options  Options
}

// FeedbackIndex knows the feedback ids of each tenant (package fbindex).
type FeedbackIndex interface {
	// Exists reports whether feedback id exists in sc.
	Exists(ctx context.Context, sc tenant.Scope, id string) (bool, error)
	// Remember records ids as just published by sc.
	Remember(sc tenant.Scope, ids []string)
}

// Handler serves the ingest API.
type Handler struct {
	log      *slog.Logger
	keys     *tenant.Registry
	logs     Producer
	feedback Producer
	quota    Quota
	fbIndex  FeedbackIndex
	query    *url.URL
	o        Options
	m        *metrics
	now      func() time.Time

	inflightBytes atomic.Int64
	inflightReqs  atomic.Int64
}

// New returns a Handler; its metrics are registered on d.Registry.
func New(d Deps) (*Handler, error) {
	d.Options.defaults()
	if d.Options.MaxEventBytes > int(d.Options.MaxBodyBytes) {
		return nil, fmt.Errorf("max event bytes %d exceed max body bytes %d", d.Options.MaxEventBytes, d.Options.MaxBodyBytes)
	}
	m, err := newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	return &Handler{log: d.Log, keys: d.Keys, logs: d.Logs, feedback: d.Feedback, quota: d.Quota, fbIndex: d.Feedbacks,
		query: d.QueryURL, o: d.Options, m: m, now: time.Now}, nil
}

// Forwarded lists the routes that only forward to the query service; they
// are documented under the query service in the OpenAPI document.
var Forwarded = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// Register adds the API routes to e.
func (h *Handler) Register(e *gin.Engine) {
	auth := tenant.Authenticate(h.keys)
	e.POST("/v1/logs", h.admit, auth, h.postLogs)
	e.POST("/v1/feedback", h.admit, auth, h.postFeedback)
	e.PUT("/v1/feedback/:id", h.admit, auth, h.putFeedback)
	fwd := h.forward()
	for _, m := range Forwarded {
		e.Handle(m, "/v1/logs", fwd)
	}
}
