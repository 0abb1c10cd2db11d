package redact

import (
	"encoding/json"
	"strings"
	"testing"

	"logpipe/lib/logevent"
)

func TestHeaders(t *testing.T) {
	r := New([]string{"X-Custom-Secret"}, nil)
	e := logevent.New()
	e.RequestHeaders = logevent.RawJSON(`{"Content-Type":"application/json","Authorization":"Bearer sk-live-123","x-api-key":"abc","nested":{"Cookie":"s=1"},"list":[{"api-key":"k"}],"x-custom-secret":7}`)
	e.ResponseHeaders = logevent.RawJSON(`{"set-cookie":["a=1","b=2"],"x-request-id":"r1"}`)
	n, err := r.Event(&e)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("redacted %d values; want 6", n)
	}
	want := `{"Content-Type":"application/json","Authorization":"[REDACTED]","x-api-key":"[REDACTED]","nested":{"Cookie":"[REDACTED]"},"list":[{"api-key":"[REDACTED]"}],"x-custom-secret":"[REDACTED]"}`
	if string(e.RequestHeaders) != want {
		t.Errorf("request headers\n got %s\nwant %s", e.RequestHeaders, want)
	}
	if got := string(e.ResponseHeaders); got != `{"set-cookie":"[REDACTED]","x-request-id":"r1"}` {
		t.Errorf("response headers: got %s", got)
	}
	for _, raw := range []logevent.RawJSON{e.RequestHeaders, e.ResponseHeaders} {
		if !json.Valid([]byte(raw)) || strings.Contains(string(raw), "sk-live") {
			t.Errorf("after redaction: %s", raw)
		}
	}
}

func TestHeadersWithoutSecretsAreUntouched(t *testing.T) {
	r := New(nil, nil)
	raw := `{ "content-type" : "application/json", "x-request-id": "a" }`
	e := logevent.New()
	e.RequestHeaders = logevent.RawJSON(raw)
	if n, err := r.Event(&e); err != nil || n != 0 || string(e.RequestHeaders) != raw {
		t.Errorf("got %q, %d, %v; want unchanged", e.RequestHeaders, n, err)
	}
}

func TestURL(t *testing.T) {
	r := New(nil, []string{"my_token"})
	for in, want := range map[string]string{
		"https://generativelanguage.googleapis.com/v1/models/g:generate?key=AIzaSECRET&alt=sse": "https://generativelanguage.googleapis.com/v1/models/g:generate?key=[REDACTED]&alt=sse",
		"https://api.example.com/v1?API_KEY=x&My_Token=y#frag":                                  "https://api.example.com/v1?API_KEY=[REDACTED]&My_Token=[REDACTED]#frag",
		"https://user:pa55@host.example/path?q=1":                                               "https://user:[REDACTED]@host.example/path?q=1",
		"https://api.openai.com/v1/chat/completions":                                            "https://api.openai.com/v1/chat/completions",
		"https://h/p?keyword=1&key":                                                             "https://h/p?keyword=1&key",
		"https://h/p?%6Bey=secret":                                                              "https://h/p?%6Bey=[REDACTED]",
	} {
		if got, _ := r.URL(in); got != want {
			t.Errorf("URL(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func FuzzHeaders(f *testing.F) {
	f.Add(`{"authorization":"x","a":{"b":[1,2,{"cookie":"c"}]}}`)
	f.Add(`[{"Authorization":"Bearer"}]`)
	r := New(nil, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		h := logevent.RawJSON(raw)
		if _, err := r.headersJSON(&h); err != nil {
			t.Fatalf("valid JSON %q: %v", raw, err)
		}
		if !json.Valid([]byte(h)) {
			t.Fatalf("redaction of %q gave invalid JSON %q", raw, h)
		}
	})
}
