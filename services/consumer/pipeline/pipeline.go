// Package pipeline moves messages from Kafka into ClickHouse: fetch → decode →
// batch → write → commit. Three goroutines form the stages (fetch, assemble,
// write) joined by bounded channels, so memory stays bounded by the batch
// limits however slow ClickHouse is.
//
// Guarantees:
//   - An offset is committed only after every message up to it is in
//     ClickHouse (or in the dead-letter topic).
//   - A message that cannot be decoded or fails validation goes to the
//     dead-letter topic with its reason and origin and never blocks its partition.
//   - When ClickHouse or Kafka fail, the writer retries with capped exponential
//     backoff, fetching stops as the channels fill, and the sink reports itself
//     unhealthy until a write succeeds again.
//   - Duplicates (redelivery after a crash, a rebalance, a retry) are avoided by
//     a per-partition watermark kept in ClickHouse and, where one slips through,
//     collapsed by the logs table (ReplacingMergeTree on the log's key).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"logpipe/consumer/sink"
	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
)

// Source is the consumer-group reader (kafka-go's *kafka.Reader).
type Source interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Sink is where batches go (the ClickHouse writer, sink.ClickHouse).
type Sink interface {
	InsertLogs(ctx context.Context, events []logevent.Event) error
	InsertFeedback(ctx context.Context, rows []feedback.Feedback) error
	InsertMarks(ctx context.Context, marks []sink.Mark) error
	Mark(ctx context.Context, topic string, partition int) (sink.Watermark, error)
}

// DeadLetters receives undecodable and invalid messages (a *kafka.Writer on
// the dead-letter topic).
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Dead-letter headers.
const (
	HeaderReason    = "logpipe-dlq-reason"    // decode or invalid
	HeaderError     = "logpipe-dlq-error"     // the error text
	HeaderTopic     = "logpipe-dlq-topic"     // origin topic
	HeaderPartition = "logpipe-dlq-partition" // origin partition (decimal)
	HeaderOffset    = "logpipe-dlq-offset"    // origin offset (decimal)
)

// Dead-letter reasons (bounded label values).
const (
	ReasonDecode  = "decode"
	ReasonInvalid = "invalid"
)

// Options tune the pipeline. Zero fields take the defaults named.
type Options struct {
	// LogsTopic and FeedbackTopic route messages by topic (feedback may be empty).
	LogsTopic     string
	FeedbackTopic string
	// MaxRows flushes a batch at this many messages (default 50000).
	MaxRows int
	// MaxBytes flushes a batch at this many message bytes (default 16 MiB).
	MaxBytes int
	// MaxAge flushes a non-empty batch this long after its first message (default 1s).
	MaxAge time.Duration
	// RetryMin and RetryMax bound the exponential backoff of failed writes (default 100ms, 10s).
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds flushing and committing at shutdown (default 30s);
	// what is not written by then is left uncommitted and read again later.
	DrainTimeout time.Duration
	// NoWatermark turns off the per-partition watermark (default on).
	NoWatermark bool
	// FenceDelay is how long the first batch of a partition taken over from a
	// writer active moments ago waits before writing, so the previous owner's
	// in-flight batches land (and are skipped by watermark) first (default 3s).
	FenceDelay time.Duration
	// Limits validate events (default logevent.DefaultLimits).
	Limits logevent.Limits
}

