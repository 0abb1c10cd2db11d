package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"logpipe/ingest/quota"
	"logpipe/lib/apierr"
	"logpipe/lib/logevent"
	"logpipe/lib/openapicheck"
	"logpipe/lib/server"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

// fakeProducer records what it is asked to produce (unless discard), or
// fails with err; with hold it keeps the failed messages as given in held,
// like a Kafka writer still retrying them.
type fakeProducer struct {
	mu      sync.Mutex
	msgs    []kafka.Message
	err     error
	hold    bool
	held    []kafka.Message
	discard bool
}

func (f *fakeProducer) Produce(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		if f.hold {
			f.held = append(f.held, msgs...)
		}
		return f.err
	}
	if f.discard {
		return nil
	}
	for _, m := range msgs {
		// the handler reuses the memory of acknowledged messages
		m.Key, m.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
		f.msgs = append(f.msgs, m)
	}
	return nil
}

func (f *fakeProducer) events(t *testing.T) []logevent.Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []logevent.Event
	for _, m := range f.msgs {
		e, err := logevent.Decode(m.Value)
		if err != nil {
			t.Fatalf("produced message does not decode: %v", err)
		}
		if string(m.Key) != e.ID {
			t.Errorf("key %q; want the event id %q", m.Key, e.ID)
		}
		out = append(out, e)
	}
	return out
}

// fakeQuota allows up to limit logs (0: unlimited).
type fakeQuota struct {
	mu    sync.Mutex
	used  int64
	limit int64
}

func (q *fakeQuota) Reserve(p tenant.Principal, n int) quota.Decision {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit > 0 && q.used+int64(n) > q.limit {
		return quota.Decision{Allowed: false, Used: q.used, Limit: q.limit}
	}
	q.used += int64(n)
	return quota.Decision{Allowed: true, Used: q.used - int64(n), Limit: q.limit}
}
func (q *fakeQuota) Commit(quota.Decision)  {}
func (q *fakeQuota) Release(quota.Decision) {}

const testKey = "lp_test_key"

var testPrincipal = tenant.Principal{KeyID: "key_test", OrganisationID: "org-a", WorkspaceID: "ws-a",
	Role: tenant.RoleAdmin, Plan: tenant.PlanProduction, RetentionDays: 30}

