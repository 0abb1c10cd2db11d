// Package migrate applies the numbered ClickHouse migrations embedded from
// schemas/clickhouse, in order, each once. Every statement is itself
// idempotent (IF NOT EXISTS), so a crash between a statement and its record,
// or two services migrating at once, is harmless.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/schemas"
)

// Variants of the schema.
const (
	Single  = "single"  // one server: MergeTree family tables
	Cluster = "cluster" // Replicated tables behind Distributed ones
)

// Migration is one numbered file.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Load returns the migrations of variant in version order.
func Load(variant string) ([]Migration, error) {
	dir := "clickhouse/" + variant
	files, err := fs.Glob(schemas.FS, dir+"/*.sql")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no migrations for variant %q", variant)
	}
	var out []Migration
	for _, f := range files {
		base := path.Base(f)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number, e.g. 0001_logs.sql", f)
		}
		raw, err := fs.ReadFile(schemas.FS, f)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, Statements: split(string(raw))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// split cuts a file into statements at semicolons ending a line, dropping
// comment lines.
func split(sql string) []string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for _, s := range strings.Split(b.String(), ";\n") {
		if s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Apply runs every migration of variant not yet recorded in schema_migrations
// of conn's database.
//
// The cluster variant runs on any node of a cluster whose servers define the
// {cluster}, {shard} and {replica} macros ({replica} unique in the whole
// cluster): its statements are ON CLUSTER DDL, and schema_migrations is one
// table replicated to every node, so every node knows what is applied.
func Apply(ctx context.Context, conn driver.Conn, variant string, log *slog.Logger) error {
	return ApplyUpTo(ctx, conn, variant, 0, log)
}

// ApplyUpTo is Apply stopping after version last (0: no limit), which
// upgrade tests use to build a database as an older release left it.
func ApplyUpTo(ctx context.Context, conn driver.Conn, variant string, last int, log *slog.Logger) error {
	if variant == "" {
		variant = Single // the zero value of a configuration: one server
	}
	ms, err := Load(variant)
	if err != nil {
		return err
	}
	create := `CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, applied_at DateTime) ENGINE = MergeTree ORDER BY version`
	if variant == Cluster {
		var db string
		if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
			return fmt.Errorf("read the current database: %w", err)
		}
		create = "CREATE TABLE IF NOT EXISTS `" + db + "`.schema_migrations ON CLUSTER '{cluster}'" + `
(version UInt32, name String, applied_at DateTime)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{replica}') ORDER BY version`
		for i := range ms {
			for j, st := range ms[i].Statements {
				ms[i].Statements[j] = Qualify(st, db)
			}
		}
	}
	if err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[int(v)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] || (last > 0 && m.Version > last) {
			continue
		}
		for i, s := range m.Statements {
			if err := conn.Exec(ctx, s); err != nil {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		if err := record(ctx, conn, m); err != nil {
			return fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		log.Info("migration applied", "version", m.Version, "name", m.Name)
	}
	return nil
}

// onClusterTable is a table named right before ON CLUSTER, without a database.
var onClusterTable = regexp.MustCompile(`(?i)(\bTABLE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s+ON\s+CLUSTER\b)`)

// asTable is the model table of CREATE TABLE ... AS t ENGINE = ...
var asTable = regexp.MustCompile(`(?i)(\bAS\s+)([A-Za-z_][A-Za-z0-9_]*)(\s+ENGINE\b)`)

// renameTables is the list of RENAME TABLE a TO b, c TO d ON CLUSTER ...
var renameTables = regexp.MustCompile(`(?is)^(\s*RENAME\s+TABLE\s+)(.*?)(\s+ON\s+CLUSTER\b.*)$`)

// renamePair is one "a TO b" of a RENAME list.
var renamePair = regexp.MustCompile(`(?i)^\s*([A-Za-z_][A-Za-z0-9_]*)\s+TO\s+([A-Za-z_][A-Za-z0-9_]*)\s*$`)

// Qualify names database db in an ON CLUSTER statement wherever it names a
// table without one, and replaces currentDatabase() by db. Each node runs
// distributed DDL in its own default database (ClickHouse 18.16 qualifies
// only the created table), so "AS logs_local" or a Distributed table over
// currentDatabase() would otherwise point at the default database there.
// Statements without ON CLUSTER are returned unchanged.
func Qualify(stmt, db string) string {
	if !strings.Contains(strings.ToUpper(stmt), " ON CLUSTER") {
		return stmt
	}
	q := "`" + db + "`."
	if m := renameTables.FindStringSubmatch(stmt); m != nil {
		pairs := strings.Split(m[2], ",")
		for i, p := range pairs {
			if pm := renamePair.FindStringSubmatch(p); pm != nil {
				pairs[i] = " " + q + pm[1] + " TO " + q + pm[2]
			}
		}
		return m[1] + strings.TrimSpace(strings.Join(pairs, ",")) + m[3]
	}
	stmt = onClusterTable.ReplaceAllString(stmt, "${1}"+q+"${2}${3}")
	stmt = asTable.ReplaceAllString(stmt, "${1}"+q+"${2}${3}")
	return strings.ReplaceAll(stmt, "currentDatabase()", "'"+db+"'")
}

func record(ctx context.Context, conn driver.Conn, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		return err
	}
	if err := b.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}
