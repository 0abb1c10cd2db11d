package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"logpipe/lib/logevent"
	"logpipe/lib/testenv"
)

// The attacks of an outsider and of another organisation against a running
// stack: every one must end in a refusal or an empty answer, never in data.
func TestAttacks(t *testing.T) {
	s := startStack(t)
	const secret = "sk-live-SECRET0123456789"
	trace := testenv.Name("shared-trace")

	// org-a's log: credentials in its headers and URL.
	insert := map[string]any{
		"request": map[string]any{
			"url":    "https://generativelanguage.googleapis.com/v1/models/gemini:generate?key=" + secret + "&alt=sse",
			"method": "POST",
			"headers": map[string]any{"Authorization": "Bearer " + secret, "x-api-key": secret,
				"Content-Type": "application/json"},
			"body":     map[string]any{"model": "gemini", "messages": []any{map[string]any{"role": "user", "content": "org-a private prompt"}}},
			"provider": "google",
		},
		"response": map[string]any{"status": 200, "headers": map[string]any{"set-cookie": "session=" + secret},
			"body": map[string]any{"choices": []any{}}, "response_time": 120},
		"metadata": map[string]any{"trace_id": trace, "_user": "alice"},
	}
	code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyA, insert)
	if code != http.StatusOK {
		t.Fatalf("POST org-a log: %d %s", code, b)
	}
	var ins struct {
		LogIDs []string `json:"log_ids"`
	}
	if err := json.Unmarshal(b, &ins); err != nil || len(ins.LogIDs) != 1 {
		t.Fatalf("insert answer %s: %v", b, err)
	}
	idA := ins.LogIDs[0]
	// org-c (workspace also named ws-a) posts a log with the same id and trace id.
	evC := event(trace)
	evC.ID, evC.AIModel = idA, "org-c-model"
	evC.RequestBody = logevent.RawJSON(`{"note":"org-c's own log"}`)
	if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs", s.KeyC, evC); code != http.StatusOK {
		t.Fatalf("POST org-c log: %d %s", code, b)
	}
	for _, k := range []string{s.KeyA, s.KeyC} {
		eventually(t, 60*time.Second, func() error {
			if _, p := list(t, s.BaseURL, k, "trace_id="+trace); p.Total != 1 {
				return fmt.Errorf("total %d; want 1", p.Total)
			}
			return nil
		})
	}

	t.Run("credentials never reach Kafka, ClickHouse, the API or an export", func(t *testing.T) {
		seen := 0
		for p := 0; p < 6; p++ {
			pr := kafka.NewReader(kafka.ReaderConfig{Brokers: testenv.KafkaBrokers(t), Topic: s.LogsTopic, Partition: p, MaxWait: 200 * time.Millisecond})
			conn, err := kafka.DialLeader(context.Background(), "tcp", testenv.KafkaBrokers(t)[0], s.LogsTopic, p)
			if err != nil {
				t.Fatal(err)
			}
			last, err := conn.ReadLastOffset()
			conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			for off := int64(0); off < last; off++ {
				m, err := pr.ReadMessage(ctxTimeout(t, 10*time.Second))
				if err != nil {
					t.Fatalf("read partition %d: %v", p, err)
				}
				seen++
				if bytes.Contains(m.Value, []byte("SECRET0123456789")) {
					t.Errorf("a credential reached Kafka: partition %d offset %d: %s", p, m.Offset, m.Value)
				}
			}
			pr.Close()
		}
		if seen < 2 {
			t.Fatalf("read %d messages from the logs topic; want both logs", seen)
		}
		var n uint64
		if err := s.CH.QueryRow(context.Background(), "SELECT count() FROM logs WHERE position(`request.headers`, 'SECRET') > 0 OR position(`response.headers`, 'SECRET') > 0 OR position(request_url, 'SECRET') > 0").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d rows in ClickHouse carry the credential", n)
		}
		code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+idA, s.KeyA, nil)
		if code != http.StatusOK || bytes.Contains(b, []byte("SECRET")) || !bytes.Contains(b, []byte(logevent.Redacted)) {
			t.Errorf("detail: %d %s; want the credentials shown as %s", code, b, logevent.Redacted)
		}
		file := exportAll(t, s, s.KeyA, []string{"request_url", "request.body"})
		if bytes.Contains(file, []byte("SECRET")) || !bytes.Contains(file, []byte("org-a private prompt")) {
			t.Errorf("export file: %s", file)
		}
	})

	t.Run("another organisation with the same workspace name, id and trace id", func(t *testing.T) {
		code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+idA, s.KeyC, nil)
		if code != http.StatusOK || !bytes.Contains(b, []byte("org-c-model")) || bytes.Contains(b, []byte("org-a private")) {
			t.Errorf("org-c opening the shared id: %d %s; want its own log", code, b)
		}
		// Feedback org-c posts on the shared trace id attaches to org-c only.
		if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/feedback", s.KeyC, map[string]any{"trace_id": trace, "value": -10}); code != http.StatusOK {
			t.Fatalf("org-c feedback: %d %s", code, b)
		}
		if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/feedback", s.KeyA, map[string]any{"trace_id": trace, "value": 7}); code != http.StatusOK {
			t.Fatalf("org-a feedback: %d %s", code, b)
		}
		for key, want := range map[string]float64{s.KeyA: 7, s.KeyC: -10} {
			eventually(t, 60*time.Second, func() error {
				_, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+idA, key, nil)
				var d struct {
					Feedback []struct {
						Value float64 `json:"value"`
					} `json:"feedback"`
				}
				if err := json.Unmarshal(b, &d); err != nil {
					return err
				}
				if len(d.Feedback) != 1 || d.Feedback[0].Value != want {
					return fmt.Errorf("feedback %+v; want one of value %v", d.Feedback, want)
				}
				return nil
			})
		}
		rng := "time_of_generation_min=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)) +
			"&time_of_generation_max=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
		for _, path := range []string{"/v1/analytics/graphs/requests", "/v1/analytics/graphs/feedbacks", "/v1/analytics/groups/users", "/v1/analytics/summary/cache"} {
			code, b := do(t, http.MethodGet, s.BaseURL+path+"?"+rng, s.KeyC, nil)
			if code != http.StatusOK || bytes.Contains(b, []byte("alice")) {
				t.Errorf("org-c %s: %d %s", path, code, b)
			}
		}
		var g struct {
			Summary map[string]any `json:"summary"`
		}
		_, b = do(t, http.MethodGet, s.BaseURL+"/v1/analytics/graphs/requests?"+rng, s.KeyC, nil)
		_ = json.Unmarshal(b, &g)
		if g.Summary["total"] != float64(1) {
			t.Errorf("org-c requests graph: %s; want a total of 1", b)
		}
		// org-a's export: invisible to org-c by every route.
		c := createExport(t, s, s.KeyA, nil)
		code, b = do(t, http.MethodPost, s.BaseURL+"/v1/logs/exports", s.KeyC, map[string]any{"workspace_id": "ws-a", "filters": map[string]any{}})
		if code != http.StatusOK || !bytes.Contains(b, []byte(`"total":1`)) {
			t.Errorf("org-c export of its ws-a: %d %s; want a total of 1 (its own log)", code, b)
		}
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/v1/logs/exports/" + c}, {http.MethodPut, "/v1/logs/exports/" + c},
			{http.MethodPost, "/v1/logs/exports/" + c + "/start"}, {http.MethodPost, "/v1/logs/exports/" + c + "/cancel"},
			{http.MethodGet, "/v1/logs/exports/" + c + "/download"},
		} {
			if code, b := do(t, r.method, s.BaseURL+r.path, s.KeyC, map[string]any{"description": "x"}); code != http.StatusNotFound {
				t.Errorf("org-c %s %s: %d %s; want 404", r.method, r.path, code, b)
			}
		}
		_, b = do(t, http.MethodGet, s.BaseURL+"/v1/logs/exports", s.KeyC, nil)
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("org-c's export list shows org-a's export: %s", b)
		}
		// org-a's share link opens for org-a and is not found for org-c.
		share := shareURL(t, s, s.KeyA, idA)
		if code, _ := do(t, http.MethodGet, share, s.KeyA2, nil); code != http.StatusOK {
			t.Errorf("share link with another key of org-a: %d; want 200", code)
		}
		if code, _ := do(t, http.MethodGet, share, s.KeyC, nil); code != http.StatusNotFound {
			t.Errorf("share link with org-c's key: %d; want 404", code)
		}
		// A signed download URL re-pointed at another organisation is refused.
		dl := downloadURL(t, s, s.KeyA, exportAllID(t, s, s.KeyA))
		u, _ := url.Parse(dl)
		q := u.Query()
		q.Set("organisation_id", "org-c")
		u.RawQuery = q.Encode()
		if code, _ := do(t, http.MethodGet, u.String(), "", nil); code != http.StatusForbidden {
			t.Errorf("download URL re-pointed at org-c: %d; want 403", code)
		}
	})

	t.Run("forged and expired share links and download URLs; key rotation", func(t *testing.T) {
		share := shareURL(t, s, s.KeyA, idA)
		dl := downloadURL(t, s, s.KeyA, exportAllID(t, s, s.KeyA))
		rel := func(u string) string { p, _ := url.Parse(u); return p.RequestURI() }
		// Rotated: a new current key, the old one kept: links minted before still work.
		rotated := s.startQuery(t, "query-rotated", "LOGPIPE_SIGNING_KEYS=e2e2:rotated-signing-key-0123456789,e2e:e2e-signing-key-0123456789abcdef")
		if code, b := do(t, http.MethodGet, rotated+rel(share), s.KeyA2, nil); code != http.StatusOK {
			t.Errorf("share link after rotation: %d %s; want 200", code, b)
		}
		if code, _ := do(t, http.MethodGet, rotated+rel(dl), "", nil); code != http.StatusOK {
			t.Errorf("download URL after rotation: %d; want 200", code)
		}
		// The old key removed: its links are refused.
		retired := s.startQuery(t, "query-retired", "LOGPIPE_SIGNING_KEYS=e2e2:rotated-signing-key-0123456789")
		if code, _ := do(t, http.MethodGet, retired+rel(share), s.KeyA2, nil); code != http.StatusNotFound {
			t.Errorf("share link of a removed key: %d; want 404", code)
		}
		if code, _ := do(t, http.MethodGet, retired+rel(dl), "", nil); code != http.StatusForbidden {
			t.Errorf("download URL of a removed key: %d; want 403", code)
		}
		// A forged token: right shape, signed with a key the service does not hold.
		token := strings.TrimPrefix(rel(share), "/v1/logs/shared/")
		payload, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(token, ".", 2)[0])
		forged := "/v1/logs/shared/" + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		if code, _ := do(t, http.MethodGet, s.BaseURL+forged, s.KeyA2, nil); code != http.StatusNotFound {
			t.Errorf("forged share token: %d; want 404", code)
		}
		// Expiry: a service with a 2-second share TTL mints a link that dies.
		short := s.startQuery(t, "query-short-ttl", "LOGPIPE_SHARE_TTL=2s")
		_, b := do(t, http.MethodGet, short+"/v1/logs/"+idA, s.KeyA, nil)
		var d struct {
			ShareURL string `json:"share_url"`
		}
		_ = json.Unmarshal(b, &d)
		if code, _ := do(t, http.MethodGet, short+rel(d.ShareURL), s.KeyA2, nil); code != http.StatusOK {
			t.Fatalf("fresh short-lived share link: %d; want 200", code)
		}
		time.Sleep(3 * time.Second)
		if code, _ := do(t, http.MethodGet, short+rel(d.ShareURL), s.KeyA2, nil); code != http.StatusNotFound {
			t.Errorf("expired share link: %d; want 404", code)
		}
	})

	t.Run("operational endpoints are not public", func(t *testing.T) {
		for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
			if code, b := do(t, http.MethodGet, s.BaseURL+p, "", nil); code != http.StatusNotFound || bytes.Contains(b, []byte("logpipe_")) {
				t.Errorf("GET %s through the base URL: %d; want 404", p, code)
			}
			for _, direct := range []string{s.IngestURL, s.QueryURL} {
				if code, _ := do(t, http.MethodGet, direct+p, "", nil); code != http.StatusOK {
					t.Errorf("GET %s%s directly: %d; want 200", direct, p, code)
				}
			}
		}
	})

	t.Run("bombs, slow clients and oversized headers cost bounded memory", func(t *testing.T) {
		before := rssMB(t, s.Ingest.Process.Pid)
		// A gzip bomb: 1 GiB of one JSON string in ~1 MiB.
		var bomb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
		zw.Write([]byte(`{"request":{"body":"`))
		chunk := bytes.Repeat([]byte("A"), 1<<20)
		for i := 0; i < 1024; i++ {
			zw.Write(chunk)
		}
		zw.Close()
		// A zstd frame of a few bytes declaring a 1 GiB window.
		zstdBomb := []byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xA0, 0x00, 0x00, 0x00}
		var wg sync.WaitGroup
		codes := make(chan string, 64)
		for i := 0; i < 16; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				codes <- "gzip " + strconv.Itoa(post(t, s.IngestURL, s.KeyA, "gzip", bomb.Bytes()))
			}()
			go func() {
				defer wg.Done()
				codes <- "zstd " + strconv.Itoa(post(t, s.IngestURL, s.KeyA, "zstd", zstdBomb))
			}()
		}
		// Slow clients: 100 connections that send half a request line and stall.
		var conns []net.Conn
		for i := 0; i < 100; i++ {
			c, err := net.Dial("tcp", strings.TrimPrefix(s.IngestURL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("POST /v1/logs HTTP/1.1\r\nHost: x\r\n"))
			conns = append(conns, c)
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != "gzip 413" && c != "zstd 400" && !strings.HasSuffix(c, " 503") {
				t.Errorf("bomb answered %s; want 413 (gzip), 400 (zstd) or 503 (shed)", c)
			}
		}
		after := rssMB(t, s.Ingest.Process.Pid)
		t.Logf("ingest RSS: %d MB before the bombs, %d MB after", before, after)
		if after > 300 {
			t.Errorf("ingest RSS grew to %d MB under bombs and slow clients; the budget is 300 MB", after)
		}
		// The slow connections are closed by the server (header timeout).
		deadline := time.Now().Add(30 * time.Second)
		for _, c := range conns {
			c.SetReadDeadline(deadline)
			if _, err := io.ReadAll(c); err != nil {
				t.Errorf("slow client still open after 30 s: %v", err)
			}
			c.Close()
		}
		// Oversized headers: 431.
		req, _ := http.NewRequest(http.MethodPost, s.IngestURL+"/v1/logs", strings.NewReader("{}"))
		req.Header.Set("x-portkey-api-key", s.KeyA)
		req.Header.Set("x-padding", strings.Repeat("p", 128<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("128 KiB of headers: %d; want 431", resp.StatusCode)
		}
		// Ingest still serves.
		if code, b := do(t, http.MethodPost, s.IngestURL+"/v1/logs", s.KeyA, event(testenv.Name("after"))); code != http.StatusOK {
			t.Errorf("after the attacks: %d %s", code, b)
		}
	})
}

