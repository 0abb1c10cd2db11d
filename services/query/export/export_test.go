package export

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"logpipe/lib/logevent"
	"logpipe/lib/openapicheck"
	"logpipe/lib/server"
	"logpipe/lib/signing"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

// world is one test's export service over a fresh database, behind a real
// HTTP server, with API keys of every kind.
type world struct {
	t    *testing.T
	conn driver.Conn
	dir  string
	svc  *Service
	srv  *httptest.Server
	keys map[string]string // admin, member, dev, prod, other (admin of another workspace)
	reg  *tenant.Registry
	stop context.CancelFunc
}

const wsA, wsB = "ws-a", "ws-b"

// keyring makes a key registry with a key of every kind, by name.
// testKeys is the signing keyring of the tests' services.
func testKeys(t *testing.T) *signing.Keyring {
	t.Helper()
	k, err := signing.Parse("test:test-signing-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustScope(t *testing.T, org, ws string) tenant.Scope {
	t.Helper()
	sc, err := tenant.ScopeOf(org, ws)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func keyring(t *testing.T) (*tenant.Registry, map[string]string) {
	t.Helper()
	keys := map[string]string{}
	f := tenant.File{Organisations: []tenant.Organisation{
		{ID: "org-ent", Plan: tenant.PlanEnterprise}, {ID: "org-dev", Plan: tenant.PlanDeveloper}, {ID: "org-prod", Plan: tenant.PlanProduction}}}
	for _, k := range []struct {
		name, org, ws string
		role          tenant.Role
	}{{"admin", "org-ent", wsA, tenant.RoleAdmin}, {"member", "org-ent", wsA, tenant.RoleMember},
		{"other", "org-ent", wsB, tenant.RoleAdmin}, {"dev", "org-dev", "ws-dev", tenant.RoleAdmin},
		{"prod", "org-prod", "ws-prod", tenant.RoleAdmin}} {
		plain, key := tenant.NewKey(k.org, k.ws, k.role)
		f.Keys = append(f.Keys, key)
		keys[k.name] = plain
	}
	reg, err := tenant.NewStatic(f)
	if err != nil {
		t.Fatal(err)
	}
	return reg, keys
}

// newWorld starts a service over conn and dir; prev, when not nil, lends its
// keys (a restarted process).
func newWorld(t *testing.T, conn driver.Conn, dir string, prev *world, tweak func(*Config, *Service)) *world {
	t.Helper()
	w := &world{t: t, conn: conn, dir: dir}
	if prev != nil {
		w.reg, w.keys = prev.reg, prev.keys
	} else {
		w.reg, w.keys = keyring(t)
	}
	reg := w.reg
	var err error
	cfg := Defaults()
	cfg.Dir, cfg.Lease, cfg.WindowRows, cfg.BlockRows = dir, 2*time.Second, 700, 256
	cfg.Keys = testKeys(t)
	var hook func(*Service)
	if tweak != nil {
		hook = func(s *Service) { tweak(&cfg, s) }
		tweak(&cfg, nil)
	}
	w.svc, err = New(cfg, conn, prometheus.NewRegistry(), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(w.svc)
	}
	engine, _ := server.NewEngine(testenv.Logger(), server.NewRegistry(), nil)
	w.svc.Register(engine.Group("", tenant.Authenticate(reg)), engine)
	w.srv = httptest.NewServer(engine)
	w.svc.cfg.PublicURL = w.srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.svc.Run(ctx); close(done) }()
	w.stop = func() { cancel(); <-done; w.srv.Close() }
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			w.stop()
		}
	})
	// every export route is documented for the query service
	ops := map[string]bool{}
	for _, op := range openapicheck.Operations(t, "query") {
		ops[op] = true
	}
	for _, r := range engine.Routes() {
		if strings.HasPrefix(r.Path, "/v1/logs/exports") {
			op := r.Method + " " + strings.ReplaceAll(r.Path, ":id", "{id}")
			if !ops[op] {
				t.Errorf("route %s is not documented in schemas/openapi/openapi.yaml for query", op)
			}
		}
	}
	return w
}

// do sends a request with key (a name of w.keys, or "" for none) and decodes
// the JSON answer into out (when not nil); it returns the status.
func (w *world) do(method, path, key string, body any, out any) int {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(tenant.HeaderAPIKey, w.keys[key])
	}
	resp, err := openapicheck.Load(w.t).Client(w.t).Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