func (o *Options) defaults() {
	if o.MaxRows <= 0 {
		o.MaxRows = 50000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 20
	}
	if o.MaxAge <= 0 {
		o.MaxAge = time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.FenceDelay <= 0 {
		o.FenceDelay = 3 * time.Second
	}
	if o.Limits == (logevent.Limits{}) {
		o.Limits = logevent.DefaultLimits
	}
}

// Pipeline is one consumer's pipeline.
type Pipeline struct {
	opts    Options
	src     Source
	sink    Sink
	dlq     DeadLetters
	log     *slog.Logger
	metrics *Metrics
	failing atomic.Pointer[error]
	parts   map[partition]*partState // owned by the assemble goroutine
}

type partition struct {
	topic string
	id    int
}

type partState struct {
	next       int64     // the offset expected next; anything else means a seek or rebalance
	watermark  int64     // highest offset known to be in ClickHouse
	fenceUntil time.Time // set when another writer was active on the partition moments ago
}

// origin is where a row came from.
type origin struct {
	part   partition
	offset int64
}

// New returns a pipeline; Run starts it.
func New(opts Options, src Source, snk Sink, dlq DeadLetters, log *slog.Logger, m *Metrics) *Pipeline {
	opts.defaults()
	return &Pipeline{opts: opts, src: src, sink: snk, dlq: dlq, log: log, metrics: m, parts: map[partition]*partState{}}
}

// Err returns the error the writer is retrying, or nil when the last write
// succeeded. Readiness reports it.
func (p *Pipeline) Err() error {
	if e := p.failing.Load(); e != nil {
		return *e
	}
	return nil
}

// batch is what one flush writes and commits.
type batch struct {
	logs     []logevent.Event
	logsFrom []origin // parallel to logs
	feedback []feedback.Feedback
	fbFrom   []origin // parallel to feedback
	dead     []kafka.Message
	fence    map[partition]time.Time // partitions taken over from a recent writer
	bytes    int                     // message bytes, for the MaxBytes limit
	logBytes int                     // message bytes of the logs rows
	fbBytes  int                     // message bytes of the feedback rows
	count    int
	last     map[partition]kafka.Message // the last message per partition (no key or value)
}

func newBatch() *batch {
	return &batch{last: map[partition]kafka.Message{}, fence: map[partition]time.Time{}}
}

// Run consumes until ctx ends, then stops fetching, writes and commits what it
// holds (within DrainTimeout) and returns. It returns an error when the source
// fails for good or the drain could not finish.
func (p *Pipeline) Run(ctx context.Context) error {
	msgs := make(chan kafka.Message, 1024)
	batches := make(chan *batch, 1)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(msgs)
		fetchErr <- p.fetch(ctx, msgs)
	}()
	go func() {
		defer close(batches)
		p.assemble(msgs, batches)
	}()
	werr := p.write(ctx, batches)
	return errors.Join(<-fetchErr, werr)
}

// fetch reads messages until ctx ends. A fetch error is not the end: the
// consumer-group reader reports what it failed to do (a broker of the group
// coordinator or of a partition leader died, a rebalance could not finish)
// and heals by itself once the cluster has moved leadership, so fetch backs
// off and asks again. Only a closed reader (io.EOF) stops it.
func (p *Pipeline) fetch(ctx context.Context, out chan<- kafka.Message) error {
	backoff := p.opts.RetryMin
	for {
		m, err := p.src.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("fetch from kafka: %w", err)
			}
			p.metrics.retries.WithLabelValues("fetch").Inc()
			p.log.Warn("fetch failed; retrying", "err", err, "backoff", backoff.String())
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, p.opts.RetryMax)
			continue
		}
		backoff = p.opts.RetryMin
		select {
		case out <- m:
		case <-ctx.Done():
			return nil
		}
	}
}

// assemble decodes messages into batches, flushing by rows, bytes and age,
// and flushes what it holds when msgs closes.
func (p *Pipeline) assemble(msgs <-chan kafka.Message, out chan<- *batch) {
	b := newBatch()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		timer.Stop()
		if b.count > 0 || len(b.last) > 0 {
			for k, m := range b.last {
				if m.HighWaterMark > 0 {
					p.metrics.lag.WithLabelValues(k.topic, strconv.Itoa(k.id)).Set(float64(max(m.HighWaterMark-m.Offset-1, 0)))
				}
			}
			out <- b
			b = newBatch()
		}
	}
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				flush()
				return
			}
			if b.count == 0 && len(b.last) == 0 {
				timer.Reset(p.opts.MaxAge)
			}
			p.add(b, m)
			if b.count >= p.opts.MaxRows || b.bytes >= p.opts.MaxBytes {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// add routes one message into b.
func (p *Pipeline) add(b *batch, m kafka.Message) {
	key := partition{m.Topic, m.Partition}
	b.last[key] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, HighWaterMark: m.HighWaterMark}
	if st := p.parts[key]; st != nil && m.Offset < st.next {
		// The partition was rewound (a rebalance gave it back at its committed
		// offset): rows of it from this offset on that the batch holds will
		// come again, so drop them now rather than write them twice.
		b.dropFrom(key, m.Offset)
	}
	if p.seen(key, m.Offset) {
		p.metrics.skipped.Inc()
		return
	}
	if st := p.parts[key]; st != nil && !st.fenceUntil.IsZero() {
		if time.Now().Before(st.fenceUntil) {
			b.fence[key] = st.fenceUntil
		} else {
			st.fenceUntil = time.Time{}
		}
	}
	from := origin{key, m.Offset}
	b.count++
	b.bytes += len(m.Value)
	switch m.Topic {
	case p.opts.FeedbackTopic:
		f, err := feedback.Decode(m.Value)
		if err != nil {
			p.dead(b, m, ReasonDecode, err.Error())
			return
		}
		if errs := f.Validate(); len(errs) > 0 {
			p.dead(b, m, ReasonInvalid, joinErrors(errs))
			return
		}
		b.feedback = append(b.feedback, f)
		b.fbFrom = append(b.fbFrom, from)
		b.fbBytes += len(m.Value)
	default:
		e, err := logevent.Decode(m.Value)
		if err != nil {
			p.dead(b, m, ReasonDecode, err.Error())
			return
		}
		if errs := e.Validate(p.opts.Limits); len(errs) > 0 {
			p.dead(b, m, ReasonInvalid, joinErrors(errs))
			return
		}
		b.logs = append(b.logs, e)
		b.logsFrom = append(b.logsFrom, from)
		b.logBytes += len(m.Value)
	}
}

