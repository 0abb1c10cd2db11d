package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// FuzzDecode feeds arbitrary bodies to POST /v1/logs as JSON and as NDJSON.
// It must never panic, and every event it produces must decode, validate,
// carry the API key's tenant and respect DO NOT TRACK.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		insertExample,
		`{"ai_model":"gpt-4o","cost":1.5,"metadata.key":["env"],"metadata.value":["prod"]}`,
		`[{"id":"a"},{"id":"b","is_tracked":0,"request.body":{"x":1}}]`,
		`{"created_at":1700000000000,"cache_status":"HIT","cache_type":"SIMPLE"}`,
		`{"request":{"url":"https://api.anthropic.com/v1/messages","body":[1,2]},"response":{"status":500,"body":"oops"},"metadata":{"_user":"u"}}`,
		"{\"ai_model\":\"a\"}\n{\"ai_model\":\"b\"}\n",
		`{"metadata.key":["a","a"],"metadata.value":["1"]}`,
		`{"id":"` + "\xff" + `"}`,
		`[`, `{}`, `null`, `"x"`, `[[]]`, `{"request.body":nul}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	hs := newHarness(f, Options{MaxEventBytes: 64 << 10, MaxBodyBytes: 1 << 20, StreamChunkEvents: 3}, nil)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		hs.logs.mu.Lock()
		hs.logs.msgs = nil
		hs.logs.mu.Unlock()
		req := httptest.NewRequest("POST", "/v1/logs", bytes.NewReader(body))
		req.Header.Set(tenant.HeaderAPIKey, testKey)
		req.Header.Set("Content-Type", map[bool]string{false: "application/json", true: "application/x-ndjson"}[ndjson])
		w := httptest.NewRecorder()
		hs.engine.ServeHTTP(w, req)
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", w.Code, w.Body)
		}
		accepted := len(hs.logs.msgs)
		if w.Code >= 400 && !ndjson && accepted > 0 {
			t.Fatalf("status %d but %d events produced", w.Code, accepted)
		}
		if w.Code == 200 && accepted == 0 {
			t.Fatalf("status 200 but nothing produced: %s", w.Body)
		}
		for _, m := range hs.logs.msgs {
			e, err := logevent.DecodeStrict(m.Value)
			if err != nil {
				t.Fatalf("produced an undecodable event: %v: %s", err, m.Value)
			}
			if errs := e.Validate(hs.limits()); errs != nil {
				t.Fatalf("produced an invalid event %v: %s", errs, m.Value)
			}
			if e.WorkspaceID != "ws-a" || e.OrganisationID != "org-a" || e.APIKeyID != "key_test" {
				t.Fatalf("produced an event of another tenant: %s", m.Value)
			}
			if e.IsTracked == 0 && (e.RequestBody != nil || e.ResponseBody != nil || e.RequestHeaders != nil || e.ResponseHeaders != nil) {
				t.Fatalf("DO NOT TRACK event with bodies: %s", m.Value)
			}
			if string(m.Key) != e.ID {
				t.Fatalf("key %q is not the id %q", m.Key, e.ID)
			}
		}
	})
}

func (hs *harness) limits() logevent.Limits {
	l := logevent.DefaultLimits
	l.MaxPayloadBytes = DefaultMaxEventBytes
	return l
}