type created struct {
	ID     string `json:"id"`
	Total  uint64 `json:"total"`
	Object string `json:"object"`
}

func (w *world) create(key string, body map[string]any) created {
	w.t.Helper()
	var c created
	var e map[string]any
	if st := w.do("POST", "/v1/logs/exports", key, body, &e); st != 200 {
		w.t.Fatalf("create: status %d %v", st, e)
	}
	b, _ := json.Marshal(e)
	_ = json.Unmarshal(b, &c)
	if c.ID == "" || c.Object != "export" {
		w.t.Fatalf("create answered %v", e)
	}
	return c
}

func (w *world) start(key, id string) {
	w.t.Helper()
	var out map[string]any
	if st := w.do("POST", "/v1/logs/exports/"+id+"/start", key, nil, &out); st != 200 {
		w.t.Fatalf("start: status %d %v", st, out)
	}
}

// wait polls the job until its status is final.
func (w *world) wait(key, id string) jobView {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var v jobView
		if st := w.do("GET", "/v1/logs/exports/"+id, key, nil, &v); st != 200 {
			w.t.Fatalf("retrieve: status %d", st)
		}
		switch v.Status {
		case StatusSuccess, StatusFailed, StatusStopped:
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("export %s did not finish within 2 minutes", id)
	return jobView{}
}

// signedURL asks for the job's download URL.
func (w *world) signedURL(key, id string) string {
	w.t.Helper()
	var d struct {
		SignedURL string `json:"signed_url"`
	}
	if st := w.do("GET", "/v1/logs/exports/"+id+"/download", key, nil, &d); st != 200 || d.SignedURL == "" {
		w.t.Fatalf("download: status %d, %+v", st, d)
	}
	return d.SignedURL
}

// fetch GETs a URL without an API key, with an optional Range header.
func fetch(t *testing.T, u, rng string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := openapicheck.Load(t).Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// seed inserts n varied logs of ws spread over the last two hours, plus dup
// of them a second time (as a redelivery would), and returns the distinct
// logs sorted by (created_at, id). With clump, the logs with a large body all
// share one instant (one window far bigger than its row count suggests).
func seed(t *testing.T, conn driver.Conn, ws string, n, dup int, seedv uint64, clump bool) []logevent.Event {
	t.Helper()
	r := rand.New(rand.NewPCG(seedv, 7))
	now := time.Now()
	evs := make([]logevent.Event, n)
	for i := range evs {
		evs[i] = variedEvent(r, ws, now.Add(-time.Duration(r.Int64N(int64(2*time.Hour)))), i)
		if i%50 == 5 && i > 0 {
			evs[i].CreatedAt = evs[i-1].CreatedAt // ties ordered by id
		}
		if clump && i%10 == 1 {
			evs[i].CreatedAt = logevent.MillisOf(now.Add(-time.Hour))
		}
	}
	insert(t, conn, evs)
	insert(t, conn, evs[:dup])
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].CreatedAt != evs[j].CreatedAt {
			return evs[i].CreatedAt < evs[j].CreatedAt
		}
		return evs[i].ID < evs[j].ID
	})
	return evs
}

