// Command loadgen makes realistic gateway log events (about 1.5 KB each, with
// bodies, metadata, varied models, statuses and cache states) and either posts
// them to ingest or writes them as NDJSON, for the demo burst of `make up`
// and for benchmarks.
//
//	loadgen -n 200 -url http://127.0.0.1:8080/v1/logs -key lp_...   post in batches
//	loadgen -n 100000 -out events.ndjson                            write a file
//	loadgen -drive events.ndjson -url ... -key ... -c 32 -batch 100 drive ingest, print throughput and latency
//	loadgen -create-topic name -brokers 127.0.0.1:9092 -partitions 6 create a topic (benchmarks)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"logpipe/lib/logevent"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	n := fs.Int("n", 100, "number of events")
	url := fs.String("url", "", "ingest endpoint to POST to (e.g. http://127.0.0.1:8080/v1/logs)")
	key := fs.String("key", os.Getenv("LOGPIPE_API_KEY"), "API key for -url")
	batch := fs.Int("batch", 50, "events per POST")
	out := fs.String("out", "", "write NDJSON here instead of posting ('-' for stdout)")
	seed := fs.Uint64("seed", 1, "random seed")
	spread := fs.Duration("spread", time.Hour, "events' created_at spread over the past duration")
	drive := fs.String("drive", "", "NDJSON events file to post to -url from -c concurrent clients (prints throughput and latency)")
	conc := fs.Int("c", 32, "concurrent clients for -drive")
	format := fs.String("format", "ndjson", "request format for -drive: ndjson or array")
	rate := fs.Float64("rate", 0, "pace -drive to this many events/s (0: as fast as possible)")
	createT := fs.String("create-topic", "", "create this Kafka topic and exit")
	deleteT := fs.String("delete-topics", "", "delete these Kafka topics (comma-separated) and exit")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers for -create-topic, comma-separated")
	partitions := fs.Int("partitions", 6, "partitions for -create-topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *deleteT != "":
		return deleteTopics(strings.Split(*brokers, ","), strings.Split(*deleteT, ","))
	case *createT != "":
		return createTopic(strings.Split(*brokers, ","), *createT, *partitions)
	case *drive != "":
		if *url == "" || *conc < 1 || *batch < 1 || (*format != "ndjson" && *format != "array") {
			return fmt.Errorf("-drive needs -url, -c ≥ 1, -batch ≥ 1 and -format ndjson|array")
		}
		limit := 0 // the whole file unless -n is given
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "n" {
				limit = *n
			}
		})
		res, err := Drive(context.Background(), DriveOptions{In: *drive, URL: *url, Key: *key, Concurrency: *conc,
			Batch: *batch, Format: *format, Rate: *rate, Limit: limit})
		if err != nil {
			return err
		}
		fmt.Println(res)
		return nil
	}
	g := NewGenerator(*seed, time.Now(), *spread)
	switch {
	case *out != "":
		w := os.Stdout
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		for i := 0; i < *n; i++ {
			e := g.Event()
			b, err := logevent.Encode(&e)
			if err != nil {
				return err
			}
			bw.Write(b)
			bw.WriteByte('\n')
		}
		return bw.Flush()
	case *url != "":
		client := &http.Client{Timeout: 30 * time.Second}
		for done := 0; done < *n; {
			k := min(*batch, *n-done)
			events := make([]logevent.Event, k)
			for i := range events {
				events[i] = g.Event()
			}
			body, _ := json.Marshal(events)
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, *url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("x-portkey-api-key", *key)
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("post batch: %w", err)
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("post batch: %s: %s", resp.Status, msg)
			}
			done += k
		}
		fmt.Printf("posted %d events to %s\n", *n, *url)
		return nil
	}
	return fmt.Errorf("give -url or -out")
}

// Generator makes deterministic realistic events.
type Generator struct {
	r      *rand.Rand
	now    time.Time
	spread time.Duration
}

// NewGenerator returns a generator seeded with seed, events ending at now.
func NewGenerator(seed uint64, now time.Time, spread time.Duration) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: now, spread: spread}
}

