// Package sink writes the consumer's batches into ClickHouse over the native
// protocol: logs as one columnar batch INSERT whose column list and value order
// both come from logevent.Columns, feedback through feedback.InsertSQL/Row, and
// the per-partition offset watermark (table consumer_watermarks) that lets a
// restarted or rebalanced consumer skip what is already written.
package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
)

// OffsetsTable is the watermark table (schemas/clickhouse/*/0008_consumer_watermarks.sql).
const OffsetsTable = "consumer_watermarks"

// Mark is the last offset of one Kafka partition that a batch wrote, in one
// generation (life) of the partition.
type Mark struct {
	Topic      string
	Partition  int
	Generation uint32
	Offset     int64
}

// ClickHouse is the writer. It is safe for concurrent use.
type ClickHouse struct {
	conn     driver.Conn
	parallel int
}

// New returns a writer on conn that splits each logs batch into up to
// parallel concurrent INSERTs (default 1): one INSERT is sorted and
// compressed by one server thread, so a few in parallel use more cores.
func New(conn driver.Conn, parallel int) *ClickHouse {
	return &ClickHouse{conn: conn, parallel: max(parallel, 1)}
}

// minChunk is the fewest rows worth an INSERT of their own.
const minChunk = 2000

// syncCtx makes inserts into Distributed tables (the cluster schema) return
// only once every shard has the rows, so a watermark never overtakes its logs.
// Plain MergeTree tables ignore the setting.
func syncCtx(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
}

// InsertLogs writes events in batch INSERTs, column by column, up to
// parallel of them at once; it fails if any fails (the caller retries all:
// rows written twice are the same log and collapse).
//
// Rows are sent in the table's order — partition (retention tier, UTC day),
// then the sorting key (organisation_id, workspace_id, created_at, id) — so the server finds
// each block already sorted and skips sorting and permuting it.
//
// Events whose id carries no time first take the created_at and retention
// tier of their id's first copy (see canonicalise), which changes them.
func (s *ClickHouse) InsertLogs(ctx context.Context, events []logevent.Event) error {
	if err := s.canonicalise(ctx, events); err != nil {
		return err
	}
	order := distinct(events, tableOrder(events))
	n := min(s.parallel, max(len(events)/minChunk, 1))
	if n == 1 {
		return s.insertLogs(ctx, events, order)
	}
	size := (len(order) + n - 1) / n
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		chunk := order[i*size : min((i+1)*size, len(order))]
		wg.Go(func() { errs[i] = s.insertLogs(ctx, events, chunk) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tableOrder returns the indexes of events in the logs table's order.
func tableOrder(events []logevent.Event) []int {
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	const day = 24 * 60 * 60 * 1000
	slices.SortFunc(order, func(i, j int) int {
		a, b := &events[i], &events[j]
		return cmp.Or(
			cmp.Compare(a.RetentionDays, b.RetentionDays),
			cmp.Compare(a.CreatedAt/day, b.CreatedAt/day),
			strings.Compare(a.OrganisationID, b.OrganisationID),
			strings.Compare(a.WorkspaceID, b.WorkspaceID),
			cmp.Compare(a.CreatedAt, b.CreatedAt),
			strings.Compare(a.ID, b.ID),
		)
	})
	return order
}

// distinct drops from order (in table order) every event whose whole key —
// partition and ordering key — repeats the previous one's: copies of one log
// in a batch (a redelivery, a retry) are written once, so every part an
// INSERT makes is free of duplicates, and a partition of one part needs no
// deduplication when read.
func distinct(events []logevent.Event, order []int) []int {
	out := make([]int, 0, len(order))
	for i, j := range order {
		if i > 0 {
			a, b := &events[order[i-1]], &events[j]
			if a.RetentionDays == b.RetentionDays && a.CreatedAt == b.CreatedAt && a.ID == b.ID &&
				a.OrganisationID == b.OrganisationID && a.WorkspaceID == b.WorkspaceID {
				continue
			}
		}
		out = append(out, j)
	}
	return out
}

// insertLogs writes events[order...] in one INSERT.
func (s *ClickHouse) insertLogs(ctx context.Context, events []logevent.Event, order []int) error {
	if len(order) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(syncCtx(ctx), logevent.InsertSQL(logevent.LogsTable))
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", logevent.LogsTable, err)
	}
	for i, c := range logevent.Columns {
		if err := b.Column(i).Append(column(c, events, order)); err != nil {
			_ = b.Abort()
			return fmt.Errorf("append column %s of %d rows: %w", c.Name, len(order), errEncode{err})
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(order), logevent.LogsTable, err)
	}
	return nil
}

// column gathers column c of events[order...] into one typed slice. RawJSON
// payloads are passed as strings that share the events' memory (no copy);
// the events outlive the insert.
func column(c logevent.Column, events []logevent.Event, order []int) any {
	switch c.Kind {
	case logevent.KindString:
		return gather(events, order, func(e *logevent.Event) string { return *c.Dest(e).(*string) })
	case logevent.KindRaw:
		return gather(events, order, func(e *logevent.Event) string {
			r := *c.Dest(e).(*logevent.RawJSON)
			return unsafe.String(unsafe.SliceData(r), len(r))
		})
	case logevent.KindTime:
		return gather(events, order, func(e *logevent.Event) uint64 { return uint64(*c.Dest(e).(*logevent.Millis)) })
	case logevent.KindUInt8:
		return gather(events, order, func(e *logevent.Event) uint8 { return *c.Dest(e).(*uint8) })
	case logevent.KindUInt16:
		return gather(events, order, func(e *logevent.Event) uint16 { return *c.Dest(e).(*uint16) })
	case logevent.KindUInt32:
		return gather(events, order, func(e *logevent.Event) uint32 { return *c.Dest(e).(*uint32) })
	case logevent.KindFloat64:
		return gather(events, order, func(e *logevent.Event) float64 { return *c.Dest(e).(*float64) })
	case logevent.KindStrings:
		return gather(events, order, func(e *logevent.Event) []string {
			if v := *c.Dest(e).(*[]string); v != nil {
				return v
			}
			return []string{}
		})
	}
	panic(fmt.Sprintf("sink: column %s has unknown kind %d", c.Name, c.Kind))
}

func gather[T any](events []logevent.Event, order []int, get func(*logevent.Event) T) []T {
	out := make([]T, len(order))
	for i, j := range order {
		out[i] = get(&events[j])
	}
	return out
}

// InsertFeedback writes feedback rows in one batch INSERT.
func (s *ClickHouse) InsertFeedback(ctx context.Context, rows []feedback.Feedback) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(syncCtx(ctx), feedback.InsertSQL())
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", feedback.Table, err)
	}
	for i := range rows {
		if err := b.Append(rows[i].Row()...); err != nil {
			_ = b.Abort()
			return fmt.Errorf("append feedback %s: %w", rows[i].ID, errEncode{err})
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), feedback.Table, err)
	}
	return nil
}