func insert(t *testing.T, conn driver.Conn, evs []logevent.Event) {
	t.Helper()
	ctx := context.Background()
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		b, err := conn.PrepareBatch(ctx, logevent.InsertSQL(logevent.LogsTable))
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs[:n] {
			if err := b.Append(evs[i].Row()...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

func lines(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExportRoundTrip(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	want := seed(t, conn, wsA, 3000, 400, 1, true)
	seed(t, conn, wsB, 100, 0, 2, false) // another workspace: never exported
	// small windows: most are ordered in memory; the clump of large bodies
	// overflows its window, which ClickHouse then orders
	w := newWorld(t, conn, t.TempDir(), nil, func(c *Config, _ *Service) { c.WindowBytes = 1 << 20 })

	c := w.create("admin", map[string]any{"workspace_id": wsA, "filters": map[string]any{}, "description": "all of it"})
	if c.Total != uint64(len(want)) {
		t.Fatalf("total = %d; want %d (distinct logs of the workspace)", c.Total, len(want))
	}
	var draft jobView
	w.do("GET", "/v1/logs/exports/"+c.ID, "admin", nil, &draft)
	if draft.Status != StatusDraft || draft.TotalRecords != uint64(len(want)) || draft.Description != "all of it" {
		t.Fatalf("draft = %+v", draft)
	}
	w.start("admin", c.ID)
	v := w.wait("admin", c.ID)
	if v.Status != StatusSuccess || v.Progress.RowsDone != uint64(len(want)) || v.FinishedAt == nil || v.ExpiresAt == nil {
		t.Fatalf("finished job = %+v", v)
	}
	for _, order := range []string{"memory", "clickhouse"} {
		if n := testutil.ToFloat64(w.svc.m.windows.WithLabelValues(order)); n == 0 {
			t.Errorf("no window ordered by %s; the test wants both paths", order)
		}
	}
	st, h, body := fetch(t, w.signedURL("admin", c.ID), "")
	if st != 200 || !strings.Contains(h.Get("Content-Disposition"), c.ID+".jsonl") {
		t.Fatalf("download: status %d, headers %v", st, h)
	}
	if uint64(len(body)) != v.Progress.Bytes {
		t.Fatalf("file is %d bytes; the job says %d", len(body), v.Progress.Bytes)
	}
	ls := lines(t, body)
	if len(ls) != len(want) {
		t.Fatalf("%d lines; want %d", len(ls), len(want))
	}
	exported := logevent.ExportColumns()
	for i, line := range ls {
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(line, &keys)
		if len(keys) != len(exported) {
			t.Fatalf("line %d has %d keys; want the %d documented columns: %s", i, len(keys), len(exported), line)
		}
		got, err := logevent.DecodeStrict(line)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		// column by column: what was ingested is what is exported
		for _, col := range exported {
			g, wv := col.Value(&got), col.Value(&want[i])
			if col.Kind == logevent.KindRaw {
				g, wv = compactJSON(g.(string)), compactJSON(wv.(string))
			}
			if !reflect.DeepEqual(g, wv) {
				t.Fatalf("line %d column %s: got %v; want %v", i, col.Name, g, wv)
			}
		}
		// postable back to ingest unchanged: ingest sets the id and tenant
		got.ID, got.WorkspaceID = logevent.NewID(), wsA
		if errs := got.Validate(logevent.DefaultLimits); errs != nil {
			t.Fatalf("line %d is not a valid event: %v", i, errs)
		}
		if want[i].IsTracked == 0 && (!bytes.Contains(line, []byte(`"request.body":null`)) || !bytes.Contains(line, []byte(`"response.body":null`))) {
			t.Fatalf("DO NOT TRACK line %d carries a body: %s", i, line)
		}
	}
	// the list shows it; another workspace's admin cannot see it
	var list struct {
		Object string    `json:"object"`
		Total  int       `json:"total"`
		Data   []jobView `json:"data"`
	}
	if st := w.do("GET", "/v1/logs/exports?workspace_id="+wsA, "admin", nil, &list); st != 200 || list.Total != 1 || list.Data[0].ID != c.ID {
		t.Fatalf("list: %d %+v", st, list)
	}
	for _, p := range []string{"", "/download"} {
		if st := w.do("GET", "/v1/logs/exports/"+c.ID+p, "other", nil, nil); st != 404 {
			t.Fatalf("GET %s from another workspace: %d; want 404", p, st)
		}
	}
	if st := w.do("GET", "/v1/logs/exports", "other", nil, &list); st != 200 || list.Total != 0 {
		t.Fatalf("list of another workspace: %d %+v", st, list)
	}
}

func compactJSON(s string) string {
	if s == "" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

func TestExportColumnsFiltersGzip(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	all := seed(t, conn, wsA, 1500, 100, 3, false)
	// every window planned too big to hold: ClickHouse orders them all
	w := newWorld(t, conn, t.TempDir(), nil, func(c *Config, _ *Service) { c.WindowBytes = 1 })
	var want []string
	for _, e := range all {
		if e.AIModel == "gpt-4o" && e.ResponseStatusCode == 200 {
			want = append(want, e.ID)
		}
	}
	c := w.create("admin", map[string]any{
		"filters":        map[string]any{"ai_model": "gpt-4o", "status_code": "200", "time_of_generation_min": time.Now().Add(-3 * time.Hour).Format(time.RFC3339)},
		"requested_data": []string{"id", "cost", "metadata"}, "compression": "gzip"})
	if c.Total != uint64(len(want)) {
		t.Fatalf("total = %d; want %d", c.Total, len(want))
	}
	w.start("admin", c.ID)
	if v := w.wait("admin", c.ID); v.Status != StatusSuccess {
		t.Fatalf("job = %+v", v)
	}
	st, h, body := fetch(t, w.signedURL("admin", c.ID), "")
	if st != 200 || h.Get("Content-Type") != "application/gzip" {
		t.Fatalf("download: %d %v", st, h)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range lines(t, plain) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "cost,id,metadata.key,metadata.value" {
			t.Fatalf("keys %v; want cost, id, metadata.key, metadata.value", keys)
		}
		var id string
		_ = json.Unmarshal(m["id"], &id)
		got = append(got, id)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("exported %d ids; want %d (in time order)", len(got), len(want))
	}
}

func TestExportAccess(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	w := newWorld(t, conn, t.TempDir(), nil, nil)
	var e struct {
		Error struct {
			Code, Message, Param string
		} `json:"error"`
	}
	check := func(name string, st, want int, param string) {
		t.Helper()
		if st != want || (param != "" && e.Error.Param != param) {
			t.Errorf("%s: status %d param %q (%s); want %d param %q", name, st, e.Error.Param, e.Error.Message, want, param)
		}
		e.Error.Param = ""
	}
	check("member", w.do("POST", "/v1/logs/exports", "member", map[string]any{}, &e), 403, "")
	if !strings.Contains(e.Error.Message, "admins only") {
		t.Errorf("member refusal says %q; want the reason", e.Error.Message)
	}
	check("member list", w.do("GET", "/v1/logs/exports", "member", nil, &e), 403, "")
	check("developer plan", w.do("POST", "/v1/logs/exports", "dev", map[string]any{}, &e), 403, "")
	if !strings.Contains(e.Error.Message, "developer plan") {
		t.Errorf("developer refusal says %q", e.Error.Message)
	}
	check("no key", w.do("POST", "/v1/logs/exports", "", map[string]any{}, &e), 401, "")
	old := time.Now().Add(-40 * 24 * time.Hour).Format(time.RFC3339)
	check("production beyond 30 days", w.do("POST", "/v1/logs/exports", "prod",
		map[string]any{"filters": map[string]any{"time_of_generation_min": old}}, &e), 400, "filters.time_of_generation_min")
	recent := time.Now().Add(-10 * 24 * time.Hour).Format(time.RFC3339)
	check("production within 30 days", w.do("POST", "/v1/logs/exports", "prod",
		map[string]any{"filters": map[string]any{"time_of_generation_min": recent}}, &e), 200, "")
	check("enterprise any range", w.do("POST", "/v1/logs/exports", "admin",
		map[string]any{"filters": map[string]any{"time_of_generation_min": old}}, &e), 200, "")
	check("other workspace", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"workspace_id": wsB}, &e), 404, "")
	check("unknown column", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"requested_data": []string{"request.headers"}}, &e), 400, "requested_data")
	check("unknown filter", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"filters": map[string]any{"nope": 1}}, &e), 400, "filters.nope")
	check("subnormal range bound", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"filters": map[string]any{"cost_min": 1e-308}}, &e), 400, "filters.cost_min")
	check("bound as a string", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"filters": map[string]any{"total_units_max": "Infinity"}}, &e), 400, "filters.total_units_max")
	check("bad field type", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"description": 5}, &e), 400, "description")
	check("unknown field", w.do("POST", "/v1/logs/exports", "admin", map[string]any{"colour": "red"}, &e), 400, "colour")
	check("no such export", w.do("GET", "/v1/logs/exports/exp_nope", "admin", nil, &e), 404, "")

	// update while draft (the SDK sends exportId in the body), not after
	c := w.create("admin", map[string]any{"description": "a"})
	check("update draft", w.do("PUT", "/v1/logs/exports/"+c.ID, "admin",
		map[string]any{"exportId": c.ID, "requested_data": []string{"cost"}, "description": "b"}, nil), 200, "")
	check("update draft (SDK 3: export_id)", w.do("PUT", "/v1/logs/exports/"+c.ID, "admin",
		map[string]any{"export_id": c.ID, "description": "b"}, nil), 200, "")
	var v jobView
	w.do("GET", "/v1/logs/exports/"+c.ID, "admin", nil, &v)
	if v.Description != "b" || !reflect.DeepEqual(v.RequestedData, []string{"cost"}) {
		t.Fatalf("updated job = %+v", v)
	}
	check("download before success", w.do("GET", "/v1/logs/exports/"+c.ID+"/download", "admin", nil, &e), 409, "")
	w.start("admin", c.ID)
	w.wait("admin", c.ID)
	check("update after start", w.do("PUT", "/v1/logs/exports/"+c.ID, "admin", map[string]any{"description": "c"}, &e), 409, "")
	check("cancel a finished export", w.do("POST", "/v1/logs/exports/"+c.ID+"/cancel", "admin", nil, &e), 409, "")
}

