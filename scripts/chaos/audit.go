package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// api reads the product's public HTTP API, as any client would.
type api struct {
	base, key string
	client    *http.Client
}

func (a *api) do(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-portkey-api-key", a.key)
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
		}
	}
	return nil
}

// retried retries f for a while: the audit runs right after the faults.
func retried(f func() error) error {
	var err error
	for range 30 {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return err
}

// listing pages through GET /v1/logs and returns how often each id appears,
// and the total the first page announced.
func (a *api) listing(q url.Values) (map[string]int, uint64, error) {
	seen := map[string]int{}
	var total uint64
	cursor := ""
	for page := 0; ; page++ {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page_size", "500")
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		var r struct {
			Total      uint64                `json:"total"`
			Data       []struct{ ID string } `json:"data"`
			NextCursor *string               `json:"next_cursor"`
		}
		if err := retried(func() error { return a.do("GET", "/v1/logs?"+v.Encode(), nil, &r) }); err != nil {
			return nil, 0, err
		}
		if page == 0 {
			total = r.Total
		}
		for _, row := range r.Data {
			seen[row.ID]++
		}
		if r.NextCursor == nil || *r.NextCursor == "" || len(r.Data) == 0 {
			return seen, total, nil
		}
		cursor = *r.NextCursor
	}
}

// graphTotal is the summary total of the requests graph.
func (a *api) graphTotal(q url.Values) (uint64, error) {
	var r struct {
		Summary struct {
			Total uint64 `json:"total"`
		} `json:"summary"`
	}
	err := retried(func() error { return a.do("GET", "/v1/analytics/graphs/requests?"+q.Encode(), nil, &r) })
	return r.Summary.Total, err
}

// groupRequests is the requests of the metadata group key=value.
func (a *api) groupRequests(q url.Values, key, value string) (uint64, error) {
	var r struct {
		Data []map[string]any `json:"data"`
	}
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("page_size", "100")
	if err := retried(func() error { return a.do("GET", "/v1/analytics/groups/metadata/"+key+"?"+v.Encode(), nil, &r) }); err != nil {
		return 0, err
	}
	for _, g := range r.Data {
		if g["metadata_value"] == value {
			n, _ := g["requests"].(float64)
			return uint64(n), nil
		}
	}
	return 0, fmt.Errorf("no group %s=%s in %v", key, value, r.Data)
}

// export runs an export of the range to its end and returns how often each
// id appears in its file.
func (a *api) export(min, max time.Time) (map[string]int, error) {
	var c struct {
		ID string `json:"id"`
	}
	filters := map[string]any{"time_of_generation_min": min.Format(time.RFC3339Nano), "time_of_generation_max": max.Format(time.RFC3339Nano)}
	if err := retried(func() error {
		return a.do("POST", "/v1/logs/exports", map[string]any{"filters": filters, "requested_data": []string{"id"}}, &c)
	}); err != nil {
		return nil, err
	}
	if err := retried(func() error { return a.do("POST", "/v1/logs/exports/"+c.ID+"/start", nil, nil) }); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var j struct {
			Status string `json:"status"`
		}
		if err := retried(func() error { return a.do("GET", "/v1/logs/exports/"+c.ID, nil, &j) }); err != nil {
			return nil, err
		}
		if j.Status == "success" {
			break
		}
		if j.Status == "failed" || j.Status == "stopped" {
			return nil, fmt.Errorf("export %s ended %s", c.ID, j.Status)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("export %s still %s after 5 minutes", c.ID, j.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var d struct {
		SignedURL string `json:"signed_url"`
	}
	if err := retried(func() error { return a.do("GET", "/v1/logs/exports/"+c.ID+"/download", nil, &d) }); err != nil {
		return nil, err
	}
	var body []byte
	if err := retried(func() error {
		resp, err := a.client.Get(d.SignedURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("download export: %d", resp.StatusCode)
		}
		body, err = io.ReadAll(resp.Body)
		return err
	}); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var line struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("export line %q: %w", sc.Bytes(), err)
		}
		seen[line.ID]++
	}
	return seen, sc.Err()
}

// lag sums the consumer's lag gauge for topic, from its /metrics.
func lag(addr, topic string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "logpipe_consumer_lag_messages{") && strings.Contains(line, `topic="`+topic+`"`) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				sum += v
				found = true
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("no lag reported for %s yet", topic)
	}
	return sum, nil
}

// timeoutClient is the audit's HTTP client.
var timeoutClient = http.Client{Timeout: 60 * time.Second}
