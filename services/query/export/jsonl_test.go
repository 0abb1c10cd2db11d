package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"logpipe/lib/logevent"
	"logpipe/lib/signing"
)

// orgOf is the organisation of the tests' workspaces (see keyring): wsA and
// wsB belong to org-ent, ws-dev to org-dev, ws-prod to org-prod.
func orgOf(ws string) string {
	switch ws {
	case "ws-dev":
		return "org-dev"
	case "ws-prod":
		return "org-prod"
	}
	return "org-ent"
}

// variedEvent returns a valid event of workspace ws exercising what an export
// must carry unchanged: DO NOT TRACK, unicode and escapes, large and
// multi-line bodies, empty metadata, extreme numbers.
func variedEvent(r *rand.Rand, ws string, at time.Time, i int) logevent.Event {
	e := logevent.New()
	e.ID = logevent.NewID()
	e.OrganisationID, e.WorkspaceID = orgOf(ws), ws
	e.CreatedAt = logevent.MillisOf(at)
	models := []string{"gpt-4o", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large"}
	orgs := []string{"openai", "anthropic", "together-ai", "mistral-ai"}
	k := r.IntN(len(models))
	e.AIOrg, e.AIModel = orgs[k], models[k]
	e.ReqUnits, e.ResUnits = uint32(r.IntN(5000)), uint32(r.IntN(2000))
	e.TotalUnits = e.ReqUnits + e.ResUnits
	e.ReasoningUnits = uint32(r.IntN(100))
	e.Cost = float64(r.IntN(100000)) / 1000
	if i%97 == 0 {
		e.Cost = 1e-7 // exponent form in JSON
	}
	e.RequestURL = "https://api." + orgs[k] + ".com/v1/chat/completions"
	e.ResponseStatusCode = []uint16{200, 200, 200, 429, 500, 400}[r.IntN(6)]
	e.IsSuccess = 0
	if e.ResponseStatusCode == 200 {
		e.IsSuccess = 1
	}
	e.ResponseTime = uint32(r.IntN(30000))
	e.CacheStatus = logevent.CacheStatuses[r.IntN(len(logevent.CacheStatuses))]
	e.CacheType = logevent.CacheTypes[r.IntN(len(logevent.CacheTypes))]
	e.StreamMode = logevent.StreamModes[r.IntN(2)]
	e.Mode = logevent.Modes[r.IntN(3)]
	e.RetrySuccessCount = uint16(r.IntN(4))
	e.TraceID = fmt.Sprintf("trace-%d", i%50)
	e.SpanID = fmt.Sprintf("span-%d", i)
	e.VirtualKey = []string{"vk-main", "vk-backup", ""}[r.IntN(3)]
	e.Runtime, e.RuntimeVersion, e.SDKVersion = "node", "v20.11.0", "1.4.0"
	e.Config = []string{"", "pc-fallback-1"}[r.IntN(2)]
	e.PromptSlug = []string{"", "pp-summarise"}[r.IntN(2)]
	e.EndpointType = "chat/completions"
	msg := []string{"hello", "héllo wörld ✓ 日本語 😀", "quote \" backslash \\ tab \t", "line\nbreak \u2028 sep", "<b>&amp;</b>"}[r.IntN(5)]
	mb, _ := json.Marshal(msg)
	e.RequestBody = logevent.RawJSON(`{"model":"` + e.AIModel + `","messages":[{"role":"user","content":` + string(mb) + `}]}`)
	e.ResponseBody = logevent.RawJSON(`{"choices":[{"message":{"role":"assistant","content":` + string(mb) + `}}],"usage":{"total_tokens":` + fmt.Sprint(e.TotalUnits) + `}}`)
	e.RequestHeaders = logevent.RawJSON(`{"content-type":"application/json"}`)
	switch i % 10 {
	case 0: // DO NOT TRACK
		e.DropBodies()
	case 1: // a large body with an image
		e.RequestBody = logevent.RawJSON(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + strings.Repeat("iVBORw0KGgo", 3000) + `"}}]}]}`)
	case 2: // no metadata at all
	default:
		e.MetadataKey = []string{"_user", "env", "feature"}
		e.MetadataValue = []string{fmt.Sprintf("user-%d", i%7), []string{"prod", "staging"}[i%2], "ünïcödé ✓"}
		e.User = e.MetadataValue[0]
	}
	return e
}

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	enc := NewEncoder(logevent.Columns)
	for i := 0; i < 200; i++ {
		e := variedEvent(r, "ws", time.Now(), i)
		line := enc.Append(nil, &e)
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("event %d: line is not one line: %q", i, line)
		}
		got, err := logevent.DecodeStrict(line)
		if err != nil {
			t.Fatalf("event %d: decode %s: %v", i, line, err)
		}
		if !reflect.DeepEqual(normal(got), normal(e)) {
			t.Fatalf("event %d: round trip differs:\n got %+v\nwant %+v", i, got, e)
		}
		if errs := got.Validate(logevent.DefaultLimits); errs != nil {
			t.Fatalf("event %d: exported line is not a valid event: %v", i, errs)
		}
		// byte-for-byte what encoding/json writes (modulo HTML escaping, which
		// encoding/json applies and a file does not need)
		// (metadata arrays are [] rather than null when empty)
		if e.MetadataKey == nil {
			e.MetadataKey, e.MetadataValue = []string{}, []string{}
		}
		want, _ := json.Marshal(&e)
		var a, b any
		_ = json.Unmarshal(line, &a)
		_ = json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, line, want)
		}
	}
}

