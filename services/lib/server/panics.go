package server

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Panics counts the panics a service recovered from at its boundaries (one
// HTTP request, one export job, one consumer batch), as
// logpipe_<service>_panics_total{where}: a panic fails that one unit of work,
// never the process.
type Panics struct {
	log   *slog.Logger
	total *prometheus.CounterVec
}

// NewPanics returns the panic counter of service on reg. Calling it again for
// the same service and registry shares the one counter.
func NewPanics(reg prometheus.Registerer, service string, log *slog.Logger) *Panics {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logpipe_" + service + "_panics_total",
		Help: "Panics recovered (the request, job or batch failed; the process went on), by where they happened.",
	}, []string{"where"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(fmt.Sprintf("register panics counter: %v", err))
		}
		c = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return &Panics{log: log, total: c}
}

// Recover, deferred directly, recovers a panic of where: logs it with its
// stack, counts it and hands it to fail as an error (fail may be nil).
//
//	defer panics.Recover("export", func(err error) { ... })
func (p *Panics) Recover(where string, fail func(err error)) {
	rec := recover()
	if rec == nil {
		return
	}
	err := p.Record(where, rec)
	if fail != nil {
		fail(err)
	}
}

// Record logs and counts a panic already recovered by the caller and returns
// it as an error.
func (p *Panics) Record(where string, rec any) error {
	err := fmt.Errorf("panic in %s: %v", where, rec)
	if p == nil {
		return err
	}
	p.total.WithLabelValues(where).Inc()
	p.log.Error("panic recovered", "where", where, "err", fmt.Sprint(rec), "stack", string(debug.Stack()))
	return err
}