func TestExportSignedURL(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	seed(t, conn, wsA, 600, 0, 4, false)
	w := newWorld(t, conn, t.TempDir(), nil, nil)
	c := w.create("admin", nil)
	w.start("admin", c.ID)
	w.wait("admin", c.ID)
	good := w.signedURL("admin", c.ID)
	st, _, full := fetch(t, good, "")
	if st != 200 || len(full) == 0 {
		t.Fatalf("download: %d, %d bytes", st, len(full))
	}
	// resume an interrupted download with a range request
	st, h, head := fetch(t, good, "bytes=0-9999")
	if st != http.StatusPartialContent || len(head) != 10000 {
		t.Fatalf("first range: %d, %d bytes", st, len(head))
	}
	if !strings.HasPrefix(h.Get("Content-Range"), "bytes 0-9999/") {
		t.Fatalf("Content-Range %q", h.Get("Content-Range"))
	}
	st, _, tail := fetch(t, good, "bytes=10000-")
	if st != http.StatusPartialContent || !bytes.Equal(append(head, tail...), full) {
		t.Fatalf("resumed download differs from the whole file (status %d)", st)
	}
	// tampering and expiry
	u, _ := url.Parse(good)
	tamper := func(k, v string) string {
		q := u.Query()
		q.Set(k, v)
		t2 := *u
		t2.RawQuery = q.Encode()
		return t2.String()
	}
	q := u.Query()
	exp, _ := time.Parse(time.RFC3339, "2000-01-01T00:00:00Z")
	expired := *u
	expired.RawQuery = w.svc.signer.Sign(mustScope(t, "org-ent", wsA), c.ID, exp).Encode()
	for name, bad := range map[string]string{
		"signature": tamper(paramSignature, strings.Repeat("0", len(q.Get(paramSignature)))),
		"expiry":    tamper(paramExpires, fmt.Sprint(time.Now().Add(time.Hour).Unix()+1)),
		"workspace": tamper(paramWorkspace, wsB),
		"other id":  strings.Replace(good, c.ID, "exp_other", 1),
		"expired":   expired.String(),
	} {
		if st, _, _ := fetch(t, bad, ""); st != http.StatusForbidden {
			t.Errorf("%s: status %d; want 403", name, st)
		}
	}
	// finished files expire
	w.svc.cfg.TTL = time.Nanosecond
	if err := w.svc.expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.svc.path(c.ID + ".jsonl")); !os.IsNotExist(err) {
		t.Fatalf("expired file still there: %v", err)
	}
	if st, _, _ := fetch(t, good, ""); st != http.StatusGone {
		t.Fatalf("download of an expired file: %d; want 410", st)
	}
}

