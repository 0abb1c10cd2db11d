package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"logpipe/lib/logevent"
	"logpipe/lib/testenv"
)

// A retried event without created_at is stamped with another arrival time by
// ingest; whatever its id — random, UUIDv4, UUIDv5, ULID, UUIDv7 — it is
// visible once: in the same batch, in a later batch, in another retention
// tier, and next to a log of another tenant with the same id.
func TestAnyIDKindIsWrittenOnce(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	s := New(conn, 2)
	random := func() string { var b [12]byte; _, _ = rand.Read(b[:]); return hex.EncodeToString(b[:]) }
	ulid := func() string { // 26 Crockford base32 characters, time first
		const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
		var b [26]byte
		var r [26]byte
		_, _ = rand.Read(r[:])
		for i := range b {
			b[i] = alphabet[int(r[i])%32]
		}
		return string(b[:])
	}
	kinds := map[string]func() string{
		"random": random,
		"uuidv4": func() string { return uuid.NewString() },
		"uuidv5": func() string { return uuid.NewSHA1(uuid.NameSpaceURL, []byte(random())).String() },
		"ulid":   ulid,
		"uuidv7": logevent.NewID,
	}
	now := time.Now()
	var first, retry []logevent.Event
	want := 0
	for kind, gen := range kinds {
		for i := 0; i < 50; i++ {
			id := gen()
			for _, org := range []string{"acme", "globex"} { // the same id in two tenants: two logs
				e := logevent.New()
				e.ID, e.OrganisationID, e.WorkspaceID, e.RetentionDays = id, org, "prod", 30
				if t, ok := logevent.IDTime(id); ok {
					e.CreatedAt = t // what ingest does for a UUIDv7
				} else {
					e.CreatedAt = logevent.MillisOf(now.Add(-time.Duration(i) * time.Second))
				}
				e.AIModel = kind
				first = append(first, e)
				r := e
				if _, ok := logevent.IDTime(id); !ok {
					r.CreatedAt += logevent.Millis(1000 + i) // re-stamped on retry
				}
				if i%10 == 0 {
					r.RetentionDays = 3 // the plan changed between the copies
				}
				retry = append(retry, r)
				want++
			}
		}
	}
	// One batch holding a copy twice, then the retries in a batch of their own.
	batch := append(append([]logevent.Event{}, first...), retry[:20]...)
	if err := s.InsertLogs(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLogs(ctx, retry); err != nil {
		t.Fatal(err)
	}
	var rows, logs uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(organisation_id, workspace_id, id) FROM logs FINAL").Scan(&rows, &logs); err != nil {
		t.Fatal(err)
	}
	if logs != uint64(want) || rows != uint64(want) {
		t.Fatalf("after retries: %d rows of %d logs; want %d of %d", rows, logs, want, want)
	}
	var perKind []struct {
		Model string
		N     uint64
	}
	r, err := conn.Query(ctx, "SELECT ai_model, count() FROM logs FINAL GROUP BY ai_model")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var m string
		var n uint64
		if err := r.Scan(&m, &n); err != nil {
			t.Fatal(err)
		}
		perKind = append(perKind, struct {
			Model string
			N     uint64
		}{m, n})
		if n != 100 {
			t.Errorf("%s ids: %d logs; want 100", m, n)
		}
	}
	if len(perKind) != len(kinds) {
		t.Errorf("kinds seen: %v", perKind)
	}
	_ = fmt.Sprint
}
