package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// DriveOptions configure Drive, an HTTP load driver that posts an NDJSON
// events file to ingest from many concurrent clients, as gateways do.
type DriveOptions struct {
	// In is the NDJSON events file (from -out).
	In string
	// URL and Key address ingest.
	URL, Key string
	// Concurrency is the number of concurrent clients.
	Concurrency int
	// Batch is the events per request.
	Batch int
	// Format is "ndjson" (application/x-ndjson) or "array" (a JSON array).
	Format string
	// Rate paces requests to this many events/s in total (0: as fast as possible).
	Rate float64
	// Limit bounds the events sent (0: the whole file).
	Limit int
}

// DriveResult is what Drive measured.
type DriveResult struct {
	Events, Requests, Errors int
	Seconds                  float64
	P50, P99, Max            time.Duration
}

// String is one line of key=value pairs for scripts.
func (r DriveResult) String() string {
	return fmt.Sprintf("events=%d requests=%d errors=%d seconds=%.3f events_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f",
		r.Events, r.Requests, r.Errors, r.Seconds, float64(r.Events)/r.Seconds,
		ms(r.P50), ms(r.P99), ms(r.Max))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadBodies reads the file and cuts it into request bodies.
func loadBodies(o DriveOptions) ([][]byte, int, error) {
	f, err := os.Open(o.In)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var bodies [][]byte
	var cur bytes.Buffer
	n, inBatch := 0, 0
	flush := func() {
		if inBatch == 0 {
			return
		}
		if o.Format == "array" {
			cur.WriteByte(']')
		}
		bodies = append(bodies, bytes.Clone(cur.Bytes()))
		cur.Reset()
		inBatch = 0
	}
	for sc.Scan() {
		if o.Limit > 0 && n == o.Limit {
			break
		}
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		switch {
		case o.Format == "array" && inBatch == 0:
			cur.WriteByte('[')
		case o.Format == "array":
			cur.WriteByte(',')
		}
		cur.Write(line)
		if o.Format != "array" {
			cur.WriteByte('\n')
		}
		n++
		if inBatch++; inBatch == o.Batch {
			flush()
		}
	}
	flush()
	return bodies, n, sc.Err()
}

// Drive posts the file and measures throughput and request latency. With a
// Rate, requests are scheduled open-loop and latency counts from the
// scheduled time, so queueing delay is not hidden.
func Drive(ctx context.Context, o DriveOptions) (DriveResult, error) {
	bodies, events, err := loadBodies(o)
	if err != nil {
		return DriveResult{}, fmt.Errorf("load %s: %w", o.In, err)
	}
	if len(bodies) == 0 {
		return DriveResult{}, fmt.Errorf("%s holds no events", o.In)
	}
	ct := "application/x-ndjson"
	if o.Format == "array" {
		ct = "application/json"
	}
	tr := &http.Transport{MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	defer tr.CloseIdleConnections()

	var next atomic.Int64
	lat := make([][]time.Duration, o.Concurrency)
	var errs atomic.Int64
	var firstErr atomic.Value
	interval := time.Duration(0)
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.Batch) / o.Rate)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) || ctx.Err() != nil {
					return
				}
				sched := time.Now()
				if interval > 0 {
					sched = start.Add(time.Duration(i) * interval)
					if d := time.Until(sched); d > 0 {
						time.Sleep(d)
					}
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", ct)
				req.Header.Set("x-portkey-api-key", o.Key)
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				lat[w] = append(lat[w], time.Since(sched))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}(w)
	}
	wg.Wait()
	res := DriveResult{Events: events, Requests: len(bodies), Errors: int(errs.Load()), Seconds: time.Since(start).Seconds()}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		res.P50, res.P99, res.Max = all[len(all)/2], all[min(len(all)-1, len(all)*99/100)], all[len(all)-1]
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "loadgen: first error:", e)
	}
	return res, nil
}

// createTopic creates topic with partitions on brokers (no error if it exists).
func createTopic(brokers []string, topic string, partitions int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 20 * time.Second}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil && err != kafka.TopicAlreadyExists {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// deleteTopics deletes topics on brokers.
func deleteTopics(brokers, topics []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 20 * time.Second}
	if _, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics}); err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	return nil
}