func TestExportCancel(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	seed(t, conn, wsA, 3000, 0, 5, false)
	reached := make(chan struct{}, 100)
	w := newWorld(t, conn, t.TempDir(), nil, func(c *Config, s *Service) {
		if s == nil {
			return
		}
		s.onWindow = func(ctx context.Context, j *Job, _ window) {
			reached <- struct{}{}
			<-ctx.Done() // hold the export midway until it is cancelled
		}
	})
	c := w.create("admin", nil)
	w.start("admin", c.ID)
	<-reached
	var out map[string]any
	if st := w.do("POST", "/v1/logs/exports/"+c.ID+"/cancel", "admin", nil, &out); st != 200 || out["status"] != StatusStopped {
		t.Fatalf("cancel: %d %v", st, out)
	}
	var v jobView
	w.do("GET", "/v1/logs/exports/"+c.ID, "admin", nil, &v)
	if v.Status != StatusStopped || v.Progress.RowsDone == 0 || v.Progress.RowsDone >= c.Total {
		t.Fatalf("cancelled job = %+v; want stopped midway", v)
	}
	files, _ := os.ReadDir(w.dir)
	if len(files) != 0 {
		t.Fatalf("partial output left behind: %v", files)
	}
	var e map[string]any
	if st := w.do("GET", "/v1/logs/exports/"+c.ID+"/download", "admin", nil, &e); st != 409 {
		t.Fatalf("download of a stopped export: %d", st)
	}
}

