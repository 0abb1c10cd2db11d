// Package export runs the log exports of the query service: asynchronous
// jobs that write a workspace's logs in a time range, with the columns the
// caller chose from the documented export column set, to a JSONL file (gzip
// on request), and serve it through short-lived signed URLs with HTTP range
// support.
//
// Job state lives in the export_jobs table (a new row version per change), so
// jobs survive restarts: a job whose owning process stopped writing versions
// for longer than the lease is taken over and resumed from its last
// checkpoint. Rows stream from ClickHouse window by window (each window a
// bounded, time-ordered query) through a hand-written JSONL encoder into a
// buffered file, so memory stays flat whatever the export size.
package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/envflag"
	"logpipe/lib/logevent"
	"logpipe/lib/server"
	"logpipe/lib/signing"
	"logpipe/query/store"
)

// Config configures exports. Defaults are set by RegisterFlags and Defaults.
type Config struct {
	// Dir holds the export files (default .stack/dev/exports).
	Dir string
	// Workers bounds the exports running at once in this process (default 2).
	Workers int
	// TTL is how long a finished file is kept (default 24h).
	TTL time.Duration
	// URLTTL is how long a signed download URL is valid (default 15m).
	URLTTL time.Duration
	// Keys sign download URLs (the query service's keyring, shared with
	// share links); required.
	Keys *signing.Keyring
	// PublicURL is the base URL clients reach the API under (default http://127.0.0.1:8000).
	PublicURL string
	// Lease is how long an in_progress job may go without a new version
	// before another process takes it over (default 30s).
	Lease time.Duration
	// WindowRows and WindowBytes bound one window of an export: the logs
	// (default 50000) and estimated bytes (default 8 MiB) that one ClickHouse
	// query reads and this process orders in memory; they bound memory and
	// the work redone on resume. A window that cannot be cut smaller (one
	// second of logs) beyond 4× WindowBytes is ordered by ClickHouse instead.
	WindowRows  int
	WindowBytes int
	// BlockRows is ClickHouse's max_block_size for export reads (default 1024):
	// bounds the rows the driver holds in memory at once.
	BlockRows int
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{Dir: ".stack/dev/exports", Workers: 2, TTL: 24 * time.Hour, URLTTL: 15 * time.Minute,
		PublicURL: "http://127.0.0.1:8000", Lease: 30 * time.Second, WindowRows: 50_000, WindowBytes: 8 << 20, BlockRows: 1024}
}

// RegisterFlags defines the export flags on fs, filling cfg. The signing
// keys and the public URL are the query service's own settings, which main
// copies into cfg.
func RegisterFlags(fs *envflag.Set, cfg *Config) {
	d := Defaults()
	fs.String(&cfg.Dir, "export-dir", "LOGPIPE_EXPORT_DIR", d.Dir, "directory of export files")
	fs.Int(&cfg.Workers, "export-workers", "LOGPIPE_EXPORT_WORKERS", d.Workers, "exports running at once")
	fs.Duration(&cfg.TTL, "export-ttl", "LOGPIPE_EXPORT_TTL", d.TTL, "how long finished export files are kept")
	fs.Duration(&cfg.URLTTL, "export-url-ttl", "LOGPIPE_EXPORT_URL_TTL", d.URLTTL, "how long a signed download URL is valid")
	fs.Duration(&cfg.Lease, "export-lease", "LOGPIPE_EXPORT_LEASE", d.Lease, "silence after which another process takes over an in_progress export")
	fs.Int(&cfg.WindowRows, "export-window-rows", "LOGPIPE_EXPORT_WINDOW_ROWS", d.WindowRows, "most logs per window (one ClickHouse query) of an export")
	fs.Int(&cfg.WindowBytes, "export-window-bytes", "LOGPIPE_EXPORT_WINDOW_BYTES", d.WindowBytes, "target bytes per window of an export, ordered in memory")
	fs.Int(&cfg.BlockRows, "export-block-rows", "LOGPIPE_EXPORT_BLOCK_ROWS", d.BlockRows, "ClickHouse max_block_size for export reads")
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("export dir: must be set")
	case c.Workers < 1 || c.Workers > 64:
		return fmt.Errorf("export workers: %d, want 1-64", c.Workers)
	case c.TTL <= 0 || c.URLTTL <= 0 || c.Lease <= 0:
		return errors.New("export ttl, url ttl and lease: must be positive")
	case c.WindowRows < 1 || c.WindowBytes < 1 || c.BlockRows < 1:
		return errors.New("export window rows, window bytes and block rows: must be positive")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public url %q: want http(s)://host[:port]", c.PublicURL)
	}
	if c.Keys == nil {
		return errors.New("signing keys: required")
	}
	return nil
}

// metrics of exports.
type metrics struct {
	rows     prometheus.Counter
	bytes    prometheus.Counter
	finished *prometheus.CounterVec
	running  prometheus.Gauge
	windows  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_query_export_rows_total",
			Help: "Log lines written to export files."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "logpipe_query_export_bytes_total",
			Help: "Bytes written to export files."}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logpipe_query_export_jobs_total",
			Help: "Export jobs ended, by final status (success, failed, stopped)."}, []string{"status"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "logpipe_query_export_jobs_running",
			Help: "Export jobs running in this process."}),
	}
	m.windows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logpipe_query_export_windows_total",
		Help: "Export windows written, by who ordered them: memory (this process) or clickhouse (too big to hold)."}, []string{"order"})
	reg.MustRegister(m.rows, m.bytes, m.finished, m.running, m.windows)
	return m
}

