package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.work).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.work) not found above the test directory")
		}
		dir = parent
	}
}

// OwnKafka is a real Kafka broker of one test's own, started by
// scripts/stack.sh in a private directory on free ports, so a fault test can
// stop and restart it without disturbing other tests.
type OwnKafka struct {
	t       testing.TB
	root    string
	env     []string
	Brokers []string
}

// StartOwnKafka starts a private single-node Kafka (about 5 s) with the
// default topics and removes it when the test ends.
func StartOwnKafka(t testing.TB) *OwnKafka {
	t.Helper()
	port := FreeAddr(t)
	ctrl := FreeAddr(t)
	k := &OwnKafka{t: t, root: RepoRoot(t)}
	k.env = append(os.Environ(),
		"LOGPIPE_STACK_DIR="+t.TempDir(),
		"LOGPIPE_STACK_SERVICES=kafka",
		"LOGPIPE_KAFKA_PORT="+port[strings.LastIndexByte(port, ':')+1:],
		"LOGPIPE_KAFKA_CONTROLLER_PORT="+ctrl[strings.LastIndexByte(ctrl, ':')+1:],
		"LOGPIPE_KAFKA_HEAP_OPTS=-Xms256m -Xmx256m",
		"LOGPIPE_TOPIC_PARTITIONS="+strconv.Itoa(3),
	)
	k.Brokers = []string{port}
	t.Cleanup(func() { k.run("down") })
	k.Start()
	return k
}

// Start starts (or restarts) the broker and waits until it is ready.
func (k *OwnKafka) Start() { k.t.Helper(); k.run("up") }

// Stop stops the broker; its data stays for the next Start.
func (k *OwnKafka) Stop() { k.t.Helper(); k.run("down") }

func (k *OwnKafka) run(cmd string) {
	k.t.Helper()
	c := exec.Command(filepath.Join(k.root, "scripts", "stack.sh"), cmd)
	c.Env = k.env
	if out, err := c.CombinedOutput(); err != nil {
		k.t.Fatalf("scripts/stack.sh %s (own kafka): %v\n%s", cmd, err, out)
	}
}