func TestExportResumesAfterRestart(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	want := seed(t, conn, wsA, 3000, 200, 6, false)
	dir := t.TempDir()
	reached := make(chan *Job, 100)
	first := newWorld(t, conn, dir, nil, func(c *Config, s *Service) {
		if s == nil {
			return
		}
		s.checkpointEvery = 0
		n := 0
		s.onWindow = func(ctx context.Context, j *Job, _ window) {
			if n++; n == 2 {
				cp := *j
				reached <- &cp
				<-ctx.Done() // the process "dies" here, after two windows
			}
		}
	})
	c := first.create("admin", nil)
	first.start("admin", c.ID)
	checkpoint := <-reached
	first.stop()

	var resumedFrom []logevent.Millis
	second := newWorld(t, conn, dir, first, func(c *Config, s *Service) {
		if s == nil {
			return
		}
		s.onWindow = func(ctx context.Context, j *Job, w window) {
			resumedFrom = append(resumedFrom, w.lo)
		}
	})
	v := second.wait("admin", c.ID)
	if v.Status != StatusSuccess || v.Progress.RowsDone != uint64(len(want)) {
		t.Fatalf("resumed job = %+v; want success with %d rows", v, len(want))
	}
	if len(resumedFrom) == 0 || resumedFrom[0] < checkpoint.ResumeCursor {
		t.Fatalf("the second process started at %v; want at the checkpoint %v", resumedFrom, checkpoint.ResumeCursor)
	}
	_, _, body := fetch(t, second.signedURL("admin", c.ID), "")
	ls := lines(t, body)
	if len(ls) != len(want) {
		t.Fatalf("%d lines; want %d (no line lost or repeated)", len(ls), len(want))
	}
	for i, line := range ls {
		got, err := logevent.DecodeStrict(line)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		for _, col := range []string{"created_at", "trace_id", "cost", "response_time", "total_units"} {
			c, _ := logevent.Lookup(col)
			if g, wv := c.Value(&got), c.Value(&want[i]); g != wv {
				t.Fatalf("line %d column %s: got %v; want %v", i, col, g, wv)
			}
		}
	}
}

func TestExportTakesOverSilentOwner(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	want := seed(t, conn, wsA, 500, 0, 8, false)
	w := newWorld(t, conn, t.TempDir(), nil, nil)
	c := w.create("admin", nil)
	// a process that died mid-export without releasing the job
	j, ok, err := w.svc.jobs.Get(context.Background(), mustScope(t, "org-ent", wsA), c.ID)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	j.Status, j.Owner, j.StartedAt = StatusInProgress, "dead-process", logevent.MillisOf(time.Now())
	if err := w.svc.jobs.Put(context.Background(), &j); err != nil {
		t.Fatal(err)
	}
	v := w.wait("admin", c.ID)
	if v.Status != StatusSuccess || v.Progress.RowsDone != uint64(len(want)) {
		t.Fatalf("job = %+v; want taken over and finished", v)
	}
}

// slowWindows is the test's ClickHouse connection with every window read of
// an export slowed down in ClickHouse itself before it answers anything (a
// scalar subquery that sleeps runs while the query is analysed), so a cancel
// reliably lands while the next window's query is in flight.
type slowWindows struct {
	driver.Conn
}

func (c slowWindows) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	if strings.HasPrefix(sql, "SELECT ") && !strings.Contains(sql, "GROUP BY") && !strings.Contains(sql, "system.") &&
		strings.Contains(sql, " FROM "+logevent.LogsTable+" WHERE ") {
		if i := strings.Index(sql, " ORDER BY "); i >= 0 {
			sql = sql[:i] + " AND (SELECT sleep(0.4)) = 0" + sql[i:]
		} else {
			sql += " AND (SELECT sleep(0.4)) = 0"
		}
	}
	return c.Conn.Query(ctx, sql, args...)
}

