package charttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"logpipe/lib/chconn"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

// services are the three binaries, built from the workspace.
var services = []string{"ingest", "consumer", "query"}

// TestAlertAndDashboardMetricsAreExposed starts the three real services
// against the test ClickHouse and Kafka, sends a little traffic (logs,
// feedback, a listing, analytics, an export, a poison message), scrapes their
// /metrics and checks that every metric the alert rules and the dashboard name
// is exposed by one of them.
func TestAlertAndDashboardMetricsAreExposed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the three services")
	}
	wanted := namedMetrics(t)
	root := repoRoot(t)
	bin := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-o", bin + string(os.PathSeparator)}, packages()...)...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the services: %v\n%s", err, out)
	}

	ch, _ := testenv.ClickHouse(t)
	logs := testenv.Topic(t, "charts_logs", 3)
	feedback := testenv.Topic(t, "charts_feedback", 1)
	dlq := testenv.Topic(t, "charts_dlq", 1)
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	apiKey, _, err := tenant.AddKey(keysFile, "org-charts", "ws-charts", tenant.RoleAdmin, tenant.PlanEnterprise)
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	for _, s := range services {
		addr[s] = testenv.FreeAddr(t)
	}
	common := []string{
		"LOGPIPE_KAFKA_BROKERS=" + strings.Join(testenv.KafkaBrokers(t), ","),
		"LOGPIPE_LOGS_TOPIC=" + logs,
		"LOGPIPE_FEEDBACK_TOPIC=" + feedback,
		"LOGPIPE_DLQ_TOPIC=" + dlq,
		"LOGPIPE_CONSUMER_GROUP=" + testenv.Name("charts_group"),
		"LOGPIPE_CLICKHOUSE_ADDR=" + ch.Addr,
		"LOGPIPE_CLICKHOUSE_DATABASE=" + ch.Database,
		"LOGPIPE_CLICKHOUSE_USER=" + ch.User,
		"LOGPIPE_KEYS_FILE=" + keysFile,
		"LOGPIPE_SIGNING_KEYS=charts:charts-test-signing-key-0123456789",
		"LOGPIPE_PUBLIC_URL=http://" + addr["query"],
		"LOGPIPE_EXPORT_DIR=" + t.TempDir(),
		"LOGPIPE_LOG_LEVEL=info",
		"LOGPIPE_MIGRATE=false",
		"LOGPIPE_SHUTDOWN_DELAY=0s",
		"LOGPIPE_QUERY_URL=http://" + addr["query"],
	}
	for _, s := range services {
		env := append(slices.Clone(common), "LOGPIPE_"+strings.ToUpper(s)+"_ADDR="+addr[s])
		startService(t, filepath.Join(bin, s), env)
	}
	for _, s := range services {
		waitReady(t, s, "http://"+addr[s]+"/readyz")
	}
	// A second consumer group writing to a database without tables: its
	// inserts fail and are retried, as when ClickHouse refuses writes, so the
	// failure metrics the alerts watch appear without disturbing the shared
	// ClickHouse.
	broken := brokenDatabase(t, ch)
	brokenAddr := testenv.FreeAddr(t)
	startService(t, filepath.Join(bin, "consumer"), append(slices.Clone(common),
		"LOGPIPE_CONSUMER_ADDR="+brokenAddr,
		"LOGPIPE_CONSUMER_GROUP="+testenv.Name("charts_broken"),
		"LOGPIPE_CLICKHOUSE_DATABASE="+broken))
	addr["consumer (failing ClickHouse writes)"] = brokenAddr

	sendTraffic(t, addr, apiKey, logs)

	// The consumer inserts asynchronously: scrape until every wanted metric
	// is there or the deadline passes, then report what is missing.
	var missing []string
	exposedBy := map[string]string{}
	labelsOf := map[string]map[string]bool{}
	families := map[string]string{} // family -> its TYPE
	familyOf := map[string]string{} // family -> the service exposing it
	deadline := time.Now().Add(90 * time.Second)
	for {
		exposed := map[string]string{}
		for s, a := range addr {
			e := scrape(t, "http://"+a+"/metrics")
			for f, typ := range e.types {
				families[f] = typ
				familyOf[f], _, _ = strings.Cut(s, " ")
			}
			for name, labels := range e.samples {
				exposed[name], _, _ = strings.Cut(s, " ")
				if labelsOf[name] == nil {
					labelsOf[name] = map[string]bool{}
				}
				for l := range labels {
					labelsOf[name][l] = true
				}
			}
		}
		missing = missing[:0]
		for m := range wanted {
			if _, ok := exposed[m]; !ok {
				missing = append(missing, m)
			}
		}
		exposedBy = exposed
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("%s is named by the %s but no service exposes it", m, wanted[m])
	}
	if t.Failed() {
		var have []string
		for name, s := range exposedBy {
			if strings.HasPrefix(name, "logpipe_") {
				have = append(have, s+": "+name)
			}
		}
		slices.Sort(have)
		t.Logf("the services expose:\n%s", strings.Join(have, "\n"))
	}
	// Every label an alert or a panel matches on is one the metric carries
	// (or one Prometheus adds when it scrapes a pod).
	scrapeLabels := map[string]bool{"namespace": true, "pod": true, "instance": true, "job": true, "service": true, "container": true, "endpoint": true}
	for _, r := range parsePromQL(t, alertAndPanelQueries(t)) {
		for _, sel := range r.Selectors {
			if !strings.HasPrefix(sel.Metric, "logpipe_") || labelsOf[sel.Metric] == nil {
				continue
			}
			for _, m := range sel.Matchers {
				if !scrapeLabels[m.Label] && !labelsOf[sel.Metric][m.Label] {
					t.Errorf("%s matches %s%s%q on %s, which has no such label (it has %v)",
						r.Where, m.Label, m.Type, m.Value, sel.Metric, keys(labelsOf[sel.Metric]))
				}
			}
		}
		// ... and every label it groups by is carried by a metric it aggregates.
		for _, g := range r.Groupings {
			for _, l := range g.Labels {
				ok := scrapeLabels[l]
				for _, m := range g.Metrics {
					ok = ok || labelsOf[m][l]
				}
				if !ok {
					t.Errorf("%s groups by %s, which none of %v carries", r.Where, l, g.Metrics)
				}
			}
		}
	}
	checkMetricNaming(t, families, familyOf)
	// A metric of one service is named after it, so a dashboard panel built on
	// logpipe_ingest_... reads what ingest exposes.
	for m := range wanted {
		if s, ok := exposedBy[m]; ok && !strings.HasPrefix(m, "logpipe_"+s+"_") {
			t.Errorf("%s is exposed by %s: its name should start logpipe_%s_", m, s, s)
		}
	}
}

