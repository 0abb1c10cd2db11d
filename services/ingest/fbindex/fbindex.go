// Package fbindex tells ingest whether a feedback id exists within a tenant,
// so that updating a feedback that never existed answers 404. It reads the
// feedback table in ClickHouse, scoped by tenant.Scope, and remembers the
// ids this process published recently: a feedback is in ClickHouse only
// after the consumer's next batch, and a client may update it at once.
package fbindex

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Defaults of Index.
const (
	// Recent is how long a published id is known without ClickHouse.
	Recent = 10 * time.Minute
	// MaxRecent bounds the remembered ids (the oldest are forgotten first).
	MaxRecent = 100_000
	// Young is the age of an ingest-made (UUIDv7) id below which a missing
	// row may still be on its way through Kafka: the lookup is repeated for
	// up to Patience.
	Young    = 15 * time.Second
	Patience = 5 * time.Second
	poll     = 250 * time.Millisecond
)

// Index answers Exists from ClickHouse and the ids published recently.
type Index struct {
	conn driver.Conn
	now  func() time.Time

	mu     sync.Mutex
	recent map[string]time.Time // tenant + id → when published
	order  []string             // keys of recent, oldest first
}

// New returns an Index reading conn.
func New(conn driver.Conn) *Index {
	return &Index{conn: conn, now: time.Now, recent: map[string]time.Time{}}
}

func key(sc tenant.Scope, id string) string {
	return sc.OrganisationID() + "\x00" + sc.WorkspaceID() + "\x00" + id
}

// Remember records ids as published by sc now.
func (x *Index) Remember(sc tenant.Scope, ids []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := x.now()
	for _, id := range ids {
		k := key(sc, id)
		if _, ok := x.recent[k]; !ok {
			x.order = append(x.order, k)
		}
		x.recent[k] = now
	}
	for len(x.order) > MaxRecent || (len(x.order) > 0 && now.Sub(x.recent[x.order[0]]) > Recent) {
		delete(x.recent, x.order[0])
		x.order = x.order[1:]
	}
}

func (x *Index) remembered(sc tenant.Scope, id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.recent[key(sc, id)]
	return ok && x.now().Sub(t) <= Recent
}

// Exists reports whether feedback id exists in sc: published recently by
// this process, or stored in ClickHouse. An id made by ingest less than
// Young ago that is not stored yet is looked up again for up to Patience.
func (x *Index) Exists(ctx context.Context, sc tenant.Scope, id string) (bool, error) {
	if !sc.Valid() {
		return false, tenant.ErrNoScope
	}
	if x.remembered(sc, id) {
		return true, nil
	}
	w, args := sc.Where()
	q := "SELECT count() FROM " + feedback.Table + " WHERE " + w + " AND id = ?"
	args = append(args, id)
	deadline := x.now().Add(Patience)
	for {
		var n uint64
		if err := x.conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			return false, fmt.Errorf("look up feedback %s: %w", id, err)
		}
		if n > 0 {
			return true, nil
		}
		made, isV7 := logevent.IDTime(id)
		if !isV7 || x.now().Sub(made.Time()) > Young || x.now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(poll):
		}
	}
}
