package retention

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/chconn"
	"logpipe/lib/logevent"
	"logpipe/lib/testenv"
)

func TestParsePartitionAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		part    string
		expired bool
	}{
		{"(3,20261118)", true},   // ended 19 Nov 00:00, more than 3 days before now
		{"(3,20261119)", false},  // ends 20 Nov 00:00; rows of 19 Nov 10:00+ are younger than 3 days
		{"(30,20261022)", true},  // ends 23 Oct
		{"(30,20261023)", false}, // ends 24 Oct
		{"(0,20251120)", true},   // tier 0 takes the 365-day default
		{"(0,20251122)", false},
	} {
		p, err := ParsePartition(c.part)
		if err != nil {
			t.Fatalf("ParsePartition(%q): %v", c.part, err)
		}
		if got := p.Expired(now, 365); got != c.expired {
			t.Errorf("%s expired = %v; want %v", c.part, got, c.expired)
		}
	}
	for _, bad := range []string{"", "20261118", "(x,20261118)", "(3,2026-11-18)", "(3)"} {
		if _, err := ParsePartition(bad); err == nil {
			t.Errorf("ParsePartition(%q) accepted it; want an error", bad)
		}
	}
}

// On the cluster profile (LOGPIPE_SCHEMA_VARIANT=cluster) the same test runs
// against the Distributed tables, with rows of several workspaces so both
// shards hold expired partitions, and checks every replica's local table.
func TestDropsExpiredPartitionsOnly(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	now := time.Now()
	b, err := conn.PrepareBatch(ctx, logevent.InsertSQL(logevent.LogsTable))
	if err != nil {
		t.Fatal(err)
	}
	add := func(id string, age time.Duration, tier uint16) {
		for _, ws := range []string{"ws", "ws-b", "ws-c", "ws-d"} {
			e := logevent.New()
			e.ID, e.WorkspaceID, e.CreatedAt, e.RetentionDays = id, ws, logevent.MillisOf(now.Add(-age)), tier
			if err := b.Append(e.Row()...); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("dev-old", 5*24*time.Hour, 3)
	add("dev-new", time.Hour, 3)
	add("prod-old", 40*24*time.Hour, 30)
	add("prod-mid", 5*24*time.Hour, 30)
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	j := New(conn, Options{Tables: []string{logevent.LogsTable}, Cluster: cfg.Cluster()}, testenv.Logger(), reg)
	n, err := j.Once(ctx)
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	if n != 2 {
		t.Errorf("dropped %d partitions; want 2", n)
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT id FROM logs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) != 2 || ids[0] != "dev-new" || ids[1] != "prod-mid" {
		t.Errorf("left %v; want [dev-new prod-mid]", ids)
	}
	if !cfg.Cluster() {
		return
	}
	// Every replica of every shard, once replication has carried the drops.
	for _, addr := range cfg.Addrs() {
		node := cfg
		node.Addr = addr
		c, err := chconn.Open(ctx, node, false)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var old uint64
			if err := c.QueryRow(ctx, "SELECT count() FROM logs_local WHERE id LIKE '%-old'").Scan(&old); err != nil {
				t.Fatal(err)
			}
			if old == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("node %s still holds %d expired rows in logs_local", addr, old)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.Close()
	}
}
