package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gin-gonic/gin"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/openapicheck"
	"logpipe/lib/server"
	"logpipe/lib/signing"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
	"logpipe/query/store"
)

// world is a seeded ClickHouse database, keys and the HTTP handler over them.
type world struct {
	t       *testing.T
	srv     *httptest.Server
	now     time.Time
	logs    []logevent.Event    // workspace A's distinct logs within retention
	expired []logevent.Event    // workspace A's logs past retention
	other   []logevent.Event    // workspace B (same organisation), C (another one)
	twin    []logevent.Event    // org2's own workspace "wsa": A's workspace name, log ids and trace ids
	fb      []feedback.Feedback // latest version of each of A's feedbacks
	keys    map[string]string   // "a", "b", "c", "twin" → plaintext API key
}

const signingKeys = "k1:test-signing-key-0123"

func insertLogs(t *testing.T, conn driver.Conn, evs []logevent.Event) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), logevent.InsertSQL(logevent.LogsTable))
	if err != nil {
		t.Fatalf("prepare insert: %v", err)
	}
	for i := range evs {
		if err := b.Append(evs[i].Row()...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert logs: %v", err)
	}
}

func insertFeedback(t *testing.T, conn driver.Conn, fs []feedback.Feedback) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), feedback.InsertSQL())
	if err != nil {
		t.Fatalf("prepare feedback insert: %v", err)
	}
	for i := range fs {
		if err := b.Append(fs[i].Row()...); err != nil {
			t.Fatalf("append feedback: %v", err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert feedback: %v", err)
	}
}

var (
	models   = [][2]string{{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"anthropic", "claude-3-5-sonnet"}, {"google", "gemini-1.5-pro"}}
	caches   = []string{logevent.CacheMiss, logevent.CacheHit, logevent.CacheSemanticHit, logevent.CacheDisabled, logevent.CacheRefreshed}
	codes    = []uint16{500, 429, 502, 400}
	users    = []string{"", "alice", "bob", "carol", "dave"}
	envs     = []string{"prod", "dev", "staging"}
	vkeys    = []string{"vk-main", "vk-old", "vk-backup"}
	endpoint = []string{"chat/completions", "completions", "embeddings", "images/generations"}
)

func randomEvent(r *rand.Rand, ws, org string, at time.Time, i int, trace string, model [2]string) logevent.Event {
	e := logevent.New()
	e.ID = fmt.Sprintf("%s-%05d", ws, i)
	e.OrganisationID, e.WorkspaceID = org, ws
	e.CreatedAt = logevent.MillisOf(at)
	e.AIOrg, e.AIModel = model[0], model[1]
	e.ReqUnits, e.ResUnits, e.ReasoningUnits = uint32(r.Intn(2000)), uint32(r.Intn(800)), uint32(r.Intn(50))
	e.TotalUnits = e.ReqUnits + e.ResUnits
	e.Cost = float64(r.Intn(10000)) / 100
	e.ResponseTime = uint32(50 + r.Intn(5000))
	e.CacheStatus = caches[r.Intn(len(caches))]
	if e.CacheStatus == logevent.CacheHit {
		e.CacheType = logevent.CacheTypeSimple
	} else if e.CacheStatus == logevent.CacheSemanticHit {
		e.CacheType = logevent.CacheTypeSemantic
	}
	if r.Intn(5) == 0 {
		e.IsSuccess, e.ResponseStatusCode = 0, codes[r.Intn(len(codes))]
	}
	switch r.Intn(6) {
	case 0:
		e.RetryAttempts, e.RetrySuccessCount = 3, uint16(1+r.Intn(3))
	case 1:
		e.RetryAttempts, e.RetryFailed = 3, 1
		e.IsSuccess, e.ResponseStatusCode = 0, 502
	case 2:
		e.Mode, e.FallbackOption = logevent.ModeFallback, uint16(1+r.Intn(3))
	case 3:
		e.Mode, e.LoadbalanceActive = logevent.ModeLoadbalance, 1
	}
	e.User = users[r.Intn(len(users))]
	e.TraceID = trace
	e.SpanID = fmt.Sprintf("span-%d", i)
	e.VirtualKey = vkeys[r.Intn(len(vkeys))]
	e.Config = fmt.Sprintf("cfg-%d", r.Intn(3))
	e.APIKeyID = fmt.Sprintf("key-%d", r.Intn(2))
	e.PromptSlug = []string{"", "pp-summarise"}[r.Intn(2)]
	e.PromptInConfig = uint8(r.Intn(8) / 7)
	e.EndpointType = endpoint[r.Intn(len(endpoint))]
	e.RetentionDays = 30
	e.MetadataKey = []string{"env", "team"}
	e.MetadataValue = []string{envs[r.Intn(len(envs))], fmt.Sprintf("t%d", r.Intn(3))}
	if e.User != "" {
		e.MetadataKey = append(e.MetadataKey, "_user")
		e.MetadataValue = append(e.MetadataValue, e.User)
	}
	if r.Intn(10) == 0 {
		e.IsTracked = 0
	} else {
		e.RequestBody = logevent.RawJSON(fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi %d"}]}`, e.AIModel, i))
		e.ResponseBody = logevent.RawJSON(`{"choices":[{"message":{"content":"ok"}}]}`)
		e.RequestHeaders = logevent.RawJSON(`{"content-type":"application/json"}`)
	}
	return e
}

func newWorld(t *testing.T) *world {
	t.Helper()
	_, conn := testenv.ClickHouse(t)
	r := rand.New(rand.NewSource(42))
	w := &world{t: t, now: time.Now().UTC(), keys: map[string]string{}}
	// Workspace A: 600 logs over the last 70 hours, traces of 1-3 logs of one model.
	for i := 0; i < 600; {
		trace := fmt.Sprintf("tr-%d", i)
		model := models[r.Intn(len(models))]
		for k := 1 + r.Intn(3); k > 0 && i < 600; k-- {
			at := w.now.Add(-time.Hour - time.Duration(r.Int63n(int64(69*time.Hour))))
			w.logs = append(w.logs, randomEvent(r, "wsa", "org1", at, i, trace, model))
			i++
		}
	}
	for i := 0; i < 5; i++ { // 40 days old: past the production plan's 30 days
		w.expired = append(w.expired, randomEvent(r, "wsa", "org1", w.now.Add(-40*24*time.Hour), 900+i, "tr-old", models[0]))
	}
	for i := 0; i < 40; i++ {
		w.other = append(w.other, randomEvent(r, "wsb", "org1", w.now.Add(-time.Duration(i)*time.Hour), i, fmt.Sprintf("tr-b%d", i), models[1]))
		w.other = append(w.other, randomEvent(r, "wsc", "org2", w.now.Add(-time.Duration(i)*time.Hour), i, fmt.Sprintf("tr-%d", i), models[2]))
	}
	// Another organisation's workspace of the same name, with A's first log
	// ids and trace ids on logs of its own: nothing of it may reach A's keys,
	// and nothing of A may reach its key.
	for i := 0; i < 30; i++ {
		e := randomEvent(r, "wsa", "org2", w.logs[i].CreatedAt.Time().Add(time.Second), i, w.logs[i].TraceID, [2]string{"evil", "evil-model"})
		e.Cost, e.User = 999, "mallory"
		w.twin = append(w.twin, e)
	}
	insertLogs(t, conn, append(append(append(append([]logevent.Event{}, w.logs...), w.expired...), w.other...), w.twin...))
	// Redeliveries: a third of A's logs again, some a third time, in other parts.
	insertLogs(t, conn, w.logs[:200])
	insertLogs(t, conn, w.logs[100:150])

	// Feedback on A's traces: a first version, and for some a later version
	// with another value and weight and an empty trace id (the latest non-empty wins).
	var versions []feedback.Feedback
	for i := 0; i < 120; i++ {
		e := w.logs[r.Intn(len(w.logs))]
		f := feedback.Feedback{ID: fmt.Sprintf("fb-%d", i), OrganisationID: "org1", WorkspaceID: "wsa", TraceID: e.TraceID,
			Value: int8(r.Intn(21) - 10), Weight: float64(r.Intn(11)) / 10, RetentionDays: 30,
			CreatedAt: e.CreatedAt + logevent.Millis(r.Intn(600000)), MetadataKey: []string{}, MetadataValue: []string{}}
		f.UpdatedAt = f.CreatedAt
		versions = append(versions, f)
		if i%3 == 0 {
			g := f
			g.TraceID, g.Value, g.Weight = "", int8(r.Intn(21)-10), float64(r.Intn(11))/10
			g.UpdatedAt = f.UpdatedAt + 1000
			versions = append(versions, g)
			g.TraceID = e.TraceID
			f = g
		}
		w.fb = append(w.fb, f)
	}
	// feedback of workspace B on a trace id that also exists in A: never counted for A
	versions = append(versions, feedback.Feedback{ID: "fb-twin", OrganisationID: "org2", WorkspaceID: "wsa", TraceID: w.logs[0].TraceID,
		Value: -10, Weight: 1, CreatedAt: w.logs[0].CreatedAt, UpdatedAt: w.logs[0].CreatedAt, RetentionDays: 30})
	versions = append(versions, feedback.Feedback{ID: "fb-b", OrganisationID: "org1", WorkspaceID: "wsb", TraceID: w.logs[0].TraceID,
		Value: 10, Weight: 1, CreatedAt: w.logs[0].CreatedAt, UpdatedAt: w.logs[0].CreatedAt, RetentionDays: 30})
	insertFeedback(t, conn, versions)

	keysFile := tenant.File{
		Organisations: []tenant.Organisation{{ID: "org1", Plan: tenant.PlanProduction}, {ID: "org2", Plan: tenant.PlanProduction}},
		VirtualKeys:   []tenant.VirtualKey{{OrganisationID: "org1", WorkspaceID: "wsa", Slug: "vk-old", Archived: true}},
	}
	for name, ws := range map[string][2]string{"a": {"org1", "wsa"}, "b": {"org1", "wsb"}, "c": {"org2", "wsc"}, "twin": {"org2", "wsa"}} {
		plain, k := tenant.NewKey(ws[0], ws[1], tenant.RoleMember)
		keysFile.Keys = append(keysFile.Keys, k)
		w.keys[name] = plain
	}
	reg, err := tenant.NewStatic(keysFile)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(newEngine(store.New(conn), reg))
	t.Cleanup(w.srv.Close)
	return w
}

func newEngine(st *store.Store, reg *tenant.Registry) *gin.Engine {
	return newEngineWith(st, reg, 0)
}

// newEngineWith is newEngine with a per-query memory bound (0: none).
func newEngineWith(st *store.Store, reg *tenant.Registry, maxQueryMemory int64) *gin.Engine {
	metrics := server.NewRegistry()
	engine, _ := server.NewEngine(testenv.Logger(), metrics, nil)
	keys, err := signing.Parse(signingKeys)
	if err != nil {
		panic(err)
	}
	h := New(st, reg, Config{PublicURL: "http://public.example:8000", Keys: keys, ShareTTL: time.Hour, MaxQueryMemory: maxQueryMemory}, testenv.Logger(), metrics)
	engine.Use(h.Instrument())
	h.Register(engine.Group("/", tenant.Authenticate(reg)))
	return engine
}

// get fetches path with key's API key and decodes the JSON answer into out.
func (w *world) get(key, path string, out any) int {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	req.Header.Set(tenant.HeaderAPIKey, w.keys[key])
	resp, err := openapicheck.Load(w.t).Client(w.t).Do(req)
	if err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			w.t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

func newestFirst(evs []logevent.Event) []logevent.Event {
	out := append([]logevent.Event(nil), evs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt > out[j].CreatedAt
		}
		return out[i].ID > out[j].ID
	})
	return out
}

type listPage struct {
	Object     string           `json:"object"`
	Total      uint64           `json:"total"`
	Data       []map[string]any `json:"data"`
	NextCursor *string          `json:"next_cursor"`
}

// listAll pages through GET /v1/logs?query and returns the ids and the total.
func (w *world) listAll(key, query string, size int) ([]string, uint64) {
	w.t.Helper()
	var ids []string
	var total uint64
	cursor := ""
	for pages := 0; ; pages++ {
		q := query + "&page_size=" + strconv.Itoa(size)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var p listPage
		if code := w.get(key, "/v1/logs?"+q, &p); code != 200 {
			w.t.Fatalf("list %s: status %d", q, code)
		}
		if p.Object != "list" {
			w.t.Fatalf("object %q; want list", p.Object)
		}
		total = p.Total
		for _, d := range p.Data {
			ids = append(ids, d["id"].(string))
		}
		if p.NextCursor == nil {
			return ids, total
		}
		cursor = *p.NextCursor
		if pages > 1000 {
			w.t.Fatal("pagination does not end")
		}
	}
}

func ids(evs []logevent.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func (w *world) where(keep func(*logevent.Event) bool) []logevent.Event {
	var out []logevent.Event
	for i := range w.logs {
		if keep(&w.logs[i]) {
			out = append(out, w.logs[i])
		}
	}
	return out
}

// weighted returns the average weighted feedback of each trace with feedback.
func (w *world) weighted() map[string]float64 {
	sum, n := map[string]float64{}, map[string]float64{}
	for _, f := range w.fb {
		sum[f.TraceID] += float64(f.Value) * f.Weight
		n[f.TraceID]++
	}
	for k := range sum {
		sum[k] /= n[k]
	}
	return sum
}

func TestListingFiltersAndTenancy(t *testing.T) {
	w := newWorld(t)
	want := newestFirst(w.logs)
	got, total := w.listAll("a", "", 37)
	if !slices.Equal(got, ids(want)) {
		t.Fatalf("listing: got %d ids; want %d newest first, deduplicated, without expired or other workspaces' logs", len(got), len(want))
	}
	if total != uint64(len(want)) {
		t.Errorf("total %d; want %d", total, len(want))
	}

	var first listPage
	w.get("a", "/v1/logs?page_size=500", &first)
	for i, d := range first.Data {
		e := want[i]
		st := d["status"].(map[string]any)
		s := e.Status()
		if st["cache"] != s.Cache || st["retry"] != s.Retry || st["fallback"] != s.Fallback || st["loadbalance"] != s.Loadbalance {
			t.Fatalf("%s status %v; want %+v", e.ID, st, s)
		}
		if _, has := d["request.body"]; has {
			t.Fatalf("listing carries request.body")
		}
		if d["ai_model"] != e.AIModel || d["user"] != e.User || d["trace_id"] != e.TraceID ||
			d["reasoning_units"].(float64) != float64(e.ReasoningUnits) || d["created_at"] != e.CreatedAt.String() {
			t.Fatalf("%s row %v does not match the log", e.ID, d)
		}
	}

	wf := w.weighted()
	cases := []struct {
		query string
		keep  func(e *logevent.Event) bool
	}{
		{"status_code=500,429", func(e *logevent.Event) bool { return e.ResponseStatusCode == 500 || e.ResponseStatusCode == 429 }},
		// body search: case-insensitive, DO NOT TRACK logs never match
		{"search=HI%2012", func(e *logevent.Event) bool {
			return e.IsTracked == 1 && strings.Contains(strings.ToLower(string(e.RequestBody)), "hi 12")
		}},
		{"cost_min=20&cost_max=60.5", func(e *logevent.Event) bool { return e.Cost >= 20 && e.Cost <= 60.5 }},
		{"total_units_min=1000&prompt_token_max=1500&completion_token_min=100", func(e *logevent.Event) bool {
			return e.TotalUnits >= 1000 && e.ReqUnits <= 1500 && e.ResUnits >= 100
		}},
		{"metadata=" + url.QueryEscape(`{"env":"prod","team":"t1"}`), func(e *logevent.Event) bool {
			v1, _ := e.Metadata("env")
			v2, _ := e.Metadata("team")
			return v1 == "prod" && v2 == "t1"
		}},
		{"ai_org_model=openai__gpt-4o,google__gemini-1.5-pro", func(e *logevent.Event) bool {
			return (e.AIOrg == "openai" && e.AIModel == "gpt-4o") || (e.AIOrg == "google" && e.AIModel == "gemini-1.5-pro")
		}},
		{"is_success=false&cache_status=HIT,SEMANTIC%20HIT", func(e *logevent.Event) bool {
			return e.IsSuccess == 0 && (e.CacheStatus == logevent.CacheHit || e.CacheStatus == logevent.CacheSemanticHit)
		}},
		{"user=alice&ai_model=gpt-4o-mini", func(e *logevent.Event) bool { return e.User == "alice" && e.AIModel == "gpt-4o-mini" }},
		{"virtual_keys=vk-main&configs=cfg-1,cfg-2&api_key_ids=key-1", func(e *logevent.Event) bool {
			return e.VirtualKey == "vk-main" && (e.Config == "cfg-1" || e.Config == "cfg-2") && e.APIKeyID == "key-1"
		}},
		{"trace_id=" + w.logs[7].TraceID, func(e *logevent.Event) bool { return e.TraceID == w.logs[7].TraceID }},
		{"span_id=span-9", func(e *logevent.Event) bool { return e.SpanID == "span-9" }},
		{"prompt_slug=pp-summarise", func(e *logevent.Event) bool { return e.PromptSlug == "pp-summarise" }},
		{"weighted_feedback_min=2", func(e *logevent.Event) bool { v, ok := wf[e.TraceID]; return ok && v >= 2 }},
		{"weighted_feedback_max=-1&provider=openai", func(e *logevent.Event) bool { v, ok := wf[e.TraceID]; return ok && v <= -1 && e.AIOrg == "openai" }},
		{"time_of_generation_min=" + url.QueryEscape(w.now.Add(-30*time.Hour).Format(time.RFC3339Nano)) +
			"&time_of_generation_max=" + url.QueryEscape(w.now.Add(-10*time.Hour).Format(time.RFC3339Nano)), func(e *logevent.Event) bool {
			return e.CreatedAt >= logevent.MillisOf(w.now.Add(-30*time.Hour)) && e.CreatedAt <= logevent.MillisOf(w.now.Add(-10*time.Hour))
		}},
		{"metadata=" + url.QueryEscape(`{"_user":"bob"}`), func(e *logevent.Event) bool { return e.User == "bob" }},
		{"workspace_slug=wsa", func(*logevent.Event) bool { return true }},
	}
	for _, tc := range cases {
		want := newestFirst(w.where(tc.keep))
		if len(want) == 0 {
			t.Errorf("%s: the seed has no matching log; the case proves nothing", tc.query)
		}
		got, total := w.listAll("a", tc.query, 50)
		if !slices.Equal(got, ids(want)) || total != uint64(len(want)) {
			t.Errorf("%s: got %d logs (total %d); want %d", tc.query, len(got), total, len(want))
		}
	}

	// Tenancy: B and C see only their own logs; A's log is a 404 for them.
	if got, _ := w.listAll("b", "", 100); len(got) != 40 || !strings.HasPrefix(got[0], "wsb-") {
		t.Errorf("workspace B lists %d logs (%v...); want its own 40", len(got), got[:1])
	}
	for _, key := range []string{"b", "c"} {
		if code := w.get(key, "/v1/logs/"+w.logs[0].ID, nil); code != 404 {
			t.Errorf("key %s opening workspace A's log: status %d; want 404", key, code)
		}
	}
	rng := "time_of_generation_min=2026-01-01T00:00:00Z&time_of_generation_max=2026-01-02T00:00:00Z"
	for _, path := range []string{"/v1/logs?workspace_slug=wsb", "/v1/analytics/graphs/requests?workspace_slug=wsb&" + rng,
		"/v1/analytics/groups/users?workspace_slug=wsb&" + rng, "/v1/analytics/summary/cache?workspace_slug=wsb&" + rng} {
		if code := w.get("a", path, nil); code != 404 {
			t.Errorf("%s with workspace A's key: status %d; want 404", path, code)
		}
	}
	if code := w.get("a", "/v1/logs/"+w.expired[0].ID, nil); code != 404 {
		t.Errorf("a log past retention: status %d; want 404", code)
	}
}

func TestDetailReplayFeedbackAndShare(t *testing.T) {
	w := newWorld(t)
	wf := map[string][]feedback.Feedback{}
	for _, f := range w.fb {
		wf[f.TraceID] = append(wf[f.TraceID], f)
	}
	sawDNT, sawBody, sawFb := false, false, false
	reasons := map[string]bool{}
	var shareURL string
	for _, e := range w.logs[:200] {
		var d map[string]any
		if code := w.get("a", "/v1/logs/"+e.ID, &d); code != 200 {
			t.Fatalf("detail %s: status %d", e.ID, code)
		}
		// the product's log object beside the flat fields
		req, _ := d["request"].(map[string]any)
		res, _ := d["response"].(map[string]any)
		met, _ := d["metrics"].(map[string]any)
		if d["_id"] != e.ID || d["organisation_id"] != e.OrganisationID || d["created_at"] != e.CreatedAt.String() ||
			req == nil || res == nil || met == nil || req["url"] != e.RequestURL || req["method"] != strings.ToUpper(e.RequestMethod) ||
			res["status"] != float64(e.ResponseStatusCode) || res["responseTime"] != float64(e.ResponseTime) ||
			met["is_success"] != (e.IsSuccess == 1) || met["ai_model"] != e.AIModel || met["id"] != e.ID {
			t.Fatalf("%s: product log object %v / %v / %v / %v; want the log's", e.ID, d["_id"], req, res, met)
		}
		if ph, _ := req["portkeyHeaders"].(map[string]any); ph["x-portkey-trace-id"] != e.TraceID || ph["x-portkey-span-id"] != e.SpanID {
			t.Fatalf("%s: portkeyHeaders %v; want the trace and span ids", e.ID, req["portkeyHeaders"])
		}
		if _, has := req["body"]; has != (e.IsTracked == 1) {
			t.Fatalf("%s: request.body present %v with is_tracked %d", e.ID, has, e.IsTracked)
		}
		if e.IsTracked == 0 {
			sawDNT = true
			if d["do_not_track"] != true || d["request.body"] != nil {
				t.Fatalf("DNT log %s: %v", e.ID, d)
			}
		} else {
			sawBody = true
			b, _ := json.Marshal(d["request.body"])
			var want any
			_ = json.Unmarshal(e.RequestBody, &want)
			wb, _ := json.Marshal(want)
			if string(b) != string(wb) {
				t.Fatalf("%s request.body %s; want %s", e.ID, b, e.RequestBody)
			}
		}
		// replay by the three rules
		rp := d["replay"].(map[string]any)
		wantEligible := slices.Contains(logevent.ReplayableEndpoints, e.EndpointType) && e.VirtualKey != "vk-old" && e.PromptInConfig == 0
		if rp["eligible"] != wantEligible {
			t.Fatalf("%s replay %v; want eligible=%v (endpoint %s, vk %s, prompt_in_config %d)", e.ID, rp, wantEligible, e.EndpointType, e.VirtualKey, e.PromptInConfig)
		}
		if !wantEligible {
			reasons[rp["reason"].(string)[:10]] = true
		}
		// feedback: the latest version of each feedback on the trace
		fbs := d["feedback"].([]any)
		if len(fbs) != len(wf[e.TraceID]) {
			t.Fatalf("%s has %d feedbacks; want %d", e.ID, len(fbs), len(wf[e.TraceID]))
		}
		for _, x := range fbs {
			sawFb = true
			m := x.(map[string]any)
			var f feedback.Feedback
			for _, c := range wf[e.TraceID] {
				if c.ID == m["id"] {
					f = c
				}
			}
			if m["value"].(float64) != float64(f.Value) || math.Abs(m["weighted_value"].(float64)-float64(f.Value)*f.Weight) > 1e-9 {
				t.Fatalf("%s feedback %v; want %+v", e.ID, m, f)
			}
		}
		shareURL = d["share_url"].(string)
	}
	if !sawDNT || !sawBody || !sawFb || len(reasons) < 3 {
		t.Fatalf("seed does not cover DNT (%v), bodies (%v), feedback (%v), all replay reasons (%v)", sawDNT, sawBody, sawFb, reasons)
	}
	// The share URL opens the log for keys of the same organisation only.
	const prefix = "http://public.example:8000"
	if !strings.HasPrefix(shareURL, prefix+"/v1/logs/shared/") {
		t.Fatalf("share URL %q", shareURL)
	}
	path := strings.TrimPrefix(shareURL, prefix)
	for key, want := range map[string]int{"a": 200, "b": 200, "c": 404, "twin": 404} {
		var d map[string]any
		if code := w.get(key, path, &d); code != want {
			t.Errorf("key %s opening the share URL: status %d; want %d", key, code, want)
		} else if code == 200 && d["id"] != w.logs[199].ID {
			t.Errorf("share URL opened %v; want %s", d["id"], w.logs[199].ID)
		}
	}
	// The payload names another tenant (org2's "wsa"), the signature is A's.
	token := strings.TrimPrefix(path, "/v1/logs/shared/")
	p64, sig, _ := strings.Cut(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(p64)
	forged := strings.Replace(string(payload), "org1", "org2", 1)
	if forged == string(payload) {
		t.Fatalf("share payload %q names no organisation", payload)
	}
	tampered := "/v1/logs/shared/" + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + sig
	for _, key := range []string{"b", "twin"} {
		if code := w.get(key, tampered, nil); code != 404 {
			t.Errorf("tampered share URL with key %s: status %d; want 404", key, code)
		}
	}
}

func TestBadInputIs400NamingTheParameter(t *testing.T) {
	w := newWorld(t)
	rng := "time_of_generation_min=2026-01-01T00:00:00Z&time_of_generation_max=2026-01-02T00:00:00Z"
	for path, param := range map[string]string{
		"/v1/logs?page_size=0":          "page_size",
		"/v1/logs?page_size=501":        "page_size",
		"/v1/logs?cursor=bogus":         "cursor",
		"/v1/logs?nope=1":               "nope",
		"/v1/logs?status_code=abc":      "status_code",
		"/v1/analytics/graphs/requests": "time_of_generation_min",
		"/v1/analytics/graphs/requests?time_of_generation_min=2026-01-01T00:00:00Z":                                         "time_of_generation_max",
		"/v1/analytics/graphs/cost?time_of_generation_min=2020-01-01T00:00:00Z&time_of_generation_max=2026-01-01T00:00:00Z": "time_of_generation_min",
		"/v1/analytics/graphs/latency?time_of_generation_min=soon&time_of_generation_max=2026-01-01T00:00:00Z":              "time_of_generation_min",
		"/v1/analytics/groups/users?" + rng + "&page_size=50001":                                                            "page_size",
		"/v1/analytics/groups/users?" + rng + "&order_by=nope":                                                              "order_by",
		"/v1/analytics/groups/metadata/bad%20key?" + rng:                                                                    "key",
		"/v1/analytics/summary/cache?" + rng + "&metadata=%7B%22a%20b%22%3A%22x%22%7D":                                      "metadata",
	} {
		var body struct {
			Error struct {
				Code, Param string
			} `json:"error"`
		}
		if code := w.get("a", path, &body); code != 400 || body.Error.Param != param || body.Error.Code != "invalid_request" {
			t.Errorf("%s: status %d, error %+v; want 400 naming %s", path, code, body.Error, param)
		}
	}
	if code := w.get("nobody", "/v1/logs", nil); code != 401 {
		t.Errorf("no key: status %d; want 401", code)
	}
}

// Range bounds ClickHouse cannot read as literals (subnormals, inf, nan, out
// of float64) answer 400 naming the parameter on every reading endpoint, and
// the extreme values it can read run against the real server.
func TestRangeBoundsClickHouseRefusesAre400(t *testing.T) {
	w := newWorld(t)
	rng := "time_of_generation_min=2026-01-01T00:00:00Z&time_of_generation_max=2026-01-02T00:00:00Z"
	paths := []string{"/v1/logs?", "/v1/analytics/graphs/cost?" + rng + "&", "/v1/analytics/groups/ai-models?" + rng + "&",
		"/v1/analytics/summary/cache?" + rng + "&", "/v1/analytics/graphs/feedbacks?" + rng + "&"}
	for _, path := range paths {
		for _, q := range []string{"cost_min=1e-308", "total_units_max=5e-324", "prompt_token_min=inf", "completion_token_max=nan",
			"cost_max=1e309", "weighted_feedback_min=-2e-310", "weighted_feedback_max=-Inf"} {
			param, _, _ := strings.Cut(q, "=")
			var body struct {
				Error struct{ Code, Param string } `json:"error"`
			}
			if code := w.get("a", path+q, &body); code != 400 || body.Error.Param != param {
				t.Errorf("%s%s: status %d, error %+v; want 400 naming %s", path, q, code, body.Error, param)
			}
		}
		for _, q := range []string{"cost_min=2.2250738585072014e-308", "cost_max=1.7976931348623157e308", "total_units_min=0",
			"prompt_token_max=1e308", "weighted_feedback_min=-1e308&weighted_feedback_max=2.2250738585072014e-308"} {
			if code := w.get("a", path+q, nil); code != 200 {
				t.Errorf("%s%s: status %d; want 200", path, q, code)
			}
		}
	}
}

func TestClickHouseDownIs503(t *testing.T) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{testenv.FreeAddr(t)}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	plain, k := tenant.NewKey("o", "ws", tenant.RoleMember)
	reg, _ := tenant.NewStatic(tenant.File{Organisations: []tenant.Organisation{{ID: "o", Plan: tenant.PlanProduction}}, Keys: []tenant.Key{k}})
	srv := httptest.NewServer(newEngine(store.New(conn), reg))
	defer srv.Close()
	for _, path := range []string{"/v1/logs", "/v1/logs/abc",
		"/v1/analytics/graphs/requests?time_of_generation_min=2026-01-01T00:00:00Z&time_of_generation_max=2026-01-02T00:00:00Z"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set(tenant.HeaderAPIKey, plain)
		resp, err := openapicheck.Load(t).Client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with ClickHouse down: status %d; want 503 with Retry-After", path, resp.StatusCode)
		}
	}
}

// Two organisations with a workspace of the same name and colliding log and
// trace ids: every read of one returns its own rows only — listing, total,
// detail, feedback on a trace, graphs, groups, the cache summary.
func TestOrganisationsWithCollidingWorkspaceAndIDs(t *testing.T) {
	w := newWorld(t)
	from := url.QueryEscape(w.now.Add(-80 * time.Hour).Format(time.RFC3339))
	to := url.QueryEscape(w.now.Add(time.Minute).Format(time.RFC3339))
	rng := "time_of_generation_min=" + from + "&time_of_generation_max=" + to

	var list struct {
		Total uint64           `json:"total"`
		Data  []map[string]any `json:"data"`
	}
	if code := w.get("twin", "/v1/logs?page_size=500", &list); code != 200 {
		t.Fatalf("twin listing: status %d", code)
	}
	if list.Total != uint64(len(w.twin)) || len(list.Data) != len(w.twin) {
		t.Fatalf("twin listing: total %d, %d rows; want %d", list.Total, len(list.Data), len(w.twin))
	}
	for _, d := range list.Data {
		if d["ai_model"] != "evil-model" {
			t.Fatalf("twin listing holds another organisation's log: %v", d)
		}
	}
	// The same id opens each organisation's own log.
	for key, model := range map[string]string{"a": w.logs[0].AIModel, "twin": "evil-model"} {
		var d map[string]any
		if code := w.get(key, "/v1/logs/"+w.logs[0].ID, &d); code != 200 || d["ai_model"] != model {
			t.Fatalf("key %s opening %s: status %d, model %v; want 200, %s", key, w.logs[0].ID, code, d["ai_model"], model)
		}
		for _, f := range d["feedback"].([]any) {
			id := f.(map[string]any)["id"]
			if (key == "twin") != (id == "fb-twin") {
				t.Errorf("key %s sees feedback %v on trace %s", key, id, w.logs[0].TraceID)
			}
		}
	}
	// A log only the other organisation has is a 404.
	if code := w.get("twin", "/v1/logs/"+w.logs[100].ID, nil); code != 404 {
		t.Errorf("twin opening org1's log %s: status %d; want 404", w.logs[100].ID, code)
	}
	var g struct {
		Summary map[string]any `json:"summary"`
	}
	if code := w.get("twin", "/v1/analytics/graphs/requests?"+rng, &g); code != 200 {
		t.Fatalf("twin requests graph: status %d", code)
	}
	if got := g.Summary["total"]; got != float64(len(w.twin)) {
		t.Errorf("twin requests graph total %v; want %d", got, len(w.twin))
	}
	var groups struct {
		Data []map[string]any `json:"data"`
	}
	if code := w.get("twin", "/v1/analytics/groups/users?"+rng, &groups); code != 200 {
		t.Fatalf("twin users group: status %d", code)
	}
	for _, d := range groups.Data {
		if d["user"] != "mallory" {
			t.Errorf("twin users group holds %v", d)
		}
	}
	if code := w.get("a", "/v1/analytics/groups/users?"+rng, &groups); code != 200 {
		t.Fatalf("users group: status %d", code)
	}
	for _, d := range groups.Data {
		if d["user"] == "mallory" {
			t.Errorf("org1's users group holds org2's user: %v", d)
		}
	}
}

// A query over its memory bound is stopped by ClickHouse and answered 503
// with Retry-After, never 500; the same request within its bound succeeds.
func TestQueryOverItsBudgetIs503(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	var evs []logevent.Event
	r := rand.New(rand.NewSource(7))
	now := time.Now()
	for i := 0; i < 3000; i++ {
		evs = append(evs, randomEvent(r, "ws", "o", now.Add(-time.Duration(i)*time.Minute), i, fmt.Sprintf("tr-%d", i), models[i%len(models)]))
	}
	insertLogs(t, conn, evs)
	plain, k := tenant.NewKey("o", "ws", tenant.RoleMember)
	reg, _ := tenant.NewStatic(tenant.File{Organisations: []tenant.Organisation{{ID: "o", Plan: tenant.PlanProduction}}, Keys: []tenant.Key{k}})
	rng := "time_of_generation_min=" + url.QueryEscape(now.Add(-72*time.Hour).Format(time.RFC3339)) +
		"&time_of_generation_max=" + url.QueryEscape(now.Add(time.Minute).Format(time.RFC3339))
	for bound, want := range map[int64]int{64 << 10: 503, 0: 200} {
		srv := httptest.NewServer(newEngineWith(store.New(conn), reg, bound))
		// The latency graph (exact quantiles) needs more than the bound on
		// both engines; current ClickHouse tracks memory in 4 MiB steps, so
		// lighter queries may pass a tiny bound there.
		for _, path := range []string{"/v1/analytics/graphs/latency?" + rng} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set(tenant.HeaderAPIKey, plain)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || (want == 503 && (resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "budget"))) {
				t.Errorf("%s with a %d-byte bound: status %d %s; want %d (over budget)", path, bound, resp.StatusCode, body, want)
			}
		}
		srv.Close()
	}
}