// seen reports whether the watermark shows offset of key already written. It
// reloads the watermark whenever the partition's offsets jump (first sight,
// a rebalance, a restart), the only times another writer may have moved it.
func (p *Pipeline) seen(key partition, offset int64) bool {
	st := p.parts[key]
	if st == nil {
		st = &partState{next: -1, watermark: -1} // next -1: the first message always reads the watermark
		p.parts[key] = st
	}
	if p.opts.NoWatermark {
		st.next = offset + 1
		return false
	}
	if offset != st.next {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		wm, err := p.sink.Mark(ctx, key.topic, key.id)
		cancel()
		if err != nil {
			// Without the watermark we simply write again; the table collapses duplicates.
			p.log.Warn("watermark unavailable", "err", err, "topic", key.topic, "partition", key.id)
			wm = sink.Watermark{Offset: -1}
		}
		st.watermark = wm.Offset
		st.fenceUntil = time.Time{}
		if !wm.UpdatedAt.IsZero() && time.Since(wm.UpdatedAt) < p.opts.FenceDelay+time.Second {
			st.fenceUntil = time.Now().Add(p.opts.FenceDelay)
		}
		if err == nil && (wm.UpdatedAt.IsZero() || wm.Offset < offset-1) {
			// Claim the partition: everything below the position a reader
			// starts from is written (that is what a commit means), and a
			// fresh watermark tells a consumer taking the partition over
			// moments later that a writer was active, so it fences.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := p.sink.InsertMarks(ctx, []sink.Mark{{Topic: key.topic, Partition: key.id, Offset: offset - 1}}); err != nil {
				p.log.Warn("watermark claim failed", "err", err, "topic", key.topic, "partition", key.id)
			}
			cancel()
		}
		p.log.Debug("partition position moved", "topic", key.topic, "partition", key.id, "offset", offset,
			"expected", st.next, "watermark", wm.Offset, "fenced", !st.fenceUntil.IsZero())
	}
	st.next = offset + 1
	return offset <= st.watermark
}

func (p *Pipeline) dead(b *batch, m kafka.Message, reason, detail string) {
	b.dead = append(b.dead, kafka.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: append(m.Headers,
			kafka.Header{Key: HeaderReason, Value: []byte(reason)},
			kafka.Header{Key: HeaderError, Value: []byte(detail)},
			kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		),
	})
	p.metrics.deadLetters.WithLabelValues(reason).Inc()
	// Rare by nature, so logged one by one (without the payload).
	p.log.Warn("dead letter", "reason", reason, "err", detail, "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
}

func joinErrors(errs []logevent.FieldError) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// write writes and commits batches in order until batches closes. After ctx
// ends it keeps going for at most DrainTimeout, then gives up on what is left
// (uncommitted, so it is read again by the next owner).
func (p *Pipeline) write(ctx context.Context, batches <-chan *batch) error {
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.opts.DrainTimeout, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer stop()
	var failed error
	for b := range batches {
		if failed != nil {
			continue // drain the channel so the assembler can finish
		}
		if err := p.writeBatch(wctx, b); err != nil {
			failed = fmt.Errorf("drain at shutdown: %w", err)
			p.log.Error("drain gave up; uncommitted messages will be read again", "err", err)
		}
	}
	return failed
}