// Exports cancelled at random points of their windows, most of them while
// the next window's query is in flight (the prefetch's cancelled path), stop
// cleanly: the process survives, the jobs end stopped with nothing left on
// disk, and a later export of the same logs is complete.
func TestExportCancelledAtRandomPoints(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	want := seed(t, conn, wsA, 2000, 0, 11, false)
	seedv := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seedv, 3))
	t.Logf("seed %d", seedv)
	type hold struct {
		job    string
		window int
	}
	var holdAt hold // the window after which the running export waits for its cancel
	var holdMu = make(chan struct{}, 1)
	reached := make(chan struct{}, 1)
	windows := map[string]int{}
	w := newWorld(t, slowWindows{conn}, t.TempDir(), nil, func(c *Config, s *Service) {
		if s == nil {
			c.WindowRows = 250
			return
		}
		s.checkpointEvery = 0
		s.onWindow = func(ctx context.Context, j *Job, _ window) {
			holdMu <- struct{}{}
			windows[j.ID]++
			stop := holdAt.job == j.ID && windows[j.ID] == holdAt.window
			<-holdMu
			if stop {
				reached <- struct{}{}
				<-ctx.Done()
			}
		}
	})
	cancel := func(id string) {
		t.Helper()
		var out map[string]any
		if st := w.do("POST", "/v1/logs/exports/"+id+"/cancel", "admin", nil, &out); st != 200 && st != 409 {
			t.Fatalf("cancel: %d %v", st, out)
		}
	}
	for i := range 6 {
		c := w.create("admin", nil)
		if i%3 != 2 {
			// held after a random window: the next one's query is in flight
			holdMu <- struct{}{}
			holdAt = hold{job: c.ID, window: 1 + r.IntN(6)}
			<-holdMu
			w.start("admin", c.ID)
			select {
			case <-reached:
			case <-time.After(time.Minute):
				t.Fatalf("export %d never reached window %d", i, holdAt.window)
			}
			cancel(c.ID)
		} else {
			// at a random instant
			w.start("admin", c.ID)
			time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond)
			cancel(c.ID)
		}
		v := w.wait("admin", c.ID)
		if v.Status != StatusStopped && v.Status != StatusSuccess {
			t.Fatalf("export %d: %+v; want stopped (or finished before the cancel)", i, v)
		}
		if v.Status == StatusStopped {
			if _, err := os.Stat(w.svc.partPath(&Job{ID: c.ID})); !os.IsNotExist(err) {
				t.Fatalf("export %d: part file left behind (%v)", i, err)
			}
		}
	}
	holdMu <- struct{}{}
	holdAt = hold{}
	<-holdMu
	c := w.create("admin", nil)
	w.start("admin", c.ID)
	if v := w.wait("admin", c.ID); v.Status != StatusSuccess || v.Progress.RowsDone != uint64(len(want)) {
		t.Fatalf("export after the cancelled ones: %+v; want success with %d rows", v, len(want))
	}
}

// A panic inside one export fails that job with the panic as its error; the
// process goes on and runs the next export.
func TestExportPanicFailsOnlyItsJob(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	want := seed(t, conn, wsA, 1000, 0, 12, false)
	var poisoned string
	w := newWorld(t, conn, t.TempDir(), nil, func(c *Config, s *Service) {
		if s == nil {
			return
		}
		s.onWindow = func(ctx context.Context, j *Job, _ window) {
			if j.ID == poisoned {
				var m map[string]int
				m["boom"]++
			}
		}
	})
	c := w.create("admin", nil)
	poisoned = c.ID
	w.start("admin", c.ID)
	if v := w.wait("admin", c.ID); v.Status != StatusFailed {
		t.Fatalf("panicking export: %+v; want failed", v)
	}
	if j, _, _ := w.svc.jobs.Get(context.Background(), mustScope(t, "org-ent", wsA), c.ID); !strings.Contains(j.Error, "panic") {
		t.Fatalf("failed job's error %q; want the panic", j.Error)
	}
	c2 := w.create("admin", nil)
	w.start("admin", c2.ID)
	if v := w.wait("admin", c2.ID); v.Status != StatusSuccess || v.Progress.RowsDone != uint64(len(want)) {
		t.Fatalf("next export: %+v; want success with %d rows", v, len(want))
	}
}
