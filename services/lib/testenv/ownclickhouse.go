package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/chconn"
	"logpipe/lib/migrate"
)

// OwnClickHouse is a real ClickHouse server of one test's own, started by
// scripts/stack.sh in a private directory on free ports, so a fault test can
// kill and restart it without disturbing other tests.
type OwnClickHouse struct {
	t    testing.TB
	root string
	dir  string
	env  []string
	// Addr is the native protocol address.
	Addr string
}

// StartOwnClickHouse starts a private ClickHouse (a few seconds) and removes
// it when the test ends.
func StartOwnClickHouse(t testing.TB) *OwnClickHouse {
	t.Helper()
	port, http, inter := FreeAddr(t), FreeAddr(t), FreeAddr(t)
	portOf := func(a string) string { return a[strings.LastIndexByte(a, ':')+1:] }
	c := &OwnClickHouse{t: t, root: RepoRoot(t), dir: t.TempDir(), Addr: port}
	c.env = append(os.Environ(),
		"LOGPIPE_STACK_DIR="+c.dir,
		"LOGPIPE_STACK_SERVICES=clickhouse",
		"LOGPIPE_CH_PORT="+portOf(port),
		"LOGPIPE_CH_HTTP_PORT="+portOf(http),
		"LOGPIPE_CH_INTERSERVER_PORT="+portOf(inter),
	)
	t.Cleanup(func() { c.run("down") })
	c.Start()
	return c
}

// Start starts (or restarts) the server and waits until it answers.
func (c *OwnClickHouse) Start() { c.t.Helper(); c.run("up") }

// Stop stops the server gracefully; its data stays for the next Start.
func (c *OwnClickHouse) Stop() { c.t.Helper(); c.run("down") }

// Kill kills the server with SIGKILL (a crash: in-flight inserts are cut
// off) and waits until it is gone; its data stays for the next Start.
func (c *OwnClickHouse) Kill() {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "clickhouse.pid"))
	if err != nil {
		c.t.Fatalf("own clickhouse: read pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatalf("own clickhouse: bad pid file: %q", b)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("own clickhouse: kill %d: %v", pid, err)
	}
	for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// Database creates a fresh, migrated database on the server and returns
// its config and a connection to it.
func (c *OwnClickHouse) Database() (chconn.Config, driver.Conn) {
	c.t.Helper()
	cfg := chconn.Config{Addr: c.Addr, Database: Name("t"), User: "default"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := chconn.Open(ctx, cfg, true)
	if err != nil {
		c.t.Fatalf("own clickhouse: %v", err)
	}
	if err := migrate.Apply(ctx, conn, migrate.Single, Logger()); err != nil {
		c.t.Fatalf("own clickhouse: migrate: %v", err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return cfg, conn
}

func (c *OwnClickHouse) run(cmd string) {
	c.t.Helper()
	x := exec.Command(filepath.Join(c.root, "scripts", "stack.sh"), cmd)
	x.Env = c.env
	if out, err := x.CombinedOutput(); err != nil {
		c.t.Fatalf("scripts/stack.sh %s (own clickhouse): %v\n%s", cmd, err, out)
	}
}
