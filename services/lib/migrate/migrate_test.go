package migrate_test

import (
	"context"
	"strings"
	"testing"

	"logpipe/lib/logevent"
	"logpipe/lib/migrate"
	"logpipe/lib/testenv"
)

// The drift guard against the real server: after migrating, the logs table
// has exactly the column table's columns and types, and migrating again is a
// no-op.
func TestMigratedLogsTableMatchesColumnTable(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	if err := migrate.Apply(ctx, conn, migrate.Single, testenv.Logger()); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	rows, err := conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", cfg.Database, logevent.LogsTable)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		got[name] = typ
	}
	if len(got) != len(logevent.Columns) {
		t.Errorf("server has %d columns; the column table %d", len(got), len(logevent.Columns))
	}
	for _, c := range logevent.Columns {
		if got[c.Name] != c.Kind.ClickHouseType() {
			t.Errorf("column %s: server type %q; want %q", c.Name, got[c.Name], c.Kind.ClickHouseType())
		}
	}
	var versions uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM schema_migrations").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrate.Load(migrate.Single)
	if int(versions) != len(ms) {
		t.Errorf("schema_migrations has %d rows after two applies; want %d", versions, len(ms))
	}
}

// A row written with InsertSQL and Row reads back equal through SelectList and Dests.
func TestInsertAndSelectRoundTrip(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	e := logevent.New()
	e.ID, e.WorkspaceID, e.OrganisationID, e.CreatedAt = logevent.NewID(), "ws", "org", 1763805845123
	e.RequestBody = logevent.RawJSON(`{"prompt":"héllo ✓"}`)
	e.AIModel, e.Cost, e.TotalUnits, e.RetentionDays = "gpt-4o", 1.25, 42, 30
	e.MetadataKey, e.MetadataValue = []string{"env", "_user"}, []string{"prod", "alice"}
	b, err := conn.PrepareBatch(ctx, logevent.InsertSQL(logevent.LogsTable))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(e.Row()...); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	var got logevent.Event
	if err := conn.QueryRow(ctx, "SELECT "+logevent.SelectList(logevent.Columns)+" FROM logs WHERE id = ?", e.ID).
		Scan(got.Dests(logevent.Columns)...); err != nil {
		t.Fatal(err)
	}
	want, _ := logevent.Encode(&e)
	have, _ := logevent.Encode(&got)
	if string(want) != string(have) {
		t.Errorf("round trip\n got %s\nwant %s", have, want)
	}
}

func TestLoadClusterVariant(t *testing.T) {
	single, err := migrate.Load(migrate.Single)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := migrate.Load(migrate.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	if len(single) != len(cluster) {
		t.Fatalf("single has %d migrations, cluster %d: every migration needs its cluster variant", len(single), len(cluster))
	}
	for i := range single {
		if single[i].Name != cluster[i].Name {
			t.Errorf("migration %d: single %s, cluster %s", i, single[i].Name, cluster[i].Name)
		}
	}
}

// Each cluster migration creates the same columns as its single-node twin:
// the column lists of the first CREATE TABLE of each file are equal.
func TestClusterVariantHasTheSameColumns(t *testing.T) {
	single, _ := migrate.Load(migrate.Single)
	cluster, _ := migrate.Load(migrate.Cluster)
	columns := func(stmt string) string {
		start, end := strings.Index(stmt, "("), strings.Index(stmt, "ENGINE")
		if start < 0 || end < start {
			return ""
		}
		return strings.Join(strings.Fields(stmt[start:end]), " ")
	}
	for i := range min(len(single), len(cluster)) {
		if strings.Contains(strings.SplitN(single[i].Statements[0], "ENGINE", 2)[0], " AS ") {
			continue // CREATE TABLE ... AS another table: the columns are that table's
		}
		s, c := columns(single[i].Statements[0]), columns(cluster[i].Statements[0])
		if s == "" || s != c {
			t.Errorf("%s: the cluster variant's columns differ from the single-node ones\nsingle:  %s\ncluster: %s", single[i].Name, s, c)
		}
	}
}

// Qualify names the database in every table reference of an ON CLUSTER
// statement (ClickHouse 18.16 runs them in each node's default database).
func TestQualify(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS logs_local ON CLUSTER '{cluster}' (id String) ENGINE = MergeTree ORDER BY id",
			"CREATE TABLE IF NOT EXISTS `db`.logs_local ON CLUSTER '{cluster}' (id String) ENGINE = MergeTree ORDER BY id"},
		{"CREATE TABLE IF NOT EXISTS logs ON CLUSTER '{cluster}' AS logs_local\nENGINE = Distributed('{cluster}', currentDatabase(), logs_local, rand())",
			"CREATE TABLE IF NOT EXISTS `db`.logs ON CLUSTER '{cluster}' AS `db`.logs_local\nENGINE = Distributed('{cluster}', 'db', logs_local, rand())"},
		{"DROP TABLE IF EXISTS logs_v5 ON CLUSTER '{cluster}'", "DROP TABLE IF EXISTS `db`.logs_v5 ON CLUSTER '{cluster}'"},
		{"RENAME TABLE logs_local TO logs_local_v5, logs_local_v6 TO logs_local ON CLUSTER '{cluster}'",
			"RENAME TABLE `db`.logs_local TO `db`.logs_local_v5, `db`.logs_local_v6 TO `db`.logs_local ON CLUSTER '{cluster}'"},
		{"INSERT INTO logs_v6 SELECT * FROM logs", "INSERT INTO logs_v6 SELECT * FROM logs"},
	} {
		if got := migrate.Qualify(c.in, "db"); got != c.want {
			t.Errorf("Qualify(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
