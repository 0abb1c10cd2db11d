// Package redact removes provider credentials from a log event before ingest
// encodes it for Kafka: the values of credential-bearing request and response
// headers, and secret query parameters of request_url, become "[REDACTED]"
// (logevent.Redacted). Like DO NOT TRACK, this happens before the event
// leaves the ingest process, so no credential reaches Kafka, ClickHouse, an
// export or a log line of ours.
package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"logpipe/lib/logevent"
)

// DefaultHeaders are the header names whose values are always redacted
// (compared case-insensitively).
var DefaultHeaders = []string{
	"authorization", "proxy-authorization", "x-api-key", "api-key",
	"x-portkey-api-key", "x-portkey-virtual-key", "cookie", "set-cookie",
}

// DefaultQueryParams are the request_url query parameters whose values are
// always redacted (compared case-insensitively): where providers and proxies
// take keys, tokens and signatures in the URL.
var DefaultQueryParams = []string{
	"key", "api_key", "apikey", "api-key", "x-api-key", "access_token", "token",
	"auth", "client_secret", "secret", "password", "sig", "signature", "code",
	"subscription-key", "x-goog-api-key",
}

// Redactor redacts events. It is safe for concurrent use.
type Redactor struct {
	headers map[string]bool
	params  map[string]bool
	// needles are the lower-cased header names, for a quick scan that skips
	// header objects naming none of them without parsing them.
	needles [][]byte
}

// New returns a Redactor of the default headers and query parameters plus
// extraHeaders and extraParams (names compared case-insensitively).
func New(extraHeaders, extraParams []string) *Redactor {
	r := &Redactor{headers: map[string]bool{}, params: map[string]bool{}}
	for _, h := range append(append([]string{}, DefaultHeaders...), extraHeaders...) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !r.headers[h] {
			r.headers[h] = true
			r.needles = append(r.needles, []byte(h))
		}
	}
	for _, p := range append(append([]string{}, DefaultQueryParams...), extraParams...) {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			r.params[p] = true
		}
	}
	return r
}

// Event redacts e's request and response headers and request_url in place
// and reports how many values it replaced.
func (r *Redactor) Event(e *logevent.Event) (int, error) {
	n1, err := r.headersJSON(&e.RequestHeaders)
	if err != nil {
		return 0, fmt.Errorf("request.headers: %w", err)
	}
	n2, err := r.headersJSON(&e.ResponseHeaders)
	if err != nil {
		return 0, fmt.Errorf("response.headers: %w", err)
	}
	u, n3 := r.URL(e.RequestURL)
	e.RequestURL = u
	return n1 + n2 + n3, nil
}

// headersJSON rewrites a raw JSON headers object, replacing the value of
// every credential-bearing name, at any depth, with "[REDACTED]".
func (r *Redactor) headersJSON(raw *logevent.RawJSON) (int, error) {
	if len(*raw) == 0 || !r.mentions([]byte(*raw)) {
		return 0, nil
	}
	var out bytes.Buffer
	n := 0
	if err := r.write(&out, json.RawMessage(*raw), &n); err != nil {
		return 0, err
	}
	if n > 0 {
		*raw = logevent.RawJSON(out.String())
	}
	return n, nil
}

// mentions reports whether b contains a sensitive header name, ignoring case.
func (r *Redactor) mentions(b []byte) bool {
	lower := bytes.ToLower(b)
	for _, n := range r.needles {
		if bytes.Contains(lower, n) {
			return true
		}
	}
	return false
}

// write re-encodes the JSON value raw, keeping the key order of its objects
// and replacing the values of sensitive names.
func (r *Redactor) write(out *bytes.Buffer, raw json.RawMessage, n *int) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return fmt.Errorf("empty JSON value")
	}
	switch raw[0] {
	case '{':
		return r.writeObject(out, raw, n)
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		out.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := r.write(out, it, n); err != nil {
				return err
			}
		}
		out.WriteByte(']')
		return nil
	}
	if !json.Valid(raw) {
		return fmt.Errorf("invalid JSON value")
	}
	out.Write(raw)
	return nil
}

// writeObject walks raw's members in order with a token decoder.
func (r *Redactor) writeObject(out *bytes.Buffer, raw json.RawMessage, n *int) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if _, err := d.Token(); err != nil { // {
		return err
	}
	out.WriteByte('{')
	for first := true; d.More(); first = false {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var val json.RawMessage
		if err := d.Decode(&val); err != nil {
			return err
		}
		if !first {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		out.Write(k)
		out.WriteByte(':')
		if r.headers[strings.ToLower(name)] {
			out.WriteString(`"` + logevent.Redacted + `"`)
			*n++
			continue
		}
		if err := r.write(out, val, n); err != nil {
			return err
		}
	}
	out.WriteByte('}')
	return nil
}

// URL returns raw with the values of secret query parameters, and the
// password of a user:password@ part, replaced by "[REDACTED]"; everything
// else is kept byte for byte. It reports how many values it replaced.
func (r *Redactor) URL(raw string) (string, int) {
	n := 0
	if at := strings.Index(raw, "@"); at >= 0 {
		if scheme := strings.Index(raw, "://"); scheme >= 0 && scheme < at {
			auth := raw[scheme+3 : at]
			if !strings.ContainsAny(auth, "/?#") {
				if user, _, ok := strings.Cut(auth, ":"); ok {
					raw = raw[:scheme+3] + user + ":" + logevent.Redacted + raw[at:]
					n++
				}
			}
		}
	}
	q := strings.IndexByte(raw, '?')
	if q < 0 {
		return raw, n
	}
	query, frag := raw[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if hasValue && r.params[strings.ToLower(name)] {
			parts[i] = p[:strings.IndexByte(p, '=')+1] + logevent.Redacted
			n++
		}
	}
	return raw[:q+1] + strings.Join(parts, "&") + frag, n
}
