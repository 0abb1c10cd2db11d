package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"logpipe/consumer/pipeline"
	"logpipe/lib/chconn"
	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/openapicheck"
	"logpipe/lib/server"
	"logpipe/lib/testenv"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "logpipe-consumer-bin") }

func TestRoutesMatchOpenAPI(t *testing.T) {
	e, _ := newEngine(testenv.Logger(), server.NewRegistry(), nil, nil)
	openapicheck.Check(t, "consumer", e.Routes())
}

// TestPoisonMessageGoesToDeadLetters: undecodable and invalid messages in the
// middle of a partition go to the dead-letter topic with reason and origin,
// the rest of the partition flows, and a graceful stop commits everything.
func TestPoisonMessageGoesToDeadLetters(t *testing.T) {
	ch, conn := testenv.ClickHouse(t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_poison", 3)
	dlq := testenv.Topic(t, "c_poison_dlq", 3)
	group := testenv.Name("g")

	events := makeEvents(600)
	poison := [][]byte{[]byte("not json at all"), []byte(`{"id":"has space","workspace_id":""}`)}
	var msgs []kafka.Message
	for i := range events {
		b, _ := logevent.Encode(&events[i])
		msgs = append(msgs, kafka.Message{Key: events[i].Key(), Value: b})
		if i == 100 {
			msgs = append(msgs, kafka.Message{Key: []byte("p1"), Value: poison[0]})
		}
		if i == 300 {
			msgs = append(msgs, kafka.Message{Key: []byte("p2"), Value: poison[1]})
		}
	}
	// Everything into partition 0, so the poison sits in the middle of it.
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }), BatchTimeout: 5 * time.Millisecond}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	w.Close()

	stop := startConsumer(t, testConfig(ch, brokers, topic, dlq, group))
	waitExactlyOnce(t, conn, events, 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("consumer stopped with %v; want a clean drain", err)
	}

	// The dead letters carry the payload, the reason and the origin.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: testenv.Name("dlqcheck"), Topic: dlq, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[string]map[string]string{}
	for len(got) < len(poison) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters (have %d of %d): %v", len(got), len(poison), err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		got[string(m.Value)] = h
	}
	for i, p := range poison {
		h, ok := got[string(p)]
		if !ok {
			t.Fatalf("poison message %q not in the dead-letter topic", p)
		}
		wantReason := []string{pipeline.ReasonDecode, pipeline.ReasonInvalid}[i]
		if h[pipeline.HeaderReason] != wantReason || h[pipeline.HeaderTopic] != topic || h[pipeline.HeaderPartition] != "0" || h[pipeline.HeaderError] == "" {
			t.Errorf("dead letter %q headers %v; want reason %s, topic %s, partition 0 and an error", p, h, wantReason, topic)
		}
		if _, err := strconv.ParseInt(h[pipeline.HeaderOffset], 10, 64); err != nil {
			t.Errorf("dead letter %q offset header %q: %v", p, h[pipeline.HeaderOffset], err)
		}
	}

	// The graceful stop committed every offset, poison included.
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	off, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0}}})
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	if c := off.Topics[topic][0].CommittedOffset; c != int64(len(msgs)) {
		t.Errorf("committed offset of partition 0 is %d; want %d (every message handled)", c, len(msgs))
	}
}

// TestKillNineAtRandomPoints kills the consumer process with SIGKILL several
// times while it consumes — before, during and after inserts, before
// commits — and checks every event ends up visible exactly once. Half of the
// runs have the watermark off, so the table's own deduplication is exercised too.
func TestKillNineAtRandomPoints(t *testing.T) {
	bin := consumerBinary(t)
	ch, conn := testenv.ClickHouse(t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_kill", 6)
	dlq := testenv.Topic(t, "c_kill_dlq", 1)
	feedbackTopic := testenv.Topic(t, "c_kill_fb", 1)
	group := testenv.Name("g")
	events := makeEvents(20000)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produce(t, brokers, topic, events)
	}()

	env := append(os.Environ(),
		"LOGPIPE_CONSUMER_ADDR=127.0.0.1:0",
		"LOGPIPE_CLICKHOUSE_ADDR="+ch.Addr, "LOGPIPE_CLICKHOUSE_DATABASE="+ch.Database,
		"LOGPIPE_KAFKA_BROKERS="+brokers[0], "LOGPIPE_LOGS_TOPIC="+topic,
		"LOGPIPE_FEEDBACK_TOPIC="+feedbackTopic, "LOGPIPE_DLQ_TOPIC="+dlq,
		"LOGPIPE_CONSUMER_GROUP="+group, "LOGPIPE_CONSUMER_SESSION_TIMEOUT=6s",
		"LOGPIPE_CONSUMER_BATCH_ROWS=1500", "LOGPIPE_CONSUMER_BATCH_AGE=100ms",
		"LOGPIPE_CONSUMER_RETENTION_INTERVAL=0", "LOGPIPE_LOG_LEVEL=error",
	)
	start := func(watermark bool) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin)
		cmd.Env = append(env, "LOGPIPE_CONSUMER_WATERMARK="+strconv.FormatBool(watermark))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start consumer: %v", err)
		}
		return cmd, &stderr
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	var rows uint64
	for kill := 1; kill <= 4; kill++ {
		cmd, _ := start(kill%2 == 0)
		// Wait until this process has written something, then kill it at a random moment.
		waitRows(t, conn, rows+1, 90*time.Second)
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill consumer: %v", err)
		}
		_ = cmd.Wait()
		_, _, rows = counts(t, conn)
		t.Logf("kill %d: %d rows stored", kill, rows)
		if rows >= uint64(len(events)) {
			break // nothing left to interrupt
		}
	}
	<-produced
	cmd, stderr := start(true)
	waitExactlyOnce(t, conn, events, 120*time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("consumer exited with %v after SIGTERM; want a clean drain\n%s", err, stderr)
	}
}