// InsertMarks records the last offset written per partition. Call it only
// after the rows up to those offsets are in ClickHouse.
func (s *ClickHouse) InsertMarks(ctx context.Context, marks []Mark) error {
	if len(marks) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(syncCtx(ctx), "INSERT INTO "+OffsetsTable+" (topic, partition, generation, offset, updated_at)")
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", OffsetsTable, err)
	}
	now := time.Now()
	for _, m := range marks {
		if err := b.Append(m.Topic, uint32(m.Partition), m.Generation, m.Offset, now); err != nil {
			_ = b.Abort()
			return fmt.Errorf("append watermark %s/%d: %w", m.Topic, m.Partition, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d watermarks into %s: %w", len(marks), OffsetsTable, err)
	}
	return nil
}

// Watermark is the highest offset of a partition recorded as written in its
// latest generation, and when it was recorded (by the writer's clock).
// Offset is -1 when none is.
type Watermark struct {
	Generation uint32
	Offset     int64
	UpdatedAt  time.Time
}

// Mark returns the watermark of topic/partition: the highest offset of its
// highest generation.
func (s *ClickHouse) Mark(ctx context.Context, topic string, partition int) (Watermark, error) {
	rows, err := s.conn.Query(ctx, "SELECT generation, offset, updated_at FROM "+OffsetsTable+
		" WHERE topic = ? AND partition = ? ORDER BY generation DESC, offset DESC LIMIT 1", topic, uint32(partition))
	if err != nil {
		return Watermark{}, fmt.Errorf("read watermark of %s/%d: %w", topic, partition, err)
	}
	defer rows.Close()
	w := Watermark{Offset: -1}
	if rows.Next() {
		if err := rows.Scan(&w.Generation, &w.Offset, &w.UpdatedAt); err != nil {
			return Watermark{}, fmt.Errorf("read watermark of %s/%d: %w", topic, partition, err)
		}
	}
	if err := rows.Err(); err != nil {
		return Watermark{}, fmt.Errorf("read watermark of %s/%d: %w", topic, partition, err)
	}
	return w, nil
}

// Ping checks the server answers.
func (s *ClickHouse) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping clickhouse: %w", err)
	}
	return nil
}
