package api

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Rejection reasons, the label values of logpipe_ingest_events_rejected_total.
const (
	reasonInvalid     = "invalid"
	reasonTooLarge    = "too_large"
	reasonQuota       = "quota"
	reasonUnavailable = "unavailable"
	reasonOverloaded  = "overloaded"
)

type metrics struct {
	accepted  prometheus.Counter
	rejected  *prometheus.CounterVec
	feedback  prometheus.Counter
	bytesIn   prometheus.Counter
	inflight  prometheus.Gauge
	shed      prometheus.Counter
	requests  *prometheus.CounterVec
	reqEvents prometheus.Histogram
	redacted  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_events_accepted_total",
			Help: "Log events acknowledged by Kafka and answered as accepted."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logpipe_ingest_events_rejected_total",
			Help: "Log events not accepted, by reason: invalid, too_large, quota, unavailable (Kafka), overloaded."}, []string{"reason"}),
		feedback: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_feedback_accepted_total",
			Help: "Feedback records acknowledged by Kafka."}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_request_bytes_total",
			Help: "Request body bytes read, after decompression."}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "logpipe_ingest_inflight_requests",
			Help: "Requests being handled."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_shed_requests_total",
			Help: "Requests answered 503 because the in-flight request or byte budget was exhausted."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logpipe_ingest_http_requests_total",
			Help: "API requests by route and status code."}, []string{"route", "code"}),
		redacted: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_ingest_redacted_values_total",
			Help: "Credential values (headers, URL query parameters) replaced by [REDACTED] before events left ingest."}),
		reqEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logpipe_ingest_request_events",
			Help: "Events per POST /v1/logs request.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
	}
	for _, r := range []string{reasonInvalid, reasonTooLarge, reasonQuota, reasonUnavailable, reasonOverloaded} {
		m.rejected.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.feedback, m.bytesIn, m.inflight, m.shed, m.requests, m.reqEvents, m.redacted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}