// TestRebalanceWithTwoConsumers runs a second consumer while the first is
// consuming, then stops the first: two rebalances mid-stream.
func TestRebalanceWithTwoConsumers(t *testing.T) {
	ch, conn := testenv.ClickHouse(t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_rebal", 6)
	dlq := testenv.Topic(t, "c_rebal_dlq", 1)
	group := testenv.Name("g")
	events := makeEvents(20000)
	cfg := testConfig(ch, brokers, topic, dlq, group)

	produce(t, brokers, topic, events[:5000])
	stopA := startConsumer(t, cfg)
	waitRows(t, conn, 2000, 60*time.Second)
	go produce(t, brokers, topic, events[5000:])
	stopB := startConsumer(t, cfg)
	waitRows(t, conn, 8000, 60*time.Second)
	if err := stopA(); err != nil {
		t.Fatalf("first consumer stopped with %v", err)
	}
	waitExactlyOnce(t, conn, events, 120*time.Second)
	if err := stopB(); err != nil {
		t.Fatalf("second consumer stopped with %v", err)
	}
}

// TestClickHouseCrashMidStream kills ClickHouse (SIGKILL, cutting inserts
// off mid-way) while the consumer writes, restarts it, and checks the
// consumer resumes by itself and every event is visible exactly once.
func TestClickHouseCrashMidStream(t *testing.T) {
	own := testenv.StartOwnClickHouse(t)
	ch, conn := own.Database()
	defer conn.Close()
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_chcrash", 6)
	dlq := testenv.Topic(t, "c_chcrash_dlq", 1)
	events := makeEvents(20000)
	go func() { // a stream of a few seconds, so the crash lands mid-stream
		for chunk := range slices.Chunk(events, 1000) {
			produce(t, brokers, topic, chunk)
			time.Sleep(200 * time.Millisecond)
		}
	}()

	stop := startConsumer(t, testConfig(ch, brokers, topic, dlq, testenv.Name("g")))
	waitRows(t, conn, 3000, 60*time.Second)
	if _, _, raw := counts(t, conn); raw >= uint64(len(events)) {
		t.Fatalf("all %d rows were written before the crash; the test crashed nothing", raw)
	}
	own.Kill()
	time.Sleep(time.Second) // the consumer retries against a dead server
	own.Start()
	waitExactlyOnce(t, reconnect(t, ch), events, 120*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("consumer stopped with %v", err)
	}
}

// reconnect opens a new connection (the old pool's connections died with the server).
func reconnect(t *testing.T, cfg chconn.Config) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := chconn.Open(ctx, cfg, false)
	if err != nil {
		t.Fatalf("reconnect to ClickHouse: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestFeedbackIsWritten: the feedback topic flows into the feedback table.
func TestFeedbackIsWritten(t *testing.T) {
	ch, conn := testenv.ClickHouse(t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_fb_logs", 1)
	fbTopic := testenv.Topic(t, "c_fb", 2)
	dlq := testenv.Topic(t, "c_fb_dlq", 1)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: fbTopic, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	var msgs []kafka.Message
	for i := range 50 {
		f := feedback.Feedback{ID: logevent.NewID(), OrganisationID: "org", WorkspaceID: "ws", TraceID: "trace-" + strconv.Itoa(i),
			Value: int8(i%21 - 10), Weight: 1, CreatedAt: logevent.MillisOf(time.Now()), UpdatedAt: logevent.MillisOf(time.Now()), RetentionDays: 30}
		b, err := feedback.Encode(&f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(f.ID), Value: b})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce feedback: %v", err)
	}
	w.Close()
	cfg := testConfig(ch, brokers, topic, dlq, testenv.Name("g"))
	cfg.Kafka.FeedbackTopic, cfg.Pipeline.FeedbackTopic = fbTopic, fbTopic
	stop := startConsumer(t, cfg)
	deadline := time.Now().Add(60 * time.Second)
	var n uint64
	var sum int64
	for time.Now().Before(deadline) {
		if err := conn.QueryRow(context.Background(), "SELECT count(), toInt64(sum(value)) FROM feedback").Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if n >= 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n != 50 {
		t.Fatalf("feedback table has %d rows; want 50", n)
	}
	var want int64
	for i := range 50 {
		want += int64(i%21 - 10)
	}
	if sum != want {
		t.Errorf("sum of feedback values %d; want %d", sum, want)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// The lag gauge tells the truth while ClickHouse is away: it is read from
// Kafka (high-water marks against the group's commits), not from batches the
// consumer can no longer cut, so it grows with the backlog and returns to
// zero once the backlog is written.
func TestLagTellsTheTruthDuringAnOutage(t *testing.T) {
	own := testenv.StartOwnClickHouse(t)
	ch, conn := own.Database()
	defer conn.Close()
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_lag", 3)
	dlq := testenv.Topic(t, "c_lag_dlq", 1)
	cfg := testConfig(ch, brokers, topic, dlq, testenv.Name("g"))
	cfg.Addr = testenv.FreeAddr(t)
	stop := startConsumer(t, cfg)
	first := makeEvents(500)
	produce(t, brokers, topic, first)
	waitRows(t, conn, uint64(len(first)), 60*time.Second)
	waitLag(t, cfg.Addr, topic, func(n float64) bool { return n == 0 }, "0 once everything is written")

	own.Stop()
	backlog := makeEvents(2000)
	produce(t, brokers, topic, backlog)
	waitLag(t, cfg.Addr, topic, func(n float64) bool { return n >= float64(len(backlog)) }, fmt.Sprintf("at least %d while ClickHouse is down", len(backlog)))

	own.Start()
	waitExactlyOnce(t, reconnect(t, ch), append(first, backlog...), 120*time.Second)
	waitLag(t, cfg.Addr, topic, func(n float64) bool { return n == 0 }, "back to 0 after the outage")
	if err := stop(); err != nil {
		t.Fatalf("consumer stopped with %v", err)
	}
}

// waitLag polls the consumer's /metrics until the summed lag of topic
// satisfies ok.
func waitLag(t *testing.T, addr, topic string, ok func(float64) bool, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var sum float64
	for time.Now().Before(deadline) {
		sum = 0
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "logpipe_consumer_lag_messages{") && strings.Contains(line, `topic="`+topic+`"`) {
					var v float64
					if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
						sum += v
					}
				}
			}
			if ok(sum) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("consumer lag of %s is %v; want %s", topic, sum, want)
}

// SIGTERM under load: the consumer stops fetching, writes what it holds and
// commits it before it exits (status 0), so nothing it wrote is read again.
// With the watermark off in both runs, a second consumer writing not one row
// twice proves every written row was committed.
func TestSigtermFlushesAndCommits(t *testing.T) {
	bin := consumerBinary(t)
	ch, conn := testenv.ClickHouse(t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.Topic(t, "c_term", 6)
	dlq := testenv.Topic(t, "c_term_dlq", 1)
	group := testenv.Name("g")
	events := makeEvents(20000)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for chunk := range slices.Chunk(events, 1000) {
			produce(t, brokers, topic, chunk)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	env := append(os.Environ(),
		"LOGPIPE_CONSUMER_ADDR=127.0.0.1:0",
		"LOGPIPE_CLICKHOUSE_ADDR="+ch.Addr, "LOGPIPE_CLICKHOUSE_DATABASE="+ch.Database,
		"LOGPIPE_KAFKA_BROKERS="+brokers[0], "LOGPIPE_LOGS_TOPIC="+topic,
		"LOGPIPE_FEEDBACK_TOPIC=", "LOGPIPE_DLQ_TOPIC="+dlq,
		"LOGPIPE_CONSUMER_GROUP="+group, "LOGPIPE_CONSUMER_SESSION_TIMEOUT=6s",
		"LOGPIPE_CONSUMER_BATCH_ROWS=1500", "LOGPIPE_CONSUMER_BATCH_AGE=300ms",
		"LOGPIPE_CONSUMER_RETENTION_INTERVAL=0", "LOGPIPE_LOG_LEVEL=error", "LOGPIPE_CONSUMER_WATERMARK=false",
	)
	run := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start consumer: %v", err)
		}
		return cmd, &stderr
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	var rows uint64
	for term := 1; term <= 3 && rows < uint64(len(events)); term++ {
		cmd, stderr := run()
		waitRows(t, conn, rows+1, 90*time.Second)
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("consumer exited with %v after SIGTERM; want a clean drain\n%s", err, stderr)
		}
		_, _, rows = counts(t, conn)
		t.Logf("SIGTERM %d: %d rows stored", term, rows)
	}
	<-produced
	cmd, stderr := run()
	waitExactlyOnce(t, conn, events, 120*time.Second)
	if _, _, raw := counts(t, conn); raw != uint64(len(events)) {
		t.Errorf("%d rows stored for %d events: rows written before a SIGTERM were not committed and were written again", raw, len(events))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("consumer exited with %v after SIGTERM\n%s", err, stderr)
	}
}