// normal makes empty and nil slices compare equal.
func normal(e logevent.Event) logevent.Event {
	if len(e.MetadataKey) == 0 {
		e.MetadataKey, e.MetadataValue = nil, nil
	}
	for _, r := range []*logevent.RawJSON{&e.RequestBody, &e.ResponseBody, &e.RequestHeaders, &e.ResponseHeaders} {
		if len(*r) == 0 {
			*r = nil
		}
	}
	return e
}

func TestEncoderEdgeCases(t *testing.T) {
	cols, err := Columns([]string{"request", "cost", "metadata", "created_at", "ai_model"})
	if err != nil {
		t.Fatal(err)
	}
	enc := NewEncoder(cols)
	e := logevent.New()
	e.CreatedAt = logevent.MillisOf(time.Date(2026, 11, 22, 10, 4, 5, 123_999_999, time.UTC))
	e.RequestBody = logevent.RawJSON("{\n  \"a\": [1,\r\n 2]\n}")
	e.Cost = 12.5
	e.AIModel = "bad\xffutf8\x01"
	got := string(enc.Append(nil, &e))
	want := `{"created_at":"2026-11-22T10:04:05.123Z","request.body":{"a":[1,2]},"ai_model":"bad\ufffdutf8\u0001","cost":12.5,"metadata.key":[],"metadata.value":[]}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestColumns(t *testing.T) {
	all, err := Columns(nil)
	if err != nil || len(all) != len(logevent.ExportColumns()) {
		t.Fatalf("Columns(nil) = %d columns, %v; want the %d export columns", len(all), err, len(logevent.ExportColumns()))
	}
	cols, err := Columns([]string{"id", "response", "metadata", "cost"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	if got, want := strings.Join(names, ","), "response.body,cost,metadata.key,metadata.value,id"; got != want {
		t.Fatalf("got %s; want %s", got, want)
	}
	for _, bad := range []string{"request.headers", "organisation_id", "nope", ""} {
		if _, err := Columns([]string{bad}); err == nil {
			t.Errorf("Columns(%q): want an error", bad)
		}
	}
}

func TestSigner(t *testing.T) {
	old, _ := signing.Parse("k1:0123456789abcdef0123")
	s := NewSigner(old)
	now := time.Unix(1_800_000_000, 0)
	acme := mustScope(t, "acme", "ws1")
	q := s.Sign(acme, "exp_1", now.Add(time.Minute))
	if got, err := s.Verify("exp_1", q, now); err != nil || got != acme {
		t.Fatalf("Verify = %v, %v; want %v, nil", got, err, acme)
	}
	if _, err := s.Verify("exp_1", q, now.Add(time.Minute)); err != ErrExpired {
		t.Fatalf("after expiry: got %v; want ErrExpired", err)
	}
	if _, err := s.Verify("exp_2", q, now); err != ErrBadSignature {
		t.Fatalf("other id: got %v; want ErrBadSignature", err)
	}
	for _, k := range []string{paramOrganisation, paramWorkspace, paramKeyID, paramExpires, paramSignature} {
		tq := s.Sign(acme, "exp_1", now.Add(time.Minute))
		v := []byte(tq.Get(k))
		v[len(v)-1] ^= 1
		tq.Set(k, string(v))
		if _, err := s.Verify("exp_1", tq, now); err != ErrBadSignature {
			t.Errorf("tampered %s: got %v; want ErrBadSignature", k, err)
		}
	}
	// Rotation: a URL signed with the previous key verifies while that key
	// stays in the keyring, and not after it is removed.
	rotated, _ := signing.Parse("k2:another key 123456789, k1:0123456789abcdef0123")
	if _, err := NewSigner(rotated).Verify("exp_1", q, now); err != nil {
		t.Fatalf("after rotation: got %v; want nil", err)
	}
	retired, _ := signing.Parse("k2:another key 123456789")
	if _, err := NewSigner(retired).Verify("exp_1", q, now); err != ErrBadSignature {
		t.Fatalf("previous key removed: got %v; want ErrBadSignature", err)
	}
}

func TestAppendMillis(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []logevent.Millis{0, 1, 951782400000, 951868799999, 4107542400000, 253402300799999}
	for i := 0; i < 100000; i++ {
		cases = append(cases, logevent.Millis(r.Int64N(253402300800000)))
	}
	for _, m := range cases {
		if got, want := string(appendMillis(nil, m)), string(m.AppendJSON(nil)); got != want {
			t.Fatalf("appendMillis(%d) = %s; want %s", m, got, want)
		}
	}
}