// Service is the export subsystem: HTTP handlers, worker pool, janitor.
type Service struct {
	cfg    Config
	conn   driver.Conn
	jobs   *Jobs
	log    *slog.Logger
	m      *metrics
	signer *Signer
	store  *store.Store
	panics *server.Panics
	owner  string // this process, in the owner column
	now    func() time.Time

	wake chan struct{} // pokes the scheduler

	// checkpointEvery is the least time between progress versions (1s);
	// onWindow, when set (tests), runs after each window's checkpoint.
	checkpointEvery time.Duration
	onWindow        func(ctx context.Context, j *Job, w window)

	mu      sync.Mutex
	running map[string]*runningJob // by job id
	wg      sync.WaitGroup
}

type runningJob struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// errCancelled is the cause of a job stopped by a cancel request;
// errShutdown of one interrupted by the process stopping.
var (
	errCancelled = errors.New("export cancelled")
	errShutdown  = errors.New("export interrupted: the service is stopping")
	errTakenOver = errors.New("export taken over by another process")
)

// New returns the export service over conn (a migrated database), creating cfg.Dir.
func New(cfg Config, conn driver.Conn, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create export dir: %w", err)
	}
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Service{
		cfg: cfg, conn: conn, jobs: NewJobs(conn), log: log, m: newMetrics(reg),
		signer: NewSigner(cfg.Keys), store: store.New(conn), panics: server.NewPanics(reg, "query", log),
		owner: host + "-" + hex.EncodeToString(b[:]), now: time.Now,
		wake: make(chan struct{}, 1), running: map[string]*runningJob{}, checkpointEvery: time.Second,
	}, nil
}

// poke asks the scheduler to look for work now.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run schedules jobs and expires files until ctx ends, then interrupts the
// running jobs (they stay in_progress, released for any process to resume)
// and waits for them.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Lease / 6)
	defer tick.Stop()
	lastSweep := time.Time{}
	for {
		if err := s.schedule(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("export scheduling failed", "err", err)
		}
		if time.Since(lastSweep) > time.Minute {
			lastSweep = time.Now()
			if err := s.expire(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("export expiry failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, r := range s.running {
				r.cancel(errShutdown)
			}
			s.mu.Unlock()
			s.wg.Wait()
			return
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// schedule claims in_progress jobs nobody runs (queued, released, or whose
// owner went silent for longer than the lease) while workers are free.
func (s *Service) schedule(ctx context.Context) error {
	s.mu.Lock()
	free := s.cfg.Workers - len(s.running)
	s.mu.Unlock()
	if free <= 0 {
		return nil
	}
	jobs, err := s.jobs.InProgress(ctx)
	if err != nil {
		return err
	}
	stale := uint64(s.now().Add(-s.cfg.Lease).UnixNano())
	// oldest first: jobs are listed newest first
	for i := len(jobs) - 1; i >= 0 && free > 0; i-- {
		j := jobs[i]
		s.mu.Lock()
		_, mine := s.running[j.ID]
		s.mu.Unlock()
		if mine || (j.Owner != "" && j.Version > stale) {
			continue
		}
		if j.Owner != "" {
			s.log.Warn("export owner went silent; taking the job over", "job", j.ID, "owner", j.Owner)
		}
		j.Owner = s.owner
		if err := s.jobs.Put(ctx, &j); err != nil {
			return err
		}
		s.launch(ctx, j)
		free--
	}
	return nil
}

// launch runs j on a worker goroutine.
func (s *Service) launch(parent context.Context, j Job) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	r := &runningJob{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.running[j.ID] = r
	s.mu.Unlock()
	s.m.running.Inc()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		defer s.m.running.Dec()
		defer func() {
			s.mu.Lock()
			delete(s.running, j.ID)
			s.mu.Unlock()
			cancel(nil)
			s.poke()
		}()
		s.execute(ctx, j)
	}()
}

// expire removes finished files older than the TTL.
func (s *Service) expire(ctx context.Context) error {
	jobs, err := s.jobs.Finished(ctx, logevent.MillisOf(s.now().Add(-s.cfg.TTL)))
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := os.Remove(s.path(j.FilePath)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("remove expired export file failed", "job", j.ID, "err", err)
			continue
		}
		j.FilePath = ""
		if err := s.jobs.Put(ctx, &j); err != nil {
			return err
		}
		s.log.Info("export file expired", "job", j.ID)
	}
	// part files left by processes that died mid-export (their jobs restart
	// in files of their own)
	parts, _ := filepath.Glob(filepath.Join(s.cfg.Dir, "*.part"))
	for _, p := range parts {
		if st, err := os.Stat(p); err == nil && s.now().Sub(st.ModTime()) > s.cfg.TTL {
			if err := os.Remove(p); err == nil {
				s.log.Info("stale export part file removed", "file", filepath.Base(p))
			}
		}
	}
	return nil
}
