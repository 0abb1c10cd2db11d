// Package chconn opens ClickHouse connections over the native protocol, the
// only one that works with every server we support (18.16 and current).
package chconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/envflag"
)

// Config addresses a ClickHouse server, or the nodes of a cluster.
type Config struct {
	// Addr is host:port of the native protocol (default 127.0.0.1:9000), or a
	// comma-separated list of them: the first that answers is used, the next
	// ones take over when it fails (one node per shard or every replica of a
	// cluster, in the same order for every service).
	Addr string
	// Database is the database the services use (default logpipe).
	Database string
	// User and Password authenticate (default "default", empty).
	User     string
	Password string
	// MaxOpenConns bounds the pool (default 16).
	MaxOpenConns int
	// Variant is the schema variant, migrate.Single or migrate.Cluster
	// (default single): the cluster variant creates the database on every
	// node of the cluster, and the services apply it at start.
	Variant string
}

// Addrs returns the addresses of Addr.
func (c Config) Addrs() []string {
	var out []string
	for _, a := range strings.Split(c.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Cluster reports whether cfg names the cluster variant.
func (c Config) Cluster() bool { return c.Variant == "cluster" }

// Open connects to cfg.Database, creating it first when create is true, and
// pings the server.
func Open(ctx context.Context, cfg Config, create bool) (driver.Conn, error) {
	if create {
		c, err := dial(ctx, cfg, "default")
		if err != nil {
			return nil, err
		}
		q := "CREATE DATABASE IF NOT EXISTS `" + cfg.Database + "`"
		if cfg.Cluster() {
			q += " ON CLUSTER '{cluster}'"
		}
		err = c.Exec(ctx, q)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("create database %s: %w", cfg.Database, err)
		}
	}
	return dial(ctx, cfg, cfg.Database)
}

// OpenWait is Open, tried again while the server cannot be reached (it is
// still starting, or the network is not up yet), waiting 1 s, then twice as
// long each time up to 15 s, and logging each failure, until ctx ends. A
// server that answers with an error (wrong credentials, no such database)
// fails at once: waiting would not change it.
func OpenWait(ctx context.Context, cfg Config, create bool, log *slog.Logger) (driver.Conn, error) {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		conn, err := Open(ctx, cfg, create)
		if err == nil {
			return conn, nil
		}
		var refused *clickhouse.Exception
		if errors.As(err, &refused) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (gave up waiting: %w)", err, ctx.Err())
		}
		log.Warn("ClickHouse not reachable yet; trying again", "addr", cfg.Addr, "attempt", attempt, "in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up waiting: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}

func dial(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	maxOpen := cfg.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = 16
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:         clickhouse.Native,
		Addr:             cfg.Addrs(),
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
		Auth:             clickhouse.Auth{Database: database, Username: cfg.User, Password: cfg.Password},
		DialTimeout:      5 * time.Second,
		MaxOpenConns:     maxOpen,
		MaxIdleConns:     maxOpen,
		Settings:         settings(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s/%s: %w", cfg.Addr, database, err)
	}
	return conn, nil
}

// settings are the session settings of every connection. On a cluster,
// inserts into Distributed tables return only once the rows are on their
// shard, so an acknowledged write (a consumer batch and its watermark, an
// export job's new state, a usage count) is never only queued on the node
// that took it. (The servers' profile should also set load_balancing to
// in_order, so a write and the read after it meet the same replica of each
// shard; 18.16 accepts only numeric settings from this driver.)
func settings(cfg Config) clickhouse.Settings {
	if !cfg.Cluster() {
		return nil
	}
	return clickhouse.Settings{"insert_distributed_sync": 1}
}

// RegisterFlags defines the shared ClickHouse flags on fs, filling cfg.
func RegisterFlags(fs *envflag.Set, cfg *Config) {
	fs.String(&cfg.Addr, "clickhouse-addr", "LOGPIPE_CLICKHOUSE_ADDR", "127.0.0.1:9000", "ClickHouse native protocol address, or a comma-separated failover list")
	fs.String(&cfg.Database, "clickhouse-database", "LOGPIPE_CLICKHOUSE_DATABASE", "logpipe", "ClickHouse database")
	fs.String(&cfg.User, "clickhouse-user", "LOGPIPE_CLICKHOUSE_USER", "default", "ClickHouse user")
	fs.String(&cfg.Password, "clickhouse-password", "LOGPIPE_CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	fs.Int(&cfg.MaxOpenConns, "clickhouse-max-conns", "LOGPIPE_CLICKHOUSE_MAX_CONNS", 16, "ClickHouse connection pool size")
	fs.String(&cfg.Variant, "schema-variant", "LOGPIPE_SCHEMA_VARIANT", "single", "ClickHouse schema variant: single or cluster")
}
