// Package testenv connects integration tests to the real ClickHouse and Kafka
// that `make test` starts (scripts/test.sh, on their own ports and data dir).
// Each test gets its own database and its own topics, dropped when it ends, so
// tests run in parallel and never touch a running `make up` stack.
//
// The servers are named by LOGPIPE_TEST_CLICKHOUSE_ADDR and
// LOGPIPE_TEST_KAFKA_BROKERS; a test fails loudly when they are missing.
// Against the cluster profile (scripts/test-cluster.sh) the ClickHouse address
// is a list of the cluster's nodes, LOGPIPE_SCHEMA_VARIANT=cluster makes every
// test database (and the services the tests start) use the cluster schema, and
// LOGPIPE_TEST_KAFKA_REPLICATION=3 replicates test topics (min.insync.replicas 2).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"logpipe/lib/chconn"
	"logpipe/lib/migrate"
)

// Environment variables naming the test servers.
const (
	EnvClickHouse  = "LOGPIPE_TEST_CLICKHOUSE_ADDR"
	EnvKafka       = "LOGPIPE_TEST_KAFKA_BROKERS"
	EnvVariant     = "LOGPIPE_SCHEMA_VARIANT"
	EnvReplication = "LOGPIPE_TEST_KAFKA_REPLICATION"
)

// Variant returns the schema variant of the test servers: migrate.Cluster
// when LOGPIPE_SCHEMA_VARIANT says so, migrate.Single otherwise.
func Variant() string {
	if os.Getenv(EnvVariant) == migrate.Cluster {
		return migrate.Cluster
	}
	return migrate.Single
}

// replication returns the replication factor of test topics (default 1).
func replication() int {
	n, err := strconv.Atoi(os.Getenv(EnvReplication))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func need(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Fatalf("%s is not set: integration tests need the real servers; run them with `make test` (scripts/test.sh starts ClickHouse and Kafka)", env)
	}
	return v
}

// Name returns a unique lower-case name with prefix, usable as a database or topic.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// ClickHouseAddr returns the test ClickHouse native address.
func ClickHouseAddr(t testing.TB) string { return need(t, EnvClickHouse) }

// KafkaBrokers returns the test Kafka bootstrap brokers.
func KafkaBrokers(t testing.TB) []string { return strings.Split(need(t, EnvKafka), ",") }

// Logger returns a logger that discards output unless LOGPIPE_TEST_LOG=1.
func Logger() *slog.Logger {
	if os.Getenv("LOGPIPE_TEST_LOG") == "1" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// ClickHouse creates a fresh, migrated database and returns its config and a
// connection to it; the database is dropped when the test ends.
func ClickHouse(t testing.TB) (chconn.Config, driver.Conn) {
	t.Helper()
	cfg := chconn.Config{Addr: ClickHouseAddr(t), Database: Name("t"), User: "default", Variant: Variant()}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := chconn.Open(ctx, cfg, true)
	if err != nil {
		t.Fatalf("test ClickHouse: %v", err)
	}
	if err := migrate.Apply(ctx, conn, cfg.Variant, Logger()); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("LOGPIPE_TEST_KEEP") != "1" {
			q := "DROP DATABASE IF EXISTS `" + cfg.Database + "`"
			if cfg.Cluster() {
				q += " ON CLUSTER '{cluster}'"
			}
			_ = conn.Exec(context.Background(), q)
		}
		conn.Close()
	})
	return cfg, conn
}

// Topic creates a fresh topic with partitions on the test Kafka and deletes
// it when the test ends.
func Topic(t testing.TB, prefix string, partitions int) string {
	t.Helper()
	brokers := KafkaBrokers(t)
	name := Name(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 20 * time.Second}
	tc := kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: replication()}
	if tc.ReplicationFactor > 1 {
		tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: "2"}}
	}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if err := res.Errors[name]; err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	waitTopic(t, brokers[0], name, partitions)
	t.Cleanup(func() {
		_, _ = c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{name}})
	})
	return name
}

// waitTopic waits until every partition of topic has a leader.
func waitTopic(t testing.TB, broker, topic string, partitions int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := kafka.Dial("tcp", broker)
		if err == nil {
			ps, err := conn.ReadPartitions(topic)
			conn.Close()
			ok := err == nil && len(ps) == partitions
			for _, p := range ps {
				ok = ok && p.Leader.ID >= 0 && p.Leader.Host != ""
			}
			if ok {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("topic %s: partitions have no leader after 20s", topic)
}

// FreeAddr returns a free loopback address for a test server.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
