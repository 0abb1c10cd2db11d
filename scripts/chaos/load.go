package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// newUUIDv7 returns a time-ordered UUID (version 7): ingest takes a log's
// created_at from it, so every retry of the log carries the same key.
func newUUIDv7(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(now.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[:6], ts[2:])
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// outcome is what the load generator knows of one id.
type outcome uint8

const (
	pending outcome = iota
	acked           // some attempt was answered 2xx
	refused         // every attempt failed (503, timeout, connection refused) or a 4xx
)

// load drives ingest at a steady rate, in batches, the way a gateway does:
// a batch that is answered 503, times out or finds ingest gone is sent
// again with the same ids, with backoff, up to a bound.
type load struct {
	url, key, run string
	rate, batch   int
	attempts      int
	client        *http.Client

	mu       sync.Mutex
	ids      map[string]outcome
	requests atomic.Int64
	retries  atomic.Int64
	status   map[int]int // answers by status (0: no answer)
}

func newLoad(url, key, run string, rate, batch, attempts int) *load {
	return &load{url: url, key: key, run: run, rate: rate, batch: batch, attempts: attempts,
		client: &http.Client{Timeout: 10 * time.Second}, ids: map[string]outcome{}, status: map[int]int{}}
}

// body is one request: a JSON array of the product's "Insert a Log" shape,
// with the caller's ids.
func (l *load) body(ids []string, n int) []byte {
	type req struct {
		URL      string         `json:"url"`
		Provider string         `json:"provider"`
		Body     map[string]any `json:"body"`
	}
	type resp struct {
		Status int            `json:"status"`
		Body   map[string]any `json:"body"`
	}
	type insert struct {
		ID       string            `json:"id"`
		Request  req               `json:"request"`
		Response resp              `json:"response"`
		Metadata map[string]string `json:"metadata"`
	}
	out := make([]insert, len(ids))
	for i, id := range ids {
		out[i] = insert{ID: id,
			Request: req{URL: "https://api.openai.com/v1/chat/completions", Provider: "openai",
				Body: map[string]any{"model": "gpt-4o", "messages": []map[string]string{{"role": "user", "content": fmt.Sprintf("chaos %d", n+i)}}}},
			Response: resp{Status: 200, Body: map[string]any{"usage": map[string]int{"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}},
			Metadata: map[string]string{"chaos_run": l.run}}
	}
	b, _ := json.Marshal(out)
	return b
}

// drive offers batches at the rate until ctx ends, then waits for the
// batches still retrying (they give up after their attempts).
func (l *load) drive(ctx context.Context) {
	every := time.Duration(float64(time.Second) * float64(l.batch) / float64(l.rate))
	tick := time.NewTicker(every)
	defer tick.Stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	n := 0
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		ids := make([]string, l.batch)
		now := time.Now()
		l.mu.Lock()
		for i := range ids {
			ids[i] = newUUIDv7(now)
			l.ids[ids[i]] = pending
		}
		l.mu.Unlock()
		body := l.body(ids, n)
		n += len(ids)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			l.settle(ids, refused)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			l.send(ids, body)
		})
	}
}

// send posts one batch until it is acknowledged or its attempts run out.
func (l *load) send(ids []string, body []byte) {
	backoff := 200 * time.Millisecond
	for attempt := 1; attempt <= l.attempts; attempt++ {
		if attempt > 1 {
			l.retries.Add(1)
			time.Sleep(backoff)
			backoff = min(backoff*2, 2*time.Second)
		}
		code := l.post(body)
		l.mu.Lock()
		l.status[code]++
		l.mu.Unlock()
		switch {
		case code >= 200 && code < 300:
			l.settle(ids, acked)
			return
		case code == 0 || code == http.StatusServiceUnavailable || code == http.StatusBadGateway || code == http.StatusGatewayTimeout:
			continue // what a gateway retries
		default:
			l.settle(ids, refused) // a 4xx: the request itself is wrong
			return
		}
	}
	l.settle(ids, refused)
}

func (l *load) post(body []byte) int {
	l.requests.Add(1)
	req, _ := http.NewRequest(http.MethodPost, l.url+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-portkey-api-key", l.key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (l *load) settle(ids []string, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.ids[id] = o
	}
}

// outcomes returns a copy of what is known of every id offered.
func (l *load) outcomes() map[string]outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]outcome, len(l.ids))
	for id, o := range l.ids {
		out[id] = o
	}
	return out
}
