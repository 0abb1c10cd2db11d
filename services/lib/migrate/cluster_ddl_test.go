package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/chconn"
	"logpipe/lib/migrate"
	"logpipe/lib/testenv"
)

// The cluster variant's DDL is valid on current ClickHouse: every statement,
// with ON CLUSTER stripped, runs on the test server of the 26 engine (its
// config has ClickHouse's in-process test keeper and the {cluster}, {shard},
// {replica} macros; clickhouse-local refuses distributed DDL), and every
// table it creates has the columns and types of its single-node twin. The
// 18.16 test server has no Keeper: there the test is skipped.
func TestClusterVariantDDLIsValidOnCurrentClickHouse(t *testing.T) {
	cfg, conn := testenv.ClickHouse(t) // a database with the single-node schema
	ctx := context.Background()
	v, err := conn.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Version.Major < 20 {
		t.Skipf("ClickHouse %d.%d has no Keeper here; the cluster DDL is checked on the 26 engine", v.Version.Major, v.Version.Minor)
	}
	ccfg := cfg
	ccfg.Database = testenv.Name("c")
	cconn, err := chconn.Open(ctx, ccfg, true) // the statements run in the current database
	if err != nil {
		t.Fatal(err)
	}
	cluster := ccfg.Database
	t.Cleanup(func() {
		_ = cconn.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+cluster+"` SYNC")
		cconn.Close()
	})

	ms, err := migrate.Load(migrate.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, m := range ms {
		for i, s := range m.Statements {
			local := strings.ReplaceAll(s, " ON CLUSTER '{cluster}'", "")
			if local == s && strings.HasPrefix(strings.ToUpper(s), "CREATE") {
				t.Errorf("%s statement %d: a CREATE without ON CLUSTER '{cluster}'", m.Name, i+1)
			}
			if err := cconn.Exec(ctx, local); err != nil {
				t.Errorf("%s statement %d: %v\n%s", m.Name, i+1, err, local)
			}
			ran++
		}
	}
	if ran == 0 {
		t.Fatal("no cluster statements ran")
	}

	singleCols, clusterCols := columnsOf(t, conn, cfg.Database), columnsOf(t, conn, cluster)
	for table, cols := range singleCols {
		if table == "schema_migrations" {
			continue
		}
		for _, name := range []string{table, table + "_local"} {
			if got := clusterCols[name]; got != cols {
				t.Errorf("cluster table %s: columns\n  %s\nwant those of the single-node %s\n  %s", name, got, table, cols)
			}
		}
	}
	var engines []string
	rows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = ? ORDER BY name", cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			t.Fatal(err)
		}
		engines = append(engines, name+"="+engine)
		want := "Distributed"
		if strings.HasSuffix(name, "_local") {
			want = "Replicated"
		}
		if !strings.HasPrefix(engine, want) {
			t.Errorf("cluster table %s: engine %s; want %s...", name, engine, want)
		}
	}
	t.Logf("cluster variant on ClickHouse %s: %s", v.Version, strings.Join(engines, " "))
}

// columnsOf returns, per table of db, "name type, ..." in column order.
func columnsOf(t *testing.T, conn driver.Conn, db string) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT table, name, type FROM system.columns WHERE database = ? ORDER BY table, position", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			t.Fatal(err)
		}
		if out[table] != "" {
			out[table] += ", "
		}
		out[table] += fmt.Sprintf("%s %s", name, typ)
	}
	return out
}
