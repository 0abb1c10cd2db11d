// Command chaos is the end-to-end audit of logpipe's promise — every log
// acknowledged is visible exactly once — under faults. It starts its own
// ClickHouse and Kafka (scripts/stack.sh, in its own stack directory and on its
// own ports, so it may kill them) and the three services built from this
// repository; drives ingest at a steady rate with client retries that reuse
// ids (as a gateway does after a timeout or a 503); meanwhile SIGKILLs and
// restarts ingest, the consumer (several times) and query, stops each of them
// gracefully (SIGTERM), restarts the Kafka broker, SIGKILLs ClickHouse and
// pauses it (SIGSTOP) for longer than the consumer's timeouts. Then it audits
// through the public HTTP API: every id answered 2xx must be visible exactly
// once in the listing, the total, the requests graph, a group and an export
// file; ids never acknowledged at most once; the consumer's lag back to zero.
//
//	go run ./scripts/chaos [-duration 5m] [-rate 200] ...   (make chaos)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config is one run.
type Config struct {
	Repo     string        // repository root
	StackDir string        // the run's stack directory (wiped at start)
	PortBase int           // ClickHouse native port; the others follow (base+1..+4 servers, +10..+12 services)
	Rate     int           // events offered per second
	Batch    int           // events per request
	Attempts int           // attempts of one batch before the client gives up
	Rounds   int           // times the whole fault schedule runs
	Gap      time.Duration // mean pause between faults
	Pause    time.Duration // how long ClickHouse stays SIGSTOPped
	Tail     time.Duration // load after the last fault
	Seed     uint64
	Keep     bool // leave the servers running at the end
}

// Result is what the audit found.
type Result struct {
	Offered, Acked, Unacked   int
	Visible                   int // distinct ids in the listing
	Lost, Doubled, Unexpected int // acked ids missing; ids seen more than once anywhere; ids never offered
	UnackedVisible            int // unacknowledged ids that are visible (once)
	Total, Graph, Group       uint64
	Exported                  int
	Faults                    map[string]int
	Unplanned                 map[string]int // service exits nobody asked for
	Requests, Retries         int64
	Statuses                  map[int]int
	Mismatches                []string
}

// OK reports whether the run kept the promise.
func (r Result) OK() bool {
	return r.Lost == 0 && r.Doubled == 0 && r.Unexpected == 0 && len(r.Mismatches) == 0 && r.Acked > 0
}

// Print writes the figures.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\nchaos audit\n")
	fmt.Fprintf(w, "  offered       %d events (%d requests, %d of them retries)\n", r.Offered, r.Requests, r.Retries)
	fmt.Fprintf(w, "  acknowledged  %d (2xx)\n", r.Acked)
	fmt.Fprintf(w, "  unacknowledged %d (503, timeouts, ingest gone, until the client gave up); %d of them visible once\n", r.Unacked, r.UnackedVisible)
	fmt.Fprintf(w, "  visible       %d in the listing; total %d, requests graph %d, group %d, export file %d\n", r.Visible, r.Total, r.Graph, r.Group, r.Exported)
	fmt.Fprintf(w, "  lost          %d\n", r.Lost)
	fmt.Fprintf(w, "  doubled       %d\n", r.Doubled)
	if r.Unexpected > 0 {
		fmt.Fprintf(w, "  never offered %d\n", r.Unexpected)
	}
	var codes []string
	for c, n := range r.Statuses {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "no answer"
		}
		codes = append(codes, fmt.Sprintf("%s: %d", name, n))
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "  answers       %s\n", strings.Join(codes, ", "))
	total := 0
	var fs []string
	for f, n := range r.Faults {
		total += n
		fs = append(fs, fmt.Sprintf("%s ×%d", f, n))
	}
	sort.Strings(fs)
	fmt.Fprintf(w, "  faults        %d injected: %s\n", total, strings.Join(fs, ", "))
	var un []string
	for s, n := range r.Unplanned {
		if n > 0 {
			un = append(un, fmt.Sprintf("%s ×%d", s, n))
		}
	}
	sort.Strings(un)
	if len(un) > 0 {
		fmt.Fprintf(w, "  unplanned exits (restarted) %s\n", strings.Join(un, ", "))
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "  MISMATCH      %s\n", m)
	}
	if r.OK() {
		fmt.Fprintf(w, "  result        nothing lost, nothing doubled\n")
	} else {
		fmt.Fprintf(w, "  result        FAILED\n")
	}
}

// runner holds one run's processes.
type runner struct {
	cfg                     Config
	servers                 *servers
	ingest, consumer, query *service
}