func testRegistry(t testing.TB) *tenant.Registry {
	t.Helper()
	r, err := tenant.NewStatic(tenant.File{
		Organisations: []tenant.Organisation{{ID: "org-a", Plan: tenant.PlanProduction}},
		Keys: []tenant.Key{{ID: "key_test", SHA256: tenant.Hash(testKey), OrganisationID: "org-a",
			WorkspaceID: "ws-a", Role: tenant.RoleAdmin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type harness struct {
	engine *gin.Engine
	logs   *fakeProducer
	fb     *fakeProducer
	quota  *fakeQuota
	index  *fakeIndex
}

// fakeIndex knows the feedback ids remembered or added, per tenant.
type fakeIndex struct {
	mu  sync.Mutex
	ids map[string]bool
	err error
}

func (x *fakeIndex) Exists(_ context.Context, sc tenant.Scope, id string) (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.ids[sc.OrganisationID()+"/"+sc.WorkspaceID()+"/"+id], x.err
}

func (x *fakeIndex) Remember(sc tenant.Scope, ids []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		x.ids[sc.OrganisationID()+"/"+sc.WorkspaceID()+"/"+id] = true
	}
}

func newHarness(t testing.TB, o Options, query *url.URL) *harness {
	t.Helper()
	hs := &harness{logs: &fakeProducer{}, fb: &fakeProducer{}, quota: &fakeQuota{}, index: &fakeIndex{ids: map[string]bool{}}}
	if query == nil {
		query, _ = url.Parse("http://127.0.0.1:1")
	}
	reg := prometheus.NewRegistry()
	h, err := New(Deps{Log: testenv.Logger(), Keys: testRegistry(t), Logs: hs.logs, Feedback: hs.fb, Quota: hs.quota,
		Feedbacks: hs.index, QueryURL: query, Registry: reg, Options: o})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := server.NewEngine(testenv.Logger(), reg, nil)
	h.Register(e)
	hs.engine = e
	return hs
}

func (hs *harness) do(t testing.TB, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(tenant.HeaderAPIKey, testKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	hs.engine.ServeHTTP(w, req)
	// every answer of ingest's own operations must be as documented (GET
	// /v1/logs is forwarded to the query service, whose tests check it)
	if !(method == http.MethodGet && strings.HasPrefix(path, "/v1/logs")) {
		if err := openapicheck.Load(t).Check(req, w.Code, w.Header(), w.Body.Bytes()); err != nil {
			t.Errorf("OpenAPI: %v", err)
		}
	}
	return w
}

func errBody(t testing.TB, w *httptest.ResponseRecorder) apierr.Body {
	t.Helper()
	var b apierr.Body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return b
}

const insertExample = `{
  "request": {
    "url": "https://api.openai.com/v1/chat/completions",
    "method": "post",
    "headers": {"content-type": "application/json"},
    "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "What is 2+2?"}]}
  },
  "response": {
    "status": 200,
    "headers": {"content-type": "application/json"},
    "body": {"id": "chatcmpl-1", "model": "gpt-4o-2024-08-06", "choices": [{"message": {"role": "assistant", "content": "4"}}],
             "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13,
                       "completion_tokens_details": {"reasoning_tokens": 0}}},
    "response_time": 842.4,
    "streamingMode": false
  },
  "metadata": {"trace_id": "trace-42", "span_id": "span-1", "_user": "alice@example.com", "env": "prod"}
}`

func TestInsertALogShape(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	w := hs.do(t, "POST", "/v1/logs", insertExample)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var res insertResponse
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	evs := hs.logs.events(t)
	if len(evs) != 1 || len(res.LogIDs) != 1 || res.LogIDs[0] != evs[0].ID {
		t.Fatalf("got ids %v and events %d; want one, the same", res.LogIDs, len(evs))
	}
	e := evs[0]
	want := map[string]any{
		"ai_org": "openai", "ai_model": "gpt-4o-2024-08-06", "request_method": "POST", "endpoint_type": "chat/completions",
		"req_units": uint32(12), "res_units": uint32(1), "total_units": uint32(13), "response_time": uint32(842),
		"trace_id": "trace-42", "span_id": "span-1", "user": "alice@example.com", "workspace_id": "ws-a",
		"organisation_id": "org-a", "api_key_id": "key_test", "retention_days": uint16(30), "is_success": uint8(1),
		"stream_mode": "FALSE", "response_status_code": uint16(200), "is_tracked": uint8(1),
	}
	for name, v := range want {
		c, ok := logevent.Lookup(name)
		if !ok {
			t.Fatalf("no column %s", name)
		}
		if got := c.Value(&e); got != v {
			t.Errorf("%s = %v; want %v", name, got, v)
		}
	}
	if !slices.Equal(e.MetadataKey, []string{"_user", "env"}) || !slices.Equal(e.MetadataValue, []string{"alice@example.com", "prod"}) {
		t.Errorf("metadata %v=%v; want [_user env]=[alice@example.com prod]", e.MetadataKey, e.MetadataValue)
	}
	if !strings.Contains(string(e.RequestBody), "What is 2+2?") {
		t.Errorf("request body %s lost", e.RequestBody)
	}
	if at, ok := logevent.IDTime(e.ID); !ok || at != e.CreatedAt {
		t.Errorf("created_at %v; want the time of the generated UUIDv7 id %v", e.CreatedAt, at)
	}
	if w.Header().Get(HeaderTraceID) == "" {
		t.Errorf("x-portkey-trace-id not echoed")
	}
}

func TestTenantFromKeyOverridesBody(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	w := hs.do(t, "POST", "/v1/logs", `{"id":"log-1","workspace_id":"ws-evil","organisation_id":"org-evil","api_key_id":"x","retention_days":999,"created_at":"2026-11-22T10:00:00.123+01:00"}`)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	e := hs.logs.events(t)[0]
	if e.WorkspaceID != "ws-a" || e.OrganisationID != "org-a" || e.APIKeyID != "key_test" || e.RetentionDays != 30 {
		t.Errorf("tenant %s/%s key %s retention %d; want ws-a/org-a key_test 30", e.WorkspaceID, e.OrganisationID, e.APIKeyID, e.RetentionDays)
	}
	if e.ID != "log-1" || e.CreatedAt.String() != "2026-11-22T09:00:00.123Z" {
		t.Errorf("id %s created_at %s; want the caller's log-1 2026-11-22T09:00:00.123Z", e.ID, e.CreatedAt)
	}
}

func TestRetryWithSameIDKeepsCreatedAt(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	id := logevent.NewID()
	body := `{"id":"` + id + `","ai_model":"gpt-4o"}`
	for i := 0; i < 2; i++ {
		if w := hs.do(t, "POST", "/v1/logs", body); w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	evs := hs.logs.events(t)
	want, _ := logevent.IDTime(id)
	for _, e := range evs {
		if e.ID != id || e.CreatedAt != want {
			t.Errorf("id %s created_at %s; want %s %s", e.ID, e.CreatedAt, id, want)
		}
	}
}

func TestDoNotTrack(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	for _, tc := range []struct{ name, body, debug string }{
		{"header", insertExample, "false"},
		{"event", `{"is_tracked":0,"request.body":{"secret":"s3cr3t"},"response.body":{"x":"s3cr3t"},"request.headers":{"authorization":"s3cr3t"},"total_units":5}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs.logs.msgs = nil
			w := hs.do(t, "POST", "/v1/logs", tc.body, HeaderDebug, tc.debug)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			for _, m := range hs.logs.msgs {
				for _, secret := range []string{"s3cr3t", "What is 2+2?", "content-type"} {
					if bytes.Contains(m.Value, []byte(secret)) {
						t.Errorf("DO NOT TRACK event carries %q: %s", secret, m.Value)
					}
				}
			}
			e := hs.logs.events(t)[0]
			if e.IsTracked != 0 || e.RequestBody != nil || e.ResponseHeaders != nil {
				t.Errorf("is_tracked %d, bodies %q; want 0 and none", e.IsTracked, e.RequestBody)
			}
			if tc.name == "header" && e.TotalUnits != 13 {
				t.Errorf("total_units %d; want the statistics kept (13)", e.TotalUnits)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	w := hs.do(t, "POST", "/v1/logs", `[{"ai_model":"a"},{"ai_model":"b","trace_id":"own","metadata.key":["env"],"metadata.value":["dev"]}]`,
		HeaderTraceID, "t-hdr", HeaderSpanID, "s-hdr", HeaderSpanName, "name", HeaderParentSpanID, "p-hdr",
		HeaderMetadata, `{"_user":"bob","env":"prod"}`)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := w.Header().Get(HeaderTraceID); got != "t-hdr" {
		t.Errorf("echoed trace %q; want t-hdr", got)
	}
	evs := hs.logs.events(t)
	if evs[0].TraceID != "t-hdr" || evs[1].TraceID != "own" {
		t.Errorf("trace ids %q %q; want t-hdr own", evs[0].TraceID, evs[1].TraceID)
	}
	if evs[0].SpanID != "s-hdr" || evs[0].SpanName != "name" || evs[0].ParentSpanID != "p-hdr" || evs[0].User != "bob" {
		t.Errorf("span %q %q %q user %q; want the header values", evs[0].SpanID, evs[0].SpanName, evs[0].ParentSpanID, evs[0].User)
	}
	if v, _ := evs[1].Metadata("env"); v != "dev" {
		t.Errorf("event metadata env=%q; want its own value dev to win over the header", v)
	}
	if v, _ := evs[0].Metadata("env"); v != "prod" {
		t.Errorf("event metadata env=%q; want the header's prod", v)
	}
}

func TestBadInput(t *testing.T) {
	hs := newHarness(t, Options{MaxBatchEvents: 3, MaxEventBytes: 4000, MaxBodyBytes: 64 << 10}, nil)
	big := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name, body string
		hdr        []string
		status     int
		code       string
		fields     []string
	}{
		{"no key", `{}`, []string{tenant.HeaderAPIKey, ""}, 401, apierr.CodeUnauthorized, nil},
		{"unknown key", `{}`, []string{tenant.HeaderAPIKey, "nope"}, 401, apierr.CodeUnauthorized, nil},
		{"malformed", `{"ai_model":`, nil, 400, apierr.CodeInvalid, []string{""}},
		{"wrong type", `{"req_units":"many"}`, nil, 400, apierr.CodeInvalid, []string{"req_units"}},
		{"negative", `{"req_units":-1}`, nil, 400, apierr.CodeInvalid, []string{"req_units"}},
		{"unknown field", `{"colour":"red"}`, nil, 400, apierr.CodeInvalid, []string{"colour"}},
		{"bad time", `{"created_at":"yesterday"}`, nil, 400, apierr.CodeInvalid, []string{"created_at"}},
		{"bad enum", `{"cache_status":"WARM"}`, nil, 400, apierr.CodeInvalid, []string{"cache_status"}},
		{"array items", `[{"ai_model":"ok"},{"cost":-1},{"mode":"X"}]`, nil, 400, apierr.CodeInvalid, []string{"[1].cost", "[2].mode"}},
		{"not object", `[1]`, nil, 400, apierr.CodeInvalid, []string{"[0]"}},
		{"empty", ``, nil, 400, apierr.CodeInvalid, nil},
		{"empty array", `[]`, nil, 400, apierr.CodeInvalid, nil},
		{"too many", `[{},{},{},{}]`, nil, 413, apierr.CodeTooLarge, nil},
		{"event too large", `{"request.body":"` + big + `"}`, nil, 413, apierr.CodeTooLarge, []string{""}},
		{"body too large", `[` + strings.Repeat(" ", 70<<10) + `]`, nil, 413, apierr.CodeTooLarge, nil},
		{"content type", `{}`, []string{"Content-Type", "text/plain"}, 415, apierr.CodeUnsupported, nil},
		{"encoding", `{}`, []string{"Content-Encoding", "br"}, 415, apierr.CodeUnsupported, nil},
		{"metadata header", `{}`, []string{HeaderMetadata, `{"a":1}`}, 400, apierr.CodeInvalid, []string{HeaderMetadata + ".a"}},
		{"metadata header long", `{}`, []string{HeaderMetadata, `{"a":"` + strings.Repeat("y", 129) + `"}`}, 400, apierr.CodeInvalid, []string{HeaderMetadata + ".a"}},
		{"insert without response", `{"request":{"url":"https://api.openai.com/v1/embeddings"}}`, nil, 400, apierr.CodeInvalid, []string{"response"}},
		{"insert metadata type", `{"request":{},"response":{},"metadata":{"n":5}}`, nil, 400, apierr.CodeInvalid, []string{"metadata.n"}},
		{"insert unknown", `{"request":{"uri":"x"},"response":{}}`, nil, 400, apierr.CodeInvalid, []string{"uri"}},
		{"insert status", `{"request":{},"response":{"status":42}}`, nil, 400, apierr.CodeInvalid, []string{"response.status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs.logs.msgs = nil
			w := hs.do(t, "POST", "/v1/logs", tc.body, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d; want %d: %s", w.Code, tc.status, w.Body)
			}
			b := errBody(t, w)
			if b.Error.Code != tc.code || b.Error.Message == "" {
				t.Errorf("code %q message %q; want %q", b.Error.Code, b.Error.Message, tc.code)
			}
			var fields []string
			for _, f := range b.Error.Fields {
				fields = append(fields, f.Field)
			}
			if tc.fields != nil && !slices.Equal(fields, tc.fields) {
				t.Errorf("fields %q; want %q (%s)", fields, tc.fields, w.Body)
			}
			if len(hs.logs.msgs) != 0 {
				t.Errorf("%d messages produced for a refused request", len(hs.logs.msgs))
			}
		})
	}
}

func compress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch enc {
	case "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	case "zstd":
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	default:
		buf.Write(b)
	}
	return buf.Bytes()
}

func TestNDJSONStream(t *testing.T) {
	for _, enc := range []string{"", "gzip", "zstd"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			hs := newHarness(t, Options{StreamChunkEvents: 2}, nil)
			lines := `{"ai_model":"m1"}
{"ai_model":"m2","cost":-5}

{"ai_model":"m3"}
not json
{"ai_model":"m4"}
`
			req := httptest.NewRequest("POST", "/v1/logs", bytes.NewReader(compress(t, enc, []byte(lines))))
			req.Header.Set("Content-Type", "application/x-ndjson")
			if enc != "" {
				req.Header.Set("Content-Encoding", enc)
			}
			req.Header.Set(tenant.HeaderAPIKey, testKey)
			w := httptest.NewRecorder()
			hs.engine.ServeHTTP(w, req)
			if w.Code != http.StatusMultiStatus {
				t.Fatalf("status %d; want 207: %s", w.Code, w.Body)
			}
			var res streamResponse
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 3 || res.Rejected != 2 || len(res.LogIDs) != 3 || res.Status != "partial" {
				t.Errorf("accepted %d rejected %d ids %d status %s; want 3 2 3 partial", res.Accepted, res.Rejected, len(res.LogIDs), res.Status)
			}
			if len(res.Errors) != 2 || res.Errors[0].Line != 2 || res.Errors[0].Fields[0].Field != "cost" || res.Errors[1].Line != 5 {
				t.Errorf("errors %+v; want line 2 (cost) and line 5", res.Errors)
			}
			var models []string
			for i, e := range hs.logs.events(t) {
				models = append(models, e.AIModel)
				if e.ID != res.LogIDs[i] {
					t.Errorf("event %d id %s; want %s", i, e.ID, res.LogIDs[i])
				}
			}
			if !slices.Equal(models, []string{"m1", "m3", "m4"}) {
				t.Errorf("produced %v; want m1 m3 m4", models)
			}
		})
	}
}

func TestKafkaDownAnswers503(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	hs.logs.err = errors.New("broker down")
	for _, ct := range []string{"application/json", "application/x-ndjson"} {
		w := hs.do(t, "POST", "/v1/logs", `{"ai_model":"x"}`, "Content-Type", ct)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("%s: status %d Retry-After %q; want 503 with Retry-After", ct, w.Code, w.Header().Get("Retry-After"))
		}
		if b := errBody(t, w); b.Error.Code != apierr.CodeUnavailable {
			t.Errorf("code %q; want unavailable", b.Error.Code)
		}
	}
	hs.fb.err = errors.New("broker down")
	if w := hs.do(t, "POST", "/v1/feedback", `{"trace_id":"t","value":1}`); w.Code != 503 {
		t.Errorf("feedback status %d; want 503", w.Code)
	}
}

func TestQuotaRefusal(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	hs.quota.limit = 2
	if w := hs.do(t, "POST", "/v1/logs", `[{},{}]`); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	w := hs.do(t, "POST", "/v1/logs", `{}`)
	if w.Code != 429 {
		t.Fatalf("status %d; want 429: %s", w.Code, w.Body)
	}
	if b := errBody(t, w); b.Error.Code != apierr.CodeQuotaExceeded || !strings.Contains(b.Error.Message, "2 logs per month") {
		t.Errorf("error %+v; want quota_exceeded naming the limit", b.Error)
	}
}

func TestOverload(t *testing.T) {
	hs := newHarness(t, Options{MaxInflightBytes: 1024}, nil)
	w := hs.do(t, "POST", "/v1/logs", `{"request.body":"`+strings.Repeat("z", 4000)+`"}`)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d; want 503 with Retry-After: %s", w.Code, w.Body)
	}
	if b := errBody(t, w); b.Error.Code != apierr.CodeOverloaded {
		t.Errorf("code %q; want overloaded", b.Error.Code)
	}
}

func TestFeedback(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	w := hs.do(t, "POST", "/v1/feedback", `{"trace_id":"trace-1","value":5,"metadata":{"source":"ui"}}`)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var res feedbackResponse
	json.Unmarshal(w.Body.Bytes(), &res)
	if res.Status != "success" || len(res.FeedbackIDs) != 1 {
		t.Fatalf("response %+v", res)
	}
	id := res.FeedbackIDs[0]
	if w := hs.do(t, "PUT", "/v1/feedback/"+id, `{"value":-3,"weight":0.5}`); w.Code != 200 {
		t.Fatalf("put status %d: %s", w.Code, w.Body)
	}
	if len(hs.fb.msgs) != 2 {
		t.Fatalf("%d feedback messages; want 2", len(hs.fb.msgs))
	}
	// The official node SDK's spelling: traceID, and feedbackID repeated in the body.
	if w := hs.do(t, "POST", "/v1/feedback", `{"traceID":"trace-sdk","value":2,"weight":0.5}`); w.Code != 200 {
		t.Fatalf("SDK create: status %d: %s", w.Code, w.Body)
	}
	if w := hs.do(t, "PUT", "/v1/feedback/"+id, `{"feedbackID":"`+id+`","value":-1,"weight":1}`); w.Code != 200 {
		t.Fatalf("SDK update: status %d: %s", w.Code, w.Body)
	}
	// What the node SDK really puts on the wire: its request layer snake-cases body keys.
	if w := hs.do(t, "PUT", "/v1/feedback/"+id, `{"feedback_id":"`+id+`","value":-1,"weight":1}`); w.Code != 200 {
		t.Fatalf("SDK update (snake case): status %d: %s", w.Code, w.Body)
	}
	// An array of feedback as the node SDK puts it on the wire: an object keyed by index.
	if w := hs.do(t, "POST", "/v1/feedback", `{"0":{"trace_id":"t-a","value":1},"1":{"trace_id":"t-b","value":-1,"weight":0.2}}`); w.Code != 200 ||
		strings.Count(w.Body.String(), ",") < 3 {
		t.Fatalf("SDK array create: status %d: %s", w.Code, w.Body)
	}
	if w := hs.do(t, "POST", "/v1/feedback", `{"0":{"trace_id":"t-a","value":1},"2":{"trace_id":"t-b","value":1}}`); w.Code != 400 {
		t.Fatalf("object with a gap in its indexes: status %d: %s", w.Code, w.Body)
	}
	// An id that was never created is a 404 and publishes nothing; the
	// index unreachable is a 503.
	before := len(hs.fb.msgs)
	if w := hs.do(t, "PUT", "/v1/feedback/never-created-1", `{"value":1}`); w.Code != 404 {
		t.Fatalf("update of an unknown id: status %d: %s", w.Code, w.Body)
	}
	hs.index.err = errors.New("clickhouse away")
	if w := hs.do(t, "PUT", "/v1/feedback/"+id, `{"value":1}`); w.Code != 503 {
		t.Fatalf("update with the index failing: status %d: %s", w.Code, w.Body)
	}
	hs.index.err = nil
	if len(hs.fb.msgs) != before {
		t.Fatalf("refused updates published %d messages", len(hs.fb.msgs)-before)
	}
	var sdk map[string]any
	json.Unmarshal(hs.fb.msgs[2].Value, &sdk)
	if sdk["trace_id"] != "trace-sdk" {
		t.Errorf("SDK feedback trace_id %v; want trace-sdk", sdk["trace_id"])
	}
	hs.fb.msgs = hs.fb.msgs[:2]
	var first, second map[string]any
	json.Unmarshal(hs.fb.msgs[0].Value, &first)
	json.Unmarshal(hs.fb.msgs[1].Value, &second)
	if first["id"] != id || second["id"] != id || string(hs.fb.msgs[1].Key) != id {
		t.Errorf("ids %v %v key %s; want %s", first["id"], second["id"], hs.fb.msgs[1].Key, id)
	}
	if first["trace_id"] != "trace-1" || first["weight"] != 1.0 || first["workspace_id"] != "ws-a" || second["value"] != -3.0 || second["weight"] != 0.5 {
		t.Errorf("feedback %v then %v", first, second)
	}
	if first["created_at"] != second["created_at"] || second["updated_at"].(string) < first["updated_at"].(string) {
		t.Errorf("versions: created %v/%v updated %v/%v; want the same created_at and a later-or-equal updated_at",
			first["created_at"], second["created_at"], first["updated_at"], second["updated_at"])
	}
	for _, tc := range []struct{ method, path, body, field string }{
		{"POST", "/v1/feedback", `{"value":1}`, "trace_id"},
		{"POST", "/v1/feedback", `{"trace_id":"t","value":11}`, "value"},
		{"POST", "/v1/feedback", `{"trace_id":"t","value":1.5}`, "value"},
		{"POST", "/v1/feedback", `{"trace_id":"t"}`, "value"},
		{"POST", "/v1/feedback", `{"trace_id":"t","value":1,"weight":2}`, "weight"},
		{"POST", "/v1/feedback", `{"trace_id":"t","value":1,"metadata":{"k":3}}`, "metadata.k"},
		{"POST", "/v1/feedback", `{"trace_id":"t","value":1,"score":3}`, "score"},
		{"PUT", "/v1/feedback/x", `{"weight":1}`, "value"},
		{"PUT", "/v1/feedback/x", `{"feedbackID":"y","value":1}`, "feedbackID"},
	} {
		w := hs.do(t, tc.method, tc.path, tc.body)
		b := errBody(t, w)
		if w.Code != 400 || len(b.Error.Fields) == 0 || b.Error.Fields[0].Field != tc.field {
			t.Errorf("%s %s: status %d fields %+v; want 400 naming %s", tc.method, tc.body, w.Code, b.Error.Fields, tc.field)
		}
	}
}

func TestForwardToQuery(t *testing.T) {
	var got *http.Request
	q := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","total":0,"data":[]}`)
	}))
	defer q.Close()
	u, _ := url.Parse(q.URL)
	hs := newHarness(t, Options{}, u)
	req := httptest.NewRequest("GET", "/v1/logs?page_size=5&cursor=abc", nil)
	req.Header.Set(tenant.HeaderAPIKey, testKey)
	w := httptest.NewRecorder()
	hs.engine.ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"object":"list"`) {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	if got.URL.Path != "/v1/logs" || got.URL.RawQuery != "page_size=5&cursor=abc" || got.Header.Get(tenant.HeaderAPIKey) != testKey {
		t.Errorf("query got %s ?%s key %q", got.URL.Path, got.URL.RawQuery, got.Header.Get(tenant.HeaderAPIKey))
	}
	q.Close()
	w = httptest.NewRecorder()
	hs.engine.ServeHTTP(w, httptest.NewRequest("GET", "/v1/logs", nil))
	if w.Code != 503 || errBody(t, w).Error.Code != apierr.CodeUnavailable {
		t.Errorf("query down: status %d %s; want 503 unavailable", w.Code, w.Body)
	}
}

func TestProviderAndEndpoint(t *testing.T) {
	for _, tc := range []struct{ url, provider, endpoint string }{
		{"https://api.openai.com/v1/chat/completions", "openai", "chat/completions"},
		{"https://api.anthropic.com/v1/messages", "anthropic", "messages"},
		{"https://my.openai.azure.com/openai/deployments/gpt/embeddings?api-version=1", "azure-openai", "embeddings"},
		{"https://api.example.org/v1/images/generations", "example", "images/generations"},
		{"", "", ""},
	} {
		if p := providerOf(tc.url); p != tc.provider {
			t.Errorf("providerOf(%q) = %q; want %q", tc.url, p, tc.provider)
		}
		if e := endpointOf(tc.url); e != tc.endpoint {
			t.Errorf("endpointOf(%q) = %q; want %q", tc.url, e, tc.endpoint)
		}
	}
}

// TestNDJSONLongStreamMatchesSingleEvents guards the no-copy NDJSON path
// (lines and decoded events point into the reused read buffer): a stream far
// larger than that buffer must produce, byte for byte, what posting each line
// alone as JSON produces, and answer the ids of the lines in order.
func TestNDJSONLongStreamMatchesSingleEvents(t *testing.T) {
	one, err := os.ReadFile("testdata/events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat(one, 8) // ~750 KB, many refills of the read buffer
	hs := newHarness(t, Options{StreamChunkEvents: 64}, nil)
	req := httptest.NewRequest("POST", "/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set(tenant.HeaderAPIKey, testKey)
	w := httptest.NewRecorder()
	hs.engine.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d; want 200: %s", w.Code, w.Body)
	}
	var res streamResponse
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
	if len(res.LogIDs) != len(lines) || len(hs.logs.msgs) != len(lines) {
		t.Fatalf("%d ids, %d messages; want %d", len(res.LogIDs), len(hs.logs.msgs), len(lines))
	}
	single := newHarness(t, Options{}, nil)
	for i, line := range lines {
		var in struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &in); err != nil {
			t.Fatal(err)
		}
		if res.LogIDs[i] != in.ID {
			t.Fatalf("line %d: id %q; want %q", i+1, res.LogIDs[i], in.ID)
		}
		single.logs.msgs = nil
		if w := single.do(t, "POST", "/v1/logs", string(line)); w.Code != http.StatusOK {
			t.Fatalf("line %d alone: status %d: %s", i+1, w.Code, w.Body)
		}
		got, want := hs.logs.msgs[i], single.logs.msgs[0]
		if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("line %d: streamed message differs from the single post\n got %s\nwant %s", i+1, got.Value, want.Value)
		}
	}
}

// A failed produce may leave the Kafka writer reading its messages: later
// requests, which reuse the memory of acknowledged ones, must not write over
// them.
func TestFailedProduceKeepsItsMessages(t *testing.T) {
	body, err := os.ReadFile("testdata/events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	other := strings.ReplaceAll(string(body), `"id":"01`, `"id":"02`)
	array := "[" + strings.ReplaceAll(strings.TrimSpace(other), "\n", ",") + "]"
	hs := newHarness(t, Options{}, nil)
	ndjson := []string{"Content-Type", "application/x-ndjson"}
	if w := hs.do(t, "POST", "/v1/logs", string(body), ndjson...); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	hs.logs.mu.Lock()
	hs.logs.err, hs.logs.hold = errors.New("broker down"), true
	hs.logs.mu.Unlock()
	if w := hs.do(t, "POST", "/v1/logs", string(body), ndjson...); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s; want 503", w.Code, w.Body)
	}
	hs.logs.mu.Lock()
	held := hs.logs.held
	var want []string
	for _, m := range held {
		want = append(want, string(m.Value))
	}
	hs.logs.err = nil
	hs.logs.mu.Unlock()
	if len(held) == 0 {
		t.Fatal("the failed request produced nothing")
	}
	for i := 0; i < 4; i++ {
		if w := hs.do(t, "POST", "/v1/logs", other, ndjson...); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w := hs.do(t, "POST", "/v1/logs", array); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	for i, m := range held {
		if string(m.Value) != want[i] {
			t.Fatalf("message %d of the failed request changed after it failed:\n got %.120s\nwant %.120s", i, m.Value, want[i])
		}
	}
}
