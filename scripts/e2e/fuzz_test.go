package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"logpipe/lib/testenv"
)

// Fuzzing budget: schemathesis stops generating after fuzzTime (the run as a
// whole, every phase) or fuzzExamples cases per operation and phase.
const (
	fuzzTime     = 150 * time.Second
	fuzzExamples = 25
	fuzzSeed     = 16
)

// TestFuzzAgainstTheDocument runs schemathesis (pinned in
// scripts/sdkcheck/requirements.txt) against schemas/openapi/openapi.yaml on
// the running stack through the one base URL: property-based requests to
// every operation, positive and negative. It fails on any 5xx, any response
// the document does not describe (status, content type, body, headers), and
// any request that takes longer than the request timeout (a hang).
func TestFuzzAgainstTheDocument(t *testing.T) {
	s := startStack(t)
	trace := testenv.Name("fuzz")
	for i := 0; i < 20; i++ {
		if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyA, event(trace)); code != http.StatusOK {
			t.Fatalf("seed POST: %d %s", code, b)
		}
	}
	eventually(t, 60*time.Second, func() error {
		if _, p := list(t, s.BaseURL, s.KeyA, "trace_id="+trace); p.Total < 20 {
			return fmt.Errorf("%d seeded logs listed", p.Total)
		}
		return nil
	})

	root := testenv.RepoRoot(t)
	venv := exec.Command("./venv.sh")
	venv.Dir = filepath.Join(root, "scripts", "sdkcheck")
	out, err := venv.Output()
	if err != nil {
		t.Fatalf("scripts/sdkcheck/venv.sh: %v", err)
	}
	bin := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "schemathesis")
	events := filepath.Join(t.TempDir(), "events.ndjson")
	cmd := exec.Command(bin, "run", filepath.Join(root, "schemas", "openapi", "openapi.yaml"),
		"--url", s.BaseURL,
		"--header", "x-portkey-api-key: "+s.KeyA,
		"--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
		"--max-time", fmt.Sprint(int(fuzzTime.Seconds())),
		"--max-examples", fmt.Sprint(fuzzExamples),
		"--seed", fmt.Sprint(fuzzSeed),
		"--request-timeout", "20",
		"--workers", "2",
		"--suppress-health-check", "all",
		"--report", "ndjson", "--report-ndjson-path", events,
	)
	cmd.Dir = t.TempDir() // schemathesis keeps a cache directory in its working directory
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "SCHEMATHESIS_TELEMETRY=false")
	started := time.Now()
	res, err := cmd.CombinedOutput()
	requests := countRequests(t, events)
	t.Logf("schemathesis: %d requests in %s\n%s", requests, time.Since(started).Round(time.Second), res)
	if err != nil {
		t.Fatalf("schemathesis found problems (%v):\n%s\n--- ingest log\n%s\n--- query log\n%s", err, res,
			tail(filepath.Join(s.dir, "ingest.log")), tail(filepath.Join(s.dir, "query.log")))
	}
	if requests < 500 {
		t.Errorf("schemathesis sent %d requests; the budget should allow hundreds", requests)
	}
}

// countRequests counts the requests recorded in schemathesis's NDJSON events
// (each case's interactions).
func countRequests(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Logf("no schemathesis events: %v", err)
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		for _, v := range ev {
			n += strings.Count(string(v), `"request":`)
		}
	}
	return n
}