// checkMetricNaming: every logpipe metric the services expose is named
// logpipe_<service>_<what>_<unit> after the service exposing it, counters
// (and only counters) end in _total, and each is documented in the chart's
// README.
func checkMetricNaming(t *testing.T, families, familyOf map[string]string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for f, typ := range families {
		if !strings.HasPrefix(f, "logpipe_") {
			continue
		}
		s := familyOf[f]
		if !strings.HasPrefix(f, "logpipe_"+s+"_") {
			t.Errorf("%s is exposed by %s: its name should start logpipe_%s_", f, s, s)
		}
		if total := strings.HasSuffix(f, "_total"); total != (typ == "counter") {
			t.Errorf("%s is a %s: counters, and only counters, end in _total", f, typ)
		}
		if !bytes.Contains(readme, []byte("`"+f+"`")) {
			t.Errorf("%s (%s, exposed by %s) is not documented in charts/logpipe/README.md", f, typ, s)
		}
	}
}

// brokenDatabase creates an empty database (no tables) next to the test's
// one and drops it when the test ends.
func brokenDatabase(t *testing.T, cfg chconn.Config) string {
	t.Helper()
	cfg.Database = testenv.Name("charts_broken")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := chconn.Open(ctx, cfg, true)
	if err != nil {
		t.Fatalf("create the empty database: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+cfg.Database+"`")
		conn.Close()
	})
	return cfg.Database
}

func packages() []string {
	var out []string
	for _, s := range services {
		out = append(out, "./services/"+s)
	}
	return out
}

// startService runs a service binary until the test ends, then stops it with
// SIGTERM (its graceful drain) and waits for it.
func startService(t *testing.T, path string, env []string) {
	t.Helper()
	var clean []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LOGPIPE_") {
			clean = append(clean, e)
		}
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	cmd.Env = append(clean, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log (tail):\n%s", filepath.Base(path), b)
		}
	})
}

func waitReady(t *testing.T, name, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 60s: %s", name, last)
}

// call sends one request with the API key and returns the status and body.
func call(t *testing.T, method, url, apiKey, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-portkey-api-key", apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sendTraffic exercises every path whose metrics the rules and dashboard use.
func sendTraffic(t *testing.T, addr map[string]string, apiKey, logsTopic string) {
	t.Helper()
	ingest, query := "http://"+addr["ingest"], "http://"+addr["query"]
	var batch []string
	for i := range 5 {
		batch = append(batch, fmt.Sprintf(`{"request":{"url":"https://api.openai.com/v1/chat/completions","method":"post","provider":"openai","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hello %d"}]}},"response":{"status":200,"body":{"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}},"response_time":120},"metadata":{"trace_id":"charts-trace-%d","_user":"u%d"}}`, i, i, i%2))
	}
	if code, body := call(t, http.MethodPost, ingest+"/v1/logs", apiKey, "["+strings.Join(batch, ",")+"]"); code/100 != 2 {
		t.Fatalf("POST /v1/logs: %d %s", code, body)
	}
	// Rejected input, a client error the ingest metrics count by reason.
	call(t, http.MethodPost, ingest+"/v1/logs", apiKey, `{"request":`)
	call(t, http.MethodPost, ingest+"/v1/feedback", apiKey, `{"trace_id":"charts-trace-0","value":5}`)

	// A poison message straight into the logs topic: the consumer dead-letters it.
	w := &kafka.Writer{Addr: kafka.TCP(testenv.KafkaBrokers(t)...), Topic: logsTopic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("poison"), Value: []byte("{not json")}); err != nil {
		t.Fatalf("write poison message: %v", err)
	}
	_ = w.Close()

	// Reads: wait until the logs are listed, so insert metrics have moved.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := call(t, http.MethodGet, ingest+"/v1/logs?page_size=10", apiKey, "")
		if code == http.StatusOK && strings.Contains(body, "charts-trace-4") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 5 logs were not listed after 60s: %d %s", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	call(t, http.MethodGet, query+"/v1/logs?page_size=10", apiKey, "")
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	call(t, http.MethodGet, query+"/v1/analytics/graphs/requests?time_of_generation_min="+from+"&time_of_generation_max="+to, apiKey, "")
	call(t, http.MethodGet, query+"/v1/analytics/graphs/latency?time_of_generation_min="+from+"&time_of_generation_max="+to, apiKey, "")

	// An export job, started and left to finish.
	code, body := call(t, http.MethodPost, query+"/v1/logs/exports", apiKey,
		fmt.Sprintf(`{"workspace_id":"ws-charts","filters":{"time_of_generation_min":%q,"time_of_generation_max":%q},"requested_data":["id","created_at","ai_model","cost"],"description":"charts metrics test"}`, from, to))
	if code/100 == 2 {
		id := jsonField(body, "id")
		call(t, http.MethodPost, query+"/v1/logs/exports/"+id+"/start", apiKey, "")
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			_, body := call(t, http.MethodGet, query+"/v1/logs/exports/"+id, apiKey, "")
			if s := jsonField(body, "status"); s == "success" || s == "failed" {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	} else {
		t.Logf("POST /v1/logs/exports: %d %s", code, body)
	}
	// A 404 of an unknown export, so the query error paths move too.
	call(t, http.MethodGet, query+"/v1/logs/exports/no-such-export", apiKey, "")
}

// jsonField returns the top-level string field name of a JSON object body.
func jsonField(body, name string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}

// exposition is one scrape of /metrics.
type exposition struct {
	// samples maps each sample name (and each family name of a TYPE line)
	// to the label names its samples carry.
	samples map[string]map[string]bool
	// types maps each family to its TYPE (counter, gauge, histogram, ...).
	types map[string]string
}

// scrape reads a Prometheus text exposition.
func scrape(t *testing.T, url string) exposition {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %v", url, resp.StatusCode, err)
	}
	e := exposition{samples: map[string]map[string]bool{}, types: map[string]string{}}
	add := func(name string) map[string]bool {
		if e.samples[name] == nil {
			e.samples[name] = map[string]bool{}
		}
		return e.samples[name]
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				add(f[0])
				e.types[f[0]] = f[1]
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			continue
		}
		labels := add(line[:end])
		if line[end] == '{' {
			for _, l := range labelNames(line[end+1:]) {
				labels[l] = true
			}
		}
	}
	return e
}

// labelNames returns the label names of `a="x",b="y\"z"} 1`.
func labelNames(s string) []string {
	var out []string
	for len(s) > 0 && s[0] != '}' {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		out = append(out, strings.TrimLeft(s[:eq], ", "))
		s = s[eq+1:]
		if len(s) == 0 || s[0] != '"' {
			break
		}
		i := 1
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		s = strings.TrimLeft(s[min(i+1, len(s)):], ",")
	}
	return out
}
