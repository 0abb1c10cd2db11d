package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/chconn"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

// stack is one running logpipe: ingest, consumer, query and the nginx base URL
// over a fresh database and fresh topics of the test servers.
type stack struct {
	BaseURL   string // the one base URL (nginx), without /v1
	IngestURL string
	QueryURL  string
	KeyA      string // admin of workspace ws-a (org-a, production)
	KeyA2     string // member of workspace ws-a
	KeyB      string // admin of workspace ws-b (org-b, production)
	KeyC      string // admin of org-c's own workspace named ws-a (production): A's workspace name, another tenant
	LogsTopic string
	CH        driver.Conn // the stack's database
	Env       []string    // the services' environment
	Ingest    *exec.Cmd
	// ConsumerURL serves the consumer's /readyz and /metrics.
	ConsumerURL string
	// ClickHouse is the test database the services use.
	ClickHouse chconn.Config
	dir        string
	root       string
}

// buildBinaries builds the three services once per test binary.
func buildBinaries(t *testing.T, root, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./services/ingest", "./services/consumer", "./services/query")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build services: %v\n%s", err, out)
	}
}

func startStack(t *testing.T) *stack {
	t.Helper()
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	buildBinaries(t, root, dir)

	ch, conn := testenv.ClickHouse(t)
	logsTopic := testenv.Topic(t, "e2e_logs", 6)
	fbTopic := testenv.Topic(t, "e2e_feedback", 3)
	dlqTopic := testenv.Topic(t, "e2e_dlq", 3)

	s := &stack{dir: dir, root: root, LogsTopic: logsTopic, CH: conn, ClickHouse: ch}
	keys := filepath.Join(dir, "keys.json")
	var err error
	if s.KeyA, _, err = tenant.AddKey(keys, "org-a", "ws-a", tenant.RoleAdmin, tenant.PlanProduction); err != nil {
		t.Fatal(err)
	}
	if s.KeyA2, _, err = tenant.AddKey(keys, "org-a", "ws-a", tenant.RoleMember, tenant.PlanProduction); err != nil {
		t.Fatal(err)
	}
	if s.KeyB, _, err = tenant.AddKey(keys, "org-b", "ws-b", tenant.RoleAdmin, tenant.PlanProduction); err != nil {
		t.Fatal(err)
	}
	if s.KeyC, _, err = tenant.AddKey(keys, "org-c", "ws-a", tenant.RoleAdmin, tenant.PlanProduction); err != nil {
		t.Fatal(err)
	}

	ingestAddr, queryAddr, consumerAddr, proxyAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	s.BaseURL, s.IngestURL, s.QueryURL = "http://"+proxyAddr, "http://"+ingestAddr, "http://"+queryAddr
	s.ConsumerURL = "http://" + consumerAddr
	env := append(os.Environ(),
		"LOGPIPE_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(t), ","),
		"LOGPIPE_LOGS_TOPIC="+logsTopic, "LOGPIPE_FEEDBACK_TOPIC="+fbTopic, "LOGPIPE_DLQ_TOPIC="+dlqTopic,
		"LOGPIPE_CLICKHOUSE_ADDR="+ch.Addr, "LOGPIPE_CLICKHOUSE_DATABASE="+ch.Database,
		"LOGPIPE_KEYS_FILE="+keys,
		"LOGPIPE_SIGNING_KEYS=e2e:e2e-signing-key-0123456789abcdef",
		"LOGPIPE_PUBLIC_URL="+s.BaseURL,
		"LOGPIPE_EXPORT_DIR="+filepath.Join(dir, "exports"),
		"LOGPIPE_CONSUMER_GROUP="+testenv.Name("e2e"),
		"LOGPIPE_INGEST_ADDR="+ingestAddr, "LOGPIPE_QUERY_ADDR="+queryAddr, "LOGPIPE_CONSUMER_ADDR="+consumerAddr,
		"LOGPIPE_QUERY_URL="+s.QueryURL,
	)
	s.Env = env
	for _, svc := range []struct{ name, addr string }{{"query", queryAddr}, {"consumer", consumerAddr}, {"ingest", ingestAddr}} {
		cmd := startProcess(t, filepath.Join(dir, svc.name), env, filepath.Join(dir, svc.name+".log"))
		waitReady(t, svc.name, "http://"+svc.addr, filepath.Join(dir, svc.name+".log"))
		if svc.name == "ingest" {
			s.Ingest = cmd
		}
	}

	proxyEnv := append(os.Environ(), "LOGPIPE_STACK_DIR="+filepath.Join(dir, "proxy"),
		"LOGPIPE_PROXY_PORT="+proxyAddr[strings.LastIndexByte(proxyAddr, ':')+1:],
		"LOGPIPE_INGEST_ADDR="+ingestAddr, "LOGPIPE_QUERY_ADDR="+queryAddr)
	runScript(t, root, proxyEnv, "scripts/proxy.sh", "up")
	t.Cleanup(func() { runScript(t, root, proxyEnv, "scripts/proxy.sh", "down") })
	return s
}

func runScript(t *testing.T, root string, env []string, script string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, script), args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s %v: %v\n%s", script, args, err, out)
	}
}

// startProcess runs bin with env, output to logFile; at cleanup it sends
// SIGTERM and waits for a graceful exit (SIGKILL after 30 s, an error).
func startProcess(t *testing.T, bin string, env []string, logFile string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited uncleanly after SIGTERM: %v\n%s", filepath.Base(bin), err, tail(logFile))
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop within 30s of SIGTERM", filepath.Base(bin))
		}
		f.Close()
	})
	return cmd
}

// startQuery starts another query service of the stack on a port of its own
// with extra settings (another signing keyring, a share TTL) and returns its URL.
func (s *stack) startQuery(t *testing.T, name string, extra ...string) string {
	t.Helper()
	addr := testenv.FreeAddr(t)
	env := append(append(append([]string{}, s.Env...), "LOGPIPE_QUERY_ADDR="+addr, "LOGPIPE_MIGRATE=false"), extra...)
	logFile := filepath.Join(s.dir, name+".log")
	startProcess(t, filepath.Join(s.dir, "query"), env, logFile)
	waitReady(t, name, "http://"+addr, logFile)
	return "http://" + addr
}

func waitReady(t *testing.T, name, base, logFile string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 60s\n%s", name, tail(logFile))
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// eventually polls f every 100 ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not true after %s: %v", timeout, err)
	return 0
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var _ = fmt.Sprintf
