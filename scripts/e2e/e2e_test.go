package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"logpipe/lib/logevent"
	"logpipe/lib/openapicheck"
	"logpipe/lib/testenv"
)

func do(t *testing.T, method, url, key string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctxTimeout(t, 30*time.Second), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-portkey-api-key", key)
	resp, err := openapicheck.Load(t).Client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type listPage struct {
	Object string `json:"object"`
	Total  int    `json:"total"`
	Data   []struct {
		ID      string `json:"id"`
		TraceID string `json:"trace_id"`
	} `json:"data"`
}

func list(t *testing.T, base, key, query string) (int, listPage) {
	t.Helper()
	code, b := do(t, http.MethodGet, base+"/v1/logs?"+query, key, nil)
	var p listPage
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("list: %v: %s", err, b)
		}
	}
	return code, p
}

func event(trace string) logevent.Event {
	e := logevent.New()
	e.ID = logevent.NewID()
	e.CreatedAt = logevent.MillisOf(time.Now())
	e.AIOrg, e.AIModel = "openai", "gpt-4o"
	e.ReqUnits, e.ResUnits, e.TotalUnits = 10, 5, 15
	e.Cost, e.ResponseTime = 0.12, 420
	e.TraceID = trace
	e.EndpointType = "chat/completions"
	e.RequestBody = logevent.RawJSON(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	e.ResponseBody = logevent.RawJSON(`{"choices":[{"message":{"role":"assistant","content":"hello"}}]}`)
	e.MetadataKey, e.MetadataValue = []string{"env"}, []string{"e2e"}
	return e
}

// TestEndToEnd is the walking skeleton's promise: a log POSTed to ingest,
// directly and through the one base URL, is listed by query, never across
// workspaces, once even when retried; and the official SDK works unchanged.
func TestEndToEnd(t *testing.T) {
	s := startStack(t)
	trace := testenv.Name("trace")
	direct, proxied := event(trace), event(trace)

	t.Run("post direct and through the base URL, then listed", func(t *testing.T) {
		if code, b := do(t, http.MethodPost, s.IngestURL+"/v1/logs", s.KeyA, direct); code != http.StatusOK {
			t.Fatalf("POST ingest: %d %s", code, b)
		}
		posted := time.Now()
		if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyA, []logevent.Event{proxied}); code != http.StatusOK {
			t.Fatalf("POST base URL: %d %s", code, b)
		}
		fresh := eventually(t, 60*time.Second, func() error {
			code, p := list(t, s.BaseURL, s.KeyA, "page_size=50&trace_id="+trace)
			if code != http.StatusOK {
				return fmt.Errorf("list: %d", code)
			}
			seen := map[string]bool{}
			for _, l := range p.Data {
				seen[l.ID] = true
			}
			if !seen[direct.ID] || !seen[proxied.ID] {
				return fmt.Errorf("listed %v; want %s and %s", p.Data, direct.ID, proxied.ID)
			}
			return nil
		})
		t.Logf("freshness: both logs listed %s after the 2xx", fresh.Round(time.Millisecond))
		_ = posted
		// The query service answers the same list directly.
		if code, p := list(t, s.QueryURL, s.KeyA, "trace_id="+trace); code != http.StatusOK || p.Total != 2 {
			t.Errorf("query direct: %d total %d; want 200 total 2", code, p.Total)
		}
	})

	t.Run("detail, and nothing across workspaces", func(t *testing.T) {
		code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+direct.ID, s.KeyA, nil)
		if code != http.StatusOK || !bytes.Contains(b, []byte(direct.ID)) {
			t.Fatalf("detail: %d %s", code, b)
		}
		if code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+direct.ID, s.KeyB, nil); code != http.StatusNotFound {
			t.Errorf("detail with workspace B's key: %d %s; want 404", code, b)
		}
		if code, p := list(t, s.BaseURL, s.KeyB, "page_size=50"); code != http.StatusOK || p.Total != 0 {
			t.Errorf("workspace B's list: %d %+v; want 200 and nothing", code, p)
		}
		if code, _ := do(t, http.MethodGet, s.BaseURL+"/v1/logs", "lp_not_a_key", nil); code != http.StatusUnauthorized {
			t.Errorf("unknown key: %d; want 401", code)
		}
	})

	t.Run("a retried POST with the same id is listed once", func(t *testing.T) {
		retried := event(testenv.Name("retry"))
		for i := 0; i < 3; i++ {
			if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyA, retried); code != http.StatusOK {
				t.Fatalf("POST %d: %d %s", i, code, b)
			}
		}
		marker := event(retried.TraceID) // posted after the retries: once it is listed, so are they
		if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyA, marker); code != http.StatusOK {
			t.Fatalf("POST marker: %d %s", code, b)
		}
		eventually(t, 60*time.Second, func() error {
			_, p := list(t, s.BaseURL, s.KeyA, "trace_id="+retried.TraceID)
			if p.Total < 2 {
				return fmt.Errorf("total %d", p.Total)
			}
			return nil
		})
		time.Sleep(2 * time.Second) // let any late duplicate land
		if _, p := list(t, s.BaseURL, s.KeyA, "trace_id="+retried.TraceID); p.Total != 2 || len(p.Data) != 2 {
			t.Errorf("after 3 POSTs of one id and a marker: total %d, %d rows; want 2 and 2", p.Total, len(p.Data))
		}
	})

	t.Run("an NDJSON stream of ids without time and no created_at, posted twice, is listed once", func(t *testing.T) {
		trace := testenv.Name("ndjson")
		var body bytes.Buffer
		n := 0
		for kind, gen := range map[string]func(i int) string{
			"uuidv5": func(i int) string { return uuid.NewSHA1(uuid.NameSpaceOID, []byte(trace+strconv.Itoa(i))).String() },
			"uuidv4": func(int) string { return uuid.NewString() },
			"random": func(i int) string { return fmt.Sprintf("gw-%s-%d", trace, i) },
		} {
			for i := 0; i < 100; i++ {
				line := fmt.Sprintf(`{"id":%q,"trace_id":%q,"ai_model":%q,"request.body":{"n":%d}}`, gen(i), trace, kind, i)
				body.WriteString(line + "\n")
				n++
			}
		}
		for attempt := 0; attempt < 2; attempt++ {
			req, _ := http.NewRequest(http.MethodPost, s.BaseURL+"/v1/logs", bytes.NewReader(body.Bytes()))
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set("x-portkey-api-key", s.KeyA)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST NDJSON attempt %d: %d %s", attempt, resp.StatusCode, b)
			}
			time.Sleep(1100 * time.Millisecond) // the second copy gets another arrival time
		}
		marker := event(trace)
		if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyA, marker); code != http.StatusOK {
			t.Fatalf("POST marker: %d %s", code, b)
		}
		eventually(t, 60*time.Second, func() error {
			code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+marker.ID, s.KeyA, nil)
			if code != http.StatusOK {
				return fmt.Errorf("marker: %d %s", code, b)
			}
			return nil
		})
		time.Sleep(2 * time.Second) // let any late copy land
		if _, p := list(t, s.BaseURL, s.KeyA, "page_size=500&trace_id="+trace); p.Total != n+1 || len(p.Data) != n+1 {
			t.Errorf("after posting %d events twice and a marker: total %d, %d rows; want %d", n, p.Total, len(p.Data), n+1)
		}
	})

	// Both official SDKs run every call they have against the base URL,
	// through a proxy that checks every answer against the OpenAPI document.
	sdkBase := validatingProxy(t, s.BaseURL) + "/v1"
	t.Run("official SDK (npm portkey-ai) against the base URL", func(t *testing.T) {
		dir := filepath.Join(testenv.RepoRoot(t), "scripts", "sdkcheck")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "portkey-ai")); err != nil {
			install := exec.Command("npm", "install", "--no-audit", "--no-fund")
			install.Dir = dir
			if out, err := install.CombinedOutput(); err != nil {
				t.Fatalf("npm install portkey-ai: %v\n%s", err, out)
			}
		}
		runSDKCheck(t, s, dir, sdkBase, "node", "check.mjs")
	})
	t.Run("official SDK (PyPI portkey-ai) against the base URL", func(t *testing.T) {
		dir := filepath.Join(testenv.RepoRoot(t), "scripts", "sdkcheck")
		venv := exec.Command("./venv.sh")
		venv.Dir = dir
		out, err := venv.Output()
		if err != nil {
			t.Fatalf("scripts/sdkcheck/venv.sh: %v", err)
		}
		runSDKCheck(t, s, dir, sdkBase, strings.TrimSpace(string(out)), "check.py")
	})
}

// runSDKCheck runs an SDK check script against base with workspace A's admin key.
func runSDKCheck(t *testing.T, s *stack, dir, base string, command ...string) {
	t.Helper()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LOGPIPE_BASE_URL="+base, "LOGPIPE_API_KEY="+s.KeyA)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("SDK check failed: %v\n%s\n--- ingest log\n%s\n--- query log\n%s", err, out,
			tail(filepath.Join(s.dir, "ingest.log")), tail(filepath.Join(s.dir, "query.log")))
	}
	t.Logf("SDK check: %s", out)
}

// validatingProxy serves base through a reverse proxy that checks every
// response against the OpenAPI document (a violation fails t), and returns
// its URL.
func validatingProxy(t *testing.T, base string) string {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = openapicheck.Load(t).Transport(t, nil)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}