var (
	models = []struct{ org, model string }{{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"anthropic", "claude-sonnet-4"},
		{"google", "gemini-2.5-pro"}, {"mistral-ai", "mistral-large"}, {"openai", "text-embedding-3-small"}}
	users    = []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", ""}
	envs     = []string{"prod", "staging", "dev"}
	caches   = []string{"DISABLED", "DISABLED", "MISS", "HIT", "SEMANTIC HIT", "REFRESHED"}
	statuses = []uint16{200, 200, 200, 200, 200, 200, 200, 429, 500, 400}
	prompts  = []string{"Summarise the following support ticket in two sentences.", "Translate to French: the invoice is overdue.",
		"Write a haiku about distributed systems.", "Classify the sentiment of this review: great battery, poor screen.",
		"Extract the dates mentioned in: we met on 3 March and again on 9 April."}
)

// Event returns the next event.
func (g *Generator) Event() logevent.Event {
	r := g.r
	m := models[r.IntN(len(models))]
	e := logevent.New()
	e.ID = logevent.NewID()
	e.CreatedAt = logevent.MillisOf(g.now.Add(-time.Duration(r.Int64N(int64(g.spread) + 1))))
	e.AIOrg, e.AIModel = m.org, m.model
	e.EndpointType = "chat/completions"
	if m.model == "text-embedding-3-small" {
		e.EndpointType = "embeddings"
	}
	e.ReqUnits = uint32(20 + r.IntN(2000))
	e.ResUnits = uint32(r.IntN(800))
	e.TotalUnits = e.ReqUnits + e.ResUnits
	e.Cost = float64(e.TotalUnits) * 0.0004
	e.ResponseStatusCode = statuses[r.IntN(len(statuses))]
	if e.ResponseStatusCode >= 400 {
		e.IsSuccess = 0
	}
	e.ResponseTime = uint32(80 + r.IntN(4000))
	e.CacheStatus = caches[r.IntN(len(caches))]
	switch e.CacheStatus {
	case "HIT", "REFRESHED":
		e.CacheType = "SIMPLE"
	case "SEMANTIC HIT":
		e.CacheType = "SEMANTIC"
	}
	e.RequestURL = "https://api." + m.org + ".example/v1/" + e.EndpointType
	if r.IntN(4) == 0 {
		e.StreamMode = "TRUE"
	}
	switch r.IntN(6) {
	case 0:
		e.Mode, e.FallbackOption = "FALLBACK", uint16(1+r.IntN(3))
	case 1:
		e.Mode, e.LoadbalanceActive = "LOADBALANCE", 1
	}
	if r.IntN(8) == 0 {
		e.RetryAttempts = uint16(1 + r.IntN(3))
		e.RetrySuccessCount = e.RetryAttempts
	}
	e.TraceID = fmt.Sprintf("trace-%08x", r.Uint32())
	e.SpanID = fmt.Sprintf("span-%06x", r.Uint32()&0xffffff)
	e.VirtualKey = m.org + "-" + envs[r.IntN(len(envs))]
	e.Runtime, e.RuntimeVersion, e.SDKVersion = "node", "20.20.2", "1.9.0"
	e.Config = fmt.Sprintf("pc-config-%d", r.IntN(5))
	user := users[r.IntN(len(users))]
	e.User = user
	env := envs[r.IntN(len(envs))]
	e.MetadataKey = []string{"env", "team"}
	e.MetadataValue = []string{env, fmt.Sprintf("team-%d", r.IntN(4))}
	if user != "" {
		e.MetadataKey = append(e.MetadataKey, "_user")
		e.MetadataValue = append(e.MetadataValue, user)
	}
	prompt := prompts[r.IntN(len(prompts))]
	req, _ := json.Marshal(map[string]any{"model": m.model, "temperature": 0.7, "max_tokens": 512,
		"messages": []map[string]string{{"role": "system", "content": "You are a helpful assistant for an online retailer. Answer briefly and accurately."}, {"role": "user", "content": prompt}}})
	resp, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("chatcmpl-%x", r.Uint64()), "object": "chat.completion", "model": m.model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop", "message": map[string]string{"role": "assistant",
			"content": "Here is a concise answer to your request, written to be useful and to the point. " + prompt}}},
		"usage": map[string]uint32{"prompt_tokens": e.ReqUnits, "completion_tokens": e.ResUnits, "total_tokens": e.TotalUnits}})
	e.RequestBody, e.ResponseBody = req, resp
	e.RequestHeaders = logevent.RawJSON(`{"content-type":"application/json","x-portkey-provider":"` + m.org + `"}`)
	e.ResponseHeaders = logevent.RawJSON(`{"content-type":"application/json"}`)
	return e
}
