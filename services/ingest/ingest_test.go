package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"logpipe/ingest/quota"
	"logpipe/lib/chconn"
	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/server"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

// instance is a running ingest of one test.
type instance struct {
	url  string
	stop func()
}

// startIngest runs ingest with args (plus the test servers' addresses) until
// the test ends or stop is called.
func startIngest(t *testing.T, args ...string) *instance {
	t.Helper()
	cfg, err := parseConfig(args)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, testenv.Logger(), ln, server.NewRegistry()) }()
	in := &instance{url: "http://" + ln.Addr().String()}
	stopped := false
	in.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest run: %v", err)
		}
	}
	t.Cleanup(in.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(in.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest not ready: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("ingest exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// env is what a test's ingest runs against: its own topics and database.
type env struct {
	brokers            []string
	logsTopic, fbTopic string
	ch                 chconn.Config
	keysFile           string
	args               []string
}

func newEnv(t *testing.T, brokers []string, logsTopic, fbTopic string) *env {
	t.Helper()
	ch, _ := testenv.ClickHouse(t)
	e := &env{brokers: brokers, logsTopic: logsTopic, fbTopic: fbTopic, ch: ch,
		keysFile: filepath.Join(t.TempDir(), "keys.json")}
	e.args = []string{"-keys-file", e.keysFile, "-kafka-brokers", strings.Join(brokers, ","),
		"-logs-topic", logsTopic, "-feedback-topic", fbTopic,
		"-clickhouse-addr", ch.Addr, "-clickhouse-database", ch.Database, "-quota-sync", "200ms"}
	return e
}

func (e *env) key(t *testing.T, org, workspace string, plan tenant.Plan) string {
	t.Helper()
	k, _, err := tenant.AddKey(e.keysFile, org, workspace, tenant.RoleAdmin, plan)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, url, key, contentType string, body []byte, hdr ...string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(tenant.HeaderAPIKey, key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %q", url, resp.StatusCode, raw)
	}
	return a
}

func ids(t *testing.T, a answer, field string) []string {
	t.Helper()
	var out []string
	list, _ := a.body[field].([]any)
	for _, v := range list {
		out = append(out, v.(string))
	}
	return out
}

// readTopic returns every message of topic.
func readTopic(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var out []kafka.Message
	for _, p := range parts {
		lc, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 200 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestTopicHoldsExactlyWhatWasAccepted posts every input shape, accepted and
// refused, and reads the topic back: each accepted event is there once, with
// the tenant of its key, and nothing refused or DO NOT TRACK'd leaked.
func TestTopicHoldsExactlyWhatWasAccepted(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	e := newEnv(t, brokers, testenv.Topic(t, "ingest_logs", 3), testenv.Topic(t, "ingest_fb", 3))
	key := e.key(t, "org-a", "ws-a", tenant.PlanProduction)
	in := startIngest(t, e.args...)
	logsURL := in.url + "/v1/logs"
	want := map[string]string{} // id -> ai_model

	insert := `{"request":{"url":"https://api.openai.com/v1/chat/completions","method":"POST","body":{"model":"gpt-4o","messages":[]}},
	  "response":{"status":200,"body":{"model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}},"response_time":12},
	  "metadata":{"_user":"alice","trace_id":"tr-1"}}`
	a := post(t, logsURL, key, "application/json", []byte(insert))
	if a.status != 200 {
		t.Fatalf("insert a log: %d %v", a.status, a.body)
	}
	want[ids(t, a, "log_ids")[0]] = "gpt-4o"

	retried := logevent.NewID()
	batch := `[{"id":"` + retried + `","ai_model":"m-array-1","workspace_id":"ws-other"},{"ai_model":"m-array-2"}]`
	for i := 0; i < 2; i++ { // a retried POST keeps the id
		a = post(t, logsURL, key, "application/json", []byte(batch))
		if a.status != 200 {
			t.Fatalf("array: %d %v", a.status, a.body)
		}
		got := ids(t, a, "log_ids")
		want[got[0]], want[got[1]] = "m-array-1", "m-array-2"
	}

	a = post(t, logsURL, key, "application/json", []byte(`[{"ai_model":"refused-1"},{"cost":-1,"ai_model":"refused-2"}]`))
	if a.status != 400 {
		t.Fatalf("invalid array: %d %v; want 400", a.status, a.body)
	}

	a = post(t, logsURL, key, "application/json", []byte(`{"ai_model":"dnt","request.body":{"secret":"TOPSECRET-1"},"response.body":"TOPSECRET-2","request.headers":{"authorization":"TOPSECRET-3"}}`),
		"x-portkey-debug", "false")
	if a.status != 200 {
		t.Fatalf("dnt: %d %v", a.status, a.body)
	}
	want[ids(t, a, "log_ids")[0]] = "dnt"

	ndjson := "{\"ai_model\":\"nd-1\"}\n{\"ai_model\":\"nd-bad\",\"mode\":\"NOPE\"}\n{\"ai_model\":\"nd-2\"}\n"
	a = post(t, logsURL, key, "application/x-ndjson", gz([]byte(ndjson)), "Content-Encoding", "gzip")
	if a.status != 207 {
		t.Fatalf("ndjson: %d %v; want 207", a.status, a.body)
	}
	nd := ids(t, a, "log_ids")
	want[nd[0]], want[nd[1]] = "nd-1", "nd-2"

	fa := post(t, in.url+"/v1/feedback", key, "application/json", []byte(`{"trace_id":"tr-1","value":7,"weight":0.5}`))
	if fa.status != 200 {
		t.Fatalf("feedback: %d %v", fa.status, fa.body)
	}
	fid := ids(t, fa, "feedback_ids")[0]
	req, _ := http.NewRequest("PUT", in.url+"/v1/feedback/"+fid, strings.NewReader(`{"value":-2}`))
	req.Header.Set(tenant.HeaderAPIKey, key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("put feedback: %v %v", err, resp)
	}
	resp.Body.Close()

	msgs := readTopic(t, brokers, e.logsTopic)
	got := map[string]int{}
	for _, m := range msgs {
		for _, secret := range []string{"TOPSECRET", "refused-", "nd-bad"} {
			if bytes.Contains(m.Value, []byte(secret)) {
				t.Errorf("topic holds %q: %s", secret, m.Value)
			}
		}
		ev, err := logevent.DecodeStrict(m.Value)
		if err != nil {
			t.Fatalf("topic message does not decode: %v", err)
		}
		got[ev.ID]++
		if ev.WorkspaceID != "ws-a" || ev.OrganisationID != "org-a" || ev.RetentionDays != 30 || string(m.Key) != ev.ID {
			t.Errorf("event %s: tenant %s/%s retention %d key %s", ev.ID, ev.OrganisationID, ev.WorkspaceID, ev.RetentionDays, m.Key)
		}
		if model, ok := want[ev.ID]; !ok || model != ev.AIModel {
			t.Errorf("event %s model %q; want %q (accepted: %v)", ev.ID, ev.AIModel, model, ok)
		}
	}
	for id := range want {
		n := got[id]
		if id == retried {
			n-- // posted twice on purpose, same id: the consumer collapses it
		}
		if n != 1 && !(id != retried && got[id] == 2 && strings.HasPrefix(want[id], "m-array-")) {
			t.Errorf("accepted event %s (%s) is %d times in the topic", id, want[id], got[id])
		}
	}
	if got[retried] != 2 {
		t.Errorf("retried id %s is %d times in the topic; want 2 (same id both times)", retried, got[retried])
	}
	if len(msgs) != len(want)+1 {
		t.Errorf("topic holds %d messages; want %d accepted", len(msgs), len(want)+1)
	}

	fmsgs := readTopic(t, brokers, e.fbTopic)
	if len(fmsgs) != 2 {
		t.Fatalf("feedback topic holds %d; want 2 versions", len(fmsgs))
	}
	var values []int8
	for _, m := range fmsgs {
		f, err := feedback.Decode(m.Value)
		if err != nil || f.ID != fid || f.WorkspaceID != "ws-a" {
			t.Errorf("feedback %+v err %v; want id %s of ws-a", f, err, fid)
		}
		values = append(values, f.Value)
	}
	slices.Sort(values)
	if !slices.Equal(values, []int8{-2, 7}) {
		t.Errorf("feedback values %v; want -2 and 7", values)
	}
}

// TestBrokerDown stops the broker: ingest answers 503 with Retry-After (never
// 2xx), and accepts again by itself once the broker is back.
func TestBrokerDown(t *testing.T) {
	k := testenv.StartOwnKafka(t)
	e := newEnv(t, k.Brokers, "logpipe.logs", "logpipe.feedback")
	key := e.key(t, "org-b", "ws-b", tenant.PlanEnterprise)
	in := startIngest(t, append(e.args, "-produce-timeout", "3s")...)
	logsURL := in.url + "/v1/logs"
	var acked []string
	a := post(t, logsURL, key, "application/json", []byte(`{"ai_model":"before"}`))
	if a.status != 200 {
		t.Fatalf("before: %d %v", a.status, a.body)
	}
	acked = append(acked, ids(t, a, "log_ids")...)

	k.Stop()
	for i := 0; i < 3; i++ {
		a = post(t, logsURL, key, "application/json", []byte(`{"ai_model":"during"}`))
		if a.status != 503 || a.header.Get("Retry-After") == "" {
			t.Fatalf("broker down: %d Retry-After %q %v; want 503 with Retry-After", a.status, a.header.Get("Retry-After"), a.body)
		}
	}

	k.Start()
	recovered := false
	for i := 0; i < 60 && !recovered; i++ {
		a = post(t, logsURL, key, "application/json", []byte(`{"ai_model":"after"}`))
		switch a.status {
		case 200:
			recovered = true
			acked = append(acked, ids(t, a, "log_ids")...)
		case 503:
			time.Sleep(time.Second)
		default:
			t.Fatalf("after restart: %d %v", a.status, a.body)
		}
	}
	if !recovered {
		t.Fatal("ingest did not recover after the broker came back")
	}
	got := map[string]bool{}
	for _, m := range readTopic(t, k.Brokers, "logpipe.logs") {
		ev, err := logevent.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[ev.ID] = true
	}
	for _, id := range acked {
		if !got[id] {
			t.Errorf("acknowledged event %s is missing from the topic", id)
		}
	}
}

// TestQuotaSurvivesRestart: a developer organisation near its monthly limit
// is refused with 429 quota_exceeded, also by a restarted ingest.
func TestQuotaSurvivesRestart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	e := newEnv(t, brokers, testenv.Topic(t, "ingest_q", 1), testenv.Topic(t, "ingest_qfb", 1))
	key := e.key(t, "org-dev", "ws-dev", tenant.PlanDeveloper)
	ctx := context.Background()
	conn, err := chconn.Open(ctx, e.ch, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	month := quota.Month(time.Now())
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+quota.Table+" (organisation_id, month, logs)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("org-dev", month, uint64(9997)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	in := startIngest(t, e.args...)
	a := post(t, in.url+"/v1/logs", key, "application/json", []byte(`[{},{}]`))
	if a.status != 200 {
		t.Fatalf("within limit: %d %v", a.status, a.body)
	}
	a = post(t, in.url+"/v1/logs", key, "application/json", []byte(`[{},{}]`))
	if a.status != 429 {
		t.Fatalf("beyond limit: %d %v; want 429", a.status, a.body)
	}
	if code := a.body["error"].(map[string]any)["code"]; code != "quota_exceeded" {
		t.Errorf("code %v; want quota_exceeded", code)
	}
	in.stop()

	in = startIngest(t, e.args...)
	if a = post(t, in.url+"/v1/logs", key, "application/json", []byte(`{}`)); a.status != 200 {
		t.Fatalf("the last log of the month: %d %v", a.status, a.body)
	}
	if a = post(t, in.url+"/v1/logs", key, "application/json", []byte(`{}`)); a.status != 429 {
		t.Fatalf("after restart beyond limit: %d %v; want 429", a.status, a.body)
	}
	in.stop()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT sum(logs) FROM "+quota.Table+" WHERE organisation_id = 'org-dev' AND month = ?", month).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 10_000 {
		t.Errorf("usage in ClickHouse %d; want 10000", n)
	}
}

// TestShutdownLosesNoAcknowledgedEvent stops ingest while clients are
// posting: every event answered 200 before or during the drain is in the topic.
func TestShutdownLosesNoAcknowledgedEvent(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	e := newEnv(t, brokers, testenv.Topic(t, "ingest_drain", 3), testenv.Topic(t, "ingest_drainfb", 1))
	key := e.key(t, "org-d", "ws-d", tenant.PlanEnterprise)
	in := startIngest(t, e.args...)
	var body bytes.Buffer
	for i := 0; i < 200; i++ {
		body.WriteString(`{"ai_model":"drain","request.body":{"n":` + strings.Repeat("1", 200) + `}}` + "\n")
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	firstAck := make(chan struct{}, 1)
	done := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest("POST", in.url+"/v1/logs", bytes.NewReader(body.Bytes()))
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set(tenant.HeaderAPIKey, key)
				resp, err := client.Do(req)
				if err != nil {
					continue // refused after the listener closed
				}
				var r struct {
					LogIDs []string `json:"log_ids"`
				}
				json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					for _, id := range r.LogIDs {
						acked[id] = true
					}
					mu.Unlock()
					select {
					case firstAck <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	<-firstAck
	in.stop() // drains in-flight requests, flushes the writers
	close(done)
	wg.Wait()
	inTopic := map[string]bool{}
	for _, m := range readTopic(t, brokers, e.logsTopic) {
		inTopic[string(m.Key)] = true
	}
	missing := 0
	for id := range acked {
		if !inTopic[id] {
			missing++
		}
	}
	if len(acked) == 0 || missing > 0 {
		t.Errorf("%d events acknowledged, %d of them missing from the topic", len(acked), missing)
	}
}