// post sends body with Content-Encoding enc and returns the status.
func post(t *testing.T, base, key, enc string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("x-portkey-api-key", key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", enc)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("post %s body: %v", enc, err)
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rssMB is a process's resident memory in MB.
func rssMB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// createExport creates an export of the key's workspace and returns its id.
func createExport(t *testing.T, s *stack, key string, columns []string) string {
	t.Helper()
	body := map[string]any{"filters": map[string]any{}}
	if columns != nil {
		body["requested_data"] = columns
	}
	code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs/exports", key, body)
	var c struct {
		ID string `json:"id"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &c) != nil || c.ID == "" {
		t.Fatalf("create export: %d %s", code, b)
	}
	return c.ID
}

// exportAllID runs an export of the key's workspace to success and returns its id.
func exportAllID(t *testing.T, s *stack, key string) string {
	t.Helper()
	return runExport(t, s, key, nil)
}

func runExport(t *testing.T, s *stack, key string, columns []string) string {
	t.Helper()
	id := createExport(t, s, key, columns)
	if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/logs/exports/"+id+"/start", key, nil); code != http.StatusOK {
		t.Fatalf("start export: %d %s", code, b)
	}
	eventually(t, 60*time.Second, func() error {
		_, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/exports/"+id, key, nil)
		var j struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(b, &j)
		if j.Status != "success" {
			return fmt.Errorf("export %s: %s", id, b)
		}
		return nil
	})
	return id
}

// downloadURL returns the signed download URL of a finished export.
func downloadURL(t *testing.T, s *stack, key, id string) string {
	t.Helper()
	code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/exports/"+id+"/download", key, nil)
	var d struct {
		SignedURL string `json:"signed_url"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &d) != nil || d.SignedURL == "" {
		t.Fatalf("download: %d %s", code, b)
	}
	return d.SignedURL
}

// exportAll exports the key's workspace with columns and returns the file.
func exportAll(t *testing.T, s *stack, key string, columns []string) []byte {
	t.Helper()
	u := downloadURL(t, s, key, runExport(t, s, key, columns))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" || strings.HasSuffix(resp.Header.Get("Content-Disposition"), ".gz\"") {
		zr, err := gzip.NewReader(resp.Body)
		if err == nil {
			r = zr
		}
	}
	b, _ := io.ReadAll(r)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download file: %d %s", resp.StatusCode, b)
	}
	return b
}

// shareURL returns the share URL of a log (as the detail gives it).
func shareURL(t *testing.T, s *stack, key, id string) string {
	t.Helper()
	_, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+id, key, nil)
	var d struct {
		ShareURL string `json:"share_url"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.ShareURL == "" {
		t.Fatalf("share url of %s: %s", id, b)
	}
	return d.ShareURL
}