// Run performs one chaos run and its audit, writing progress to w.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	w := &syncWriter{w: out} // the supervisors write from their own goroutines
	res := Result{Faults: map[string]int{}, Unplanned: map[string]int{}}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	fmt.Fprintf(w, "chaos: seed %d, stack %s, ports from %d, %d events/s in batches of %d\n", cfg.Seed, cfg.StackDir, cfg.PortBase, cfg.Rate, cfg.Batch)

	r := &runner{cfg: cfg, servers: newServers(cfg.Repo, cfg.StackDir, cfg.PortBase)}
	_ = r.servers.stack("down") // a previous run's servers, if any
	if err := os.RemoveAll(cfg.StackDir); err != nil {
		return res, err
	}
	bin := filepath.Join(cfg.StackDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return res, err
	}
	fmt.Fprintf(w, "building the services\n")
	if err := build(ctx, cfg.Repo, bin); err != nil {
		return res, err
	}
	fmt.Fprintf(w, "starting ClickHouse and Kafka\n")
	if err := r.servers.stack("install"); err != nil { // a fresh clone: packages and Kafka jars
		return res, err
	}
	if err := r.servers.stack("up"); err != nil {
		return res, err
	}
	if !cfg.Keep {
		defer func() { _ = r.servers.stack("down") }()
	}

	keys := filepath.Join(cfg.StackDir, "keys.json")
	const org, ws = "org-chaos", "ws-chaos"
	key, err := newKey(filepath.Join(bin, "logpipectl"), keys, org, ws)
	if err != nil {
		return res, err
	}
	addr := func(off int) string { return "127.0.0.1:" + strconv.Itoa(cfg.PortBase+off) }
	ingestAddr, queryAddr, consumerAddr := addr(10), addr(11), addr(12)
	env := append(os.Environ(),
		"LOGPIPE_KAFKA_BROKERS="+addr(3),
		"LOGPIPE_CLICKHOUSE_ADDR="+addr(0), "LOGPIPE_CLICKHOUSE_DATABASE=logpipe",
		"LOGPIPE_KEYS_FILE="+keys,
		"LOGPIPE_SIGNING_KEYS=chaos:chaos-signing-key-0123456789abcdef",
		"LOGPIPE_PUBLIC_URL=http://"+queryAddr,
		"LOGPIPE_EXPORT_DIR="+filepath.Join(cfg.StackDir, "exports"),
		"LOGPIPE_EXPORT_LEASE=10s",
		"LOGPIPE_INGEST_ADDR="+ingestAddr, "LOGPIPE_QUERY_ADDR="+queryAddr, "LOGPIPE_CONSUMER_ADDR="+consumerAddr,
		"LOGPIPE_QUERY_URL=http://"+queryAddr,
		"LOGPIPE_LOG_LEVEL=warn",
		"LOGPIPE_INGEST_PRODUCE_TIMEOUT=5s",
		"LOGPIPE_CONSUMER_SESSION_TIMEOUT=6s",
		"LOGPIPE_CONSUMER_BATCH_AGE=300ms",
		"LOGPIPE_CONSUMER_INSERT_TIMEOUT=5s",
		"LOGPIPE_CONSUMER_RETRY_MAX=2s",
		"LOGPIPE_CONSUMER_LAG_INTERVAL=1s",
		"LOGPIPE_CONSUMER_RETENTION_INTERVAL=0",
		"LOGPIPE_DRAIN_TIMEOUT=20s",
	)
	for _, a := range []string{ingestAddr, queryAddr, consumerAddr} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return res, fmt.Errorf("the run's service address %s is taken (another run, or a process left behind?): %w", a, err)
		}
		ln.Close()
	}
	mk := func(name, addr string) *service {
		return &service{name: name, bin: filepath.Join(bin, name), addr: addr, env: env,
			logFile: filepath.Join(cfg.StackDir, name+".log"), logw: w}
	}
	r.query, r.consumer, r.ingest = mk("query", queryAddr), mk("consumer", consumerAddr), mk("ingest", ingestAddr)
	for _, s := range []*service{r.query, r.consumer, r.ingest} {
		if err := s.start(); err != nil {
			return res, err
		}
	}
	defer func() {
		for _, s := range []*service{r.ingest, r.consumer, r.query} {
			if err := s.shutdown(); err != nil {
				fmt.Fprintf(w, "  ! %v\n", err)
			}
		}
	}()

	// load and faults
	run := strconv.FormatUint(cfg.Seed, 36)
	l := newLoad("http://"+ingestAddr, key, run, cfg.Rate, cfg.Batch, cfg.Attempts)
	start := time.Now().Add(-time.Second)
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { l.drive(lctx); close(loadDone) }()
	fmt.Fprintf(w, "load running; faults:\n")
	faults, ferr := r.inject(ctx, rng, w)
	res.Faults = faults
	if ferr == nil {
		select {
		case <-time.After(cfg.Tail):
		case <-ctx.Done():
			ferr = ctx.Err()
		}
	}
	stopLoad()
	fmt.Fprintf(w, "load stopped; waiting for the clients still retrying\n")
	<-loadDone
	if ferr != nil {
		return res, ferr
	}
	end := time.Now().Add(time.Second)

	// the backlog drains: lag back to zero
	fmt.Fprintf(w, "waiting for the consumer's lag to return to zero\n")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, err := lag(consumerAddr, "logpipe.logs")
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("consumer lag still %v (%v) 3 minutes after the load stopped", n, err))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	// the audit
	fmt.Fprintf(w, "auditing through the public API\n")
	a := &api{base: "http://" + queryAddr, key: key, client: &timeoutClient}
	q := map[string][]string{"time_of_generation_min": {start.UTC().Format(time.RFC3339Nano)}, "time_of_generation_max": {end.UTC().Format(time.RFC3339Nano)}}
	// Quiescence: the consumer's lag is read from Kafka and can reach zero a
	// moment before the last insert a restarted server finishes is visible;
	// wait (at most a minute) until the visible count holds still for 3 s.
	for prev, settle := uint64(0), time.Now().Add(time.Minute); time.Now().Before(settle); {
		n, err := a.graphTotal(q)
		if err == nil && n == prev && n > 0 {
			break
		}
		prev = n
		time.Sleep(3 * time.Second)
	}
	listed, total, err := a.listing(q)
	if err != nil {
		return res, fmt.Errorf("listing: %w", err)
	}
	res.Total = total
	if res.Graph, err = a.graphTotal(q); err != nil {
		return res, fmt.Errorf("requests graph: %w", err)
	}
	if res.Group, err = a.groupRequests(q, "chaos_run", run); err != nil {
		return res, fmt.Errorf("metadata group: %w", err)
	}
	exported, err := a.export(start, end)
	if err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	res.Exported = len(exported)

	outcomes := l.outcomes()
	res.Requests, res.Retries = l.requests.Load(), l.retries.Load()
	l.mu.Lock()
	res.Statuses = l.status
	l.mu.Unlock()
	res.Offered = len(outcomes)
	res.Visible = len(listed)
	doubled := map[string]bool{}
	for id, n := range listed {
		if n > 1 {
			doubled[id] = true
		}
		if _, ok := outcomes[id]; !ok {
			res.Unexpected++
		}
	}
	notListed, notListedAcked := 0, 0
	for id, n := range exported {
		if n > 1 {
			doubled[id] = true
		}
		if listed[id] == 0 {
			notListed++
			if outcomes[id] == acked {
				notListedAcked++
			}
		}
	}
	if notListed > 0 {
		// read the listing again, to tell a listing that skips rows for a
		// while (until parts merge) from one that never shows them
		time.Sleep(10 * time.Second)
		again, _, err := a.listing(q)
		still := 0
		for id := range exported {
			if err == nil && again[id] == 0 {
				still++
			}
		}
		res.Mismatches = append(res.Mismatches, fmt.Sprintf(
			"%d ids of the export file (%d of them acknowledged) are missing from the listing; 10 s later %d still are (%v)",
			notListed, notListedAcked, still, err))
	}
	res.Doubled = len(doubled)
	for id, o := range outcomes {
		switch o {
		case acked:
			res.Acked++
			if listed[id] == 0 || exported[id] == 0 {
				res.Lost++
			}
		default:
			res.Unacked++
			if listed[id] > 0 {
				res.UnackedVisible++
			}
		}
	}
	for name, got := range map[string]uint64{"the listing's total": res.Total, "the requests graph": res.Graph, "the group": res.Group, "the export file": uint64(res.Exported)} {
		if got != uint64(res.Visible) {
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("%s counts %d; the listing shows %d distinct ids", name, got, res.Visible))
		}
	}
	for _, s := range []*service{r.ingest, r.consumer, r.query} {
		s.mu.Lock()
		res.Unplanned[s.name] = s.unplanned
		s.mu.Unlock()
	}
	if len(res.Mismatches) > 20 {
		res.Mismatches = append(res.Mismatches[:20], fmt.Sprintf("... and %d more", len(res.Mismatches)-20))
	}
	return res, nil
}

