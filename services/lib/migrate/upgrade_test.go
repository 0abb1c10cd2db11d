package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"logpipe/lib/chconn"
	"logpipe/lib/migrate"
	"logpipe/lib/testenv"
)

// A database as release 0005 left it upgrades in place: every row of logs,
// feedback and export_jobs survives 0006, which puts the organisation first
// in every ordering key; running 0006 again (a crash before it was recorded)
// loses nothing and doubles nothing. On the cluster profile
// (LOGPIPE_SCHEMA_VARIANT=cluster) the same holds for the cluster variant,
// whose local tables carry the new keys.
func TestUpgradeToTenantKeysKeepsRows(t *testing.T) {
	ctx := context.Background()
	cfg := chconn.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.Name("up"), User: "default", Variant: testenv.Variant()}
	conn, err := chconn.Open(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q := "DROP DATABASE IF EXISTS `" + cfg.Database + "`"
		if cfg.Cluster() {
			q += " ON CLUSTER '{cluster}'"
		}
		_ = conn.Exec(context.Background(), q)
		conn.Close()
	})
	if err := migrate.ApplyUpTo(ctx, conn, cfg.Variant, 5, testenv.Logger()); err != nil {
		t.Fatal(err)
	}
	// Two organisations with a workspace and a log id in common.
	for _, org := range []string{"acme", "globex"} {
		exec(t, conn, fmt.Sprintf("INSERT INTO logs (id, organisation_id, workspace_id, created_at, retention_days) SELECT concat('log-', toString(number)), '%s', 'prod', 1763805845000 + number, 30 FROM system.numbers LIMIT 1000", org))
		exec(t, conn, fmt.Sprintf("INSERT INTO feedback (id, organisation_id, workspace_id, trace_id, value, created_at, updated_at, retention_days) SELECT 'fb-1', '%s', 'prod', 'tr-1', 5, 1763805845000, 1763805845000, 30", org))
		exec(t, conn, fmt.Sprintf("INSERT INTO export_jobs (id, organisation_id, workspace_id, status, version) SELECT 'exp-1', '%s', 'prod', 'draft', 1", org))
	}
	if err := migrate.Apply(ctx, conn, cfg.Variant, testenv.Logger()); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	keyed := func(table string) string {
		if cfg.Cluster() {
			return table + "_local" // the Distributed table has no key of its own
		}
		return table
	}
	check := func(when string) {
		t.Helper()
		for table, want := range map[string]uint64{"logs": 2000, "feedback": 2, "export_jobs": 2} {
			var n uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM "+table+" FINAL").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s: %s has %d rows; want %d", when, table, n, want)
			}
			var key string
			if err := conn.QueryRow(ctx, "SELECT sorting_key FROM system.tables WHERE database = ? AND name = ?", cfg.Database, keyed(table)).Scan(&key); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(strings.ReplaceAll(key, " ", ""), "organisation_id,workspace_id,") {
				t.Errorf("%s: %s is ordered by %q; want organisation_id, workspace_id first", when, table, key)
			}
		}
	}
	check("after the upgrade")
	if cfg.Cluster() {
		// Not on a cluster: once 0006 has renamed logs_local_v6 to
		// logs_local, that table holds the ZooKeeper path
		// .../logs_local_v6, so the file's first CREATE of a new
		// logs_local_v6 finds its replica path taken (REPLICA_IS_ALREADY_EXIST).
		// A crash between that RENAME and the record of version 6 needs the
		// remaining statements run by hand.
		return
	}
	ms, _ := migrate.Load(cfg.Variant)
	for _, m := range ms {
		if m.Version != 6 {
			continue
		}
		for i, s := range m.Statements {
			if cfg.Cluster() {
				s = migrate.Qualify(s, cfg.Database)
			}
			if err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("rerun of %s statement %d: %v", m.Name, i+1, err)
			}
		}
	}
	check("after running the upgrade again")
}

func exec(t *testing.T, conn interface {
	Exec(context.Context, string, ...any) error
}, q string) {
	t.Helper()
	if err := conn.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