func (p *Pipeline) writeBatch(ctx context.Context, b *batch) error {
	if len(b.fence) > 0 {
		// Write the partitions that need no fence now, so a fence never
		// delays rows another consumer is waiting to see as written.
		later := b.split(func(k partition) bool { _, ok := b.fence[k]; return ok })
		b.fence = nil
		if err := p.writeBatch(ctx, b); err != nil {
			return err
		}
		p.applyFence(ctx, later)
		later.fence = nil
		return p.writeBatch(ctx, later)
	}
	p.metrics.batchRows.Observe(float64(b.count))
	if len(b.dead) > 0 {
		if err := p.retry(ctx, "dead_letter", func(ctx context.Context) error {
			if err := p.dlq.WriteMessages(ctx, b.dead...); err != nil {
				return fmt.Errorf("write %d dead letters: %w", len(b.dead), err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := p.insert(ctx, logevent.LogsTable, len(b.logs), b.logBytes, func(ctx context.Context) error {
		return p.sink.InsertLogs(ctx, b.logs)
	}); err != nil {
		return err
	}
	if err := p.insert(ctx, feedback.Table, len(b.feedback), b.fbBytes, func(ctx context.Context) error {
		return p.sink.InsertFeedback(ctx, b.feedback)
	}); err != nil {
		return err
	}
	marks := make([]sink.Mark, 0, len(b.last))
	commits := make([]kafka.Message, 0, len(b.last))
	for k, m := range b.last {
		marks = append(marks, sink.Mark{Topic: k.topic, Partition: k.id, Offset: m.Offset})
		commits = append(commits, m)
	}
	if !p.opts.NoWatermark {
		if err := p.retry(ctx, "watermark", func(ctx context.Context) error { return p.sink.InsertMarks(ctx, marks) }); err != nil {
			return err
		}
	}
	p.commit(ctx, commits)
	return nil
}

// dropFrom removes the rows of partition k at or after offset.
func (b *batch) dropFrom(k partition, offset int64) {
	again := func(o origin) bool { return o.part == k && o.offset >= offset }
	n := len(b.logs) + len(b.feedback)
	b.logs, b.logsFrom = dropWritten(b.logs, b.logsFrom, again)
	b.feedback, b.fbFrom = dropWritten(b.feedback, b.fbFrom, again)
	b.count -= n - len(b.logs) - len(b.feedback)
}

// split moves the rows and offsets of the partitions that match into a new
// batch and returns it; dead letters stay (they are written first anyway).
func (b *batch) split(match func(partition) bool) *batch {
	out := newBatch()
	n := len(b.logs) + len(b.feedback)
	keepLogs, keepFrom := b.logs[:0:0], b.logsFrom[:0:0]
	for i, o := range b.logsFrom {
		if match(o.part) {
			out.logs, out.logsFrom = append(out.logs, b.logs[i]), append(out.logsFrom, o)
		} else {
			keepLogs, keepFrom = append(keepLogs, b.logs[i]), append(keepFrom, o)
		}
	}
	b.logs, b.logsFrom = keepLogs, keepFrom
	keepFb, keepFbFrom := b.feedback[:0:0], b.fbFrom[:0:0]
	for i, o := range b.fbFrom {
		if match(o.part) {
			out.feedback, out.fbFrom = append(out.feedback, b.feedback[i]), append(out.fbFrom, o)
		} else {
			keepFb, keepFbFrom = append(keepFb, b.feedback[i]), append(keepFbFrom, o)
		}
	}
	b.feedback, b.fbFrom = keepFb, keepFbFrom
	for k, m := range b.last {
		if match(k) {
			out.last[k] = m
			delete(b.last, k)
		}
	}
	maps.Copy(out.fence, b.fence)
	// Counts and byte totals are shared out by rows; they only feed metrics.
	if n > 0 {
		moved := len(out.logs) + len(out.feedback)
		out.count = b.count * moved / n
		out.logBytes, out.fbBytes = b.logBytes*len(out.logs)/max(len(out.logs)+len(b.logs), 1), b.fbBytes*len(out.feedback)/max(len(out.feedback)+len(b.feedback), 1)
		b.count -= out.count
		b.logBytes -= out.logBytes
		b.fbBytes -= out.fbBytes
	}
	return out
}

// applyFence handles partitions just taken over from a writer that was
// active moments ago (a rebalance): it waits out the fence, so the previous
// owner's in-flight batches land, re-reads their watermarks and drops the rows
// they already wrote. Were a previous owner slower still, its rows would be
// duplicates that the table collapses; the fence only makes them rare.
func (p *Pipeline) applyFence(ctx context.Context, b *batch) {
	var until time.Time
	for _, t := range b.fence {
		if t.After(until) {
			until = t
		}
	}
	if !sleep(ctx, time.Until(until)) {
		return
	}
	read := func() map[partition]int64 {
		marks := map[partition]int64{}
		for k := range b.fence {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			wm, err := p.sink.Mark(wctx, k.topic, k.id)
			cancel()
			if err != nil {
				p.log.Warn("watermark unavailable", "err", err, "topic", k.topic, "partition", k.id)
				continue
			}
			marks[k] = wm.Offset
		}
		return marks
	}
	// Wait until the previous owner has stopped moving the watermarks (it is
	// draining what it fetched before the rebalance), within bounds.
	marks := read()
	for range 10 {
		if !sleep(ctx, p.opts.FenceDelay/2) {
			return
		}
		again := read()
		if maps.Equal(again, marks) {
			break
		}
		marks = again
	}
	written := func(o origin) bool {
		wm, ok := marks[o.part]
		return ok && o.offset <= wm
	}
	n := len(b.logs) + len(b.feedback)
	b.logs, b.logsFrom = dropWritten(b.logs, b.logsFrom, written)
	b.feedback, b.fbFrom = dropWritten(b.feedback, b.fbFrom, written)
	p.metrics.skipped.Add(float64(n - len(b.logs) - len(b.feedback)))
}

func dropWritten[T any](rows []T, from []origin, written func(origin) bool) ([]T, []origin) {
	keep := 0
	for i := range rows {
		if !written(from[i]) {
			rows[keep], from[keep] = rows[i], from[i]
			keep++
		}
	}
	return rows[:keep], from[:keep]
}

func (p *Pipeline) insert(ctx context.Context, table string, rows, bytes int, f func(context.Context) error) error {
	if rows == 0 {
		return nil
	}
	var took time.Duration
	err := p.retry(ctx, "insert_"+table, func(ctx context.Context) error {
		start := time.Now()
		err := f(ctx)
		took = time.Since(start)
		return err
	})
	if err != nil {
		return err
	}
	p.metrics.insertDuration.WithLabelValues(table).Observe(took.Seconds())
	p.metrics.rowsInserted.WithLabelValues(table).Add(float64(rows))
	p.metrics.bytesInserted.WithLabelValues(table).Add(float64(bytes))
	return nil
}

// commit commits offsets after their rows are written. A failed commit (a
// rebalance moved the partition, the broker is away) is retried a few times
// and then left: the rows are in ClickHouse and the watermark, so whoever
// reads the messages again skips them.
func (p *Pipeline) commit(ctx context.Context, msgs []kafka.Message) {
	if len(msgs) == 0 {
		return
	}
	backoff := p.opts.RetryMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := p.src.CommitMessages(ctx, msgs...)
		if err == nil {
			p.metrics.commitDuration.Observe(time.Since(start).Seconds())
			return
		}
		if attempt == 3 || ctx.Err() != nil {
			p.metrics.commitErrors.Inc()
			p.log.Warn("commit failed; messages will be read again", "err", err, "partitions", len(msgs))
			return
		}
		p.metrics.retries.WithLabelValues("commit").Inc()
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, p.opts.RetryMax)
	}
}

// retry runs f until it succeeds or ctx ends, backing off exponentially
// between RetryMin and RetryMax.
func (p *Pipeline) retry(ctx context.Context, op string, f func(context.Context) error) error {
	backoff := p.opts.RetryMin
	for {
		err := f(ctx)
		if err == nil {
			if p.failing.Load() != nil {
				p.failing.Store(nil)
				p.metrics.sinkUp.Set(1)
				p.log.Info("sink recovered", "op", op)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		p.failing.Store(&err)
		p.metrics.sinkUp.Set(0)
		p.metrics.retries.WithLabelValues(op).Inc()
		p.log.Warn("write failed; retrying", "op", op, "err", err, "backoff", backoff.String())
		if !sleep(ctx, backoff) {
			return fmt.Errorf("%s: %w", op, err)
		}
		backoff = min(backoff*2, p.opts.RetryMax)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