func main() {
	repo, _ := os.Getwd()
	var cfg Config
	off, _ := strconv.Atoi(os.Getenv("LOGPIPE_TEST_PORT_OFFSET"))
	flag.StringVar(&cfg.Repo, "repo", repo, "repository root")
	flag.StringVar(&cfg.StackDir, "stack-dir", filepath.Join(repo, ".stack/chaos"), "the run's stack directory (wiped at start)")
	flag.IntVar(&cfg.PortBase, "port-base", 19600+off, "ClickHouse native port of the run; the other ports follow it")
	flag.IntVar(&cfg.Rate, "rate", 200, "events offered per second")
	flag.IntVar(&cfg.Batch, "batch", 10, "events per request")
	flag.IntVar(&cfg.Attempts, "attempts", 8, "attempts of one batch (same ids) before the client gives up on it")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "times the whole fault schedule runs")
	flag.DurationVar(&cfg.Gap, "gap", 8*time.Second, "mean pause between faults")
	flag.DurationVar(&cfg.Pause, "pause", 15*time.Second, "how long ClickHouse stays SIGSTOPped (longer than the consumer's 5s insert timeout)")
	flag.DurationVar(&cfg.Tail, "tail", 10*time.Second, "load after the last fault")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "random seed (the schedule and the gaps)")
	flag.BoolVar(&cfg.Keep, "keep", false, "leave ClickHouse and Kafka running at the end")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, os.Stdout)
	res.Print(os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if !res.OK() {
		os.Exit(1)
	}
}

// syncWriter serialises writes.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
